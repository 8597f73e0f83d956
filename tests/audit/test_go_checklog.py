"""hedui's checkpoints, tiles, inclusion and consistency proofs checked by Go's golang.org/x/mod/sumdb/note and tlog.

A real log is built through the running service (two verifications over gRPC), exported and its proofs fetched
over gRPC; tests/audit/go/checklog (a small Go program on Debian's golang-golang-x-mod-dev, built offline in GOPATH
mode) must accept them all, and refuse an export or a proof altered by one byte, a checkpoint under another key and
an export cut short; the log served as C2SP tlog-tiles is read by tlog's TileHashReader, and a tile or an entry
bundle altered on its way (a tampering mirror) is refused. Skipped with the reason when Go or the x/mod sources are
missing, except under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import os
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from audit_tamper import tree_hash
from harness import REPO, UNDER_CI, Harness, example_request

from audit import AuditEvent
from audit.checkpoint import Checkpoint, NoteSigner, open_checkpoint, parse_note, sign_checkpoint, signature_line
from audit.merkle import leaf_hash
from audit.note_sm2 import Sm2NoteSigner
from audit.tiles import Tiles
from consent.sm2 import Sm2PrivateKey
from hedui.v1 import audit_pb2
from verifier.config import Settings
from verifier.observability import TilesEndpoint
from verifier.service import HeduiService
from verifier.storage.db import Database

pytestmark = pytest.mark.integration

SOURCE = REPO / "tests" / "audit" / "go" / "checklog"
GOPATH = Path("/usr/share/gocode")  # Debian's golang-golang-x-mod-dev puts golang.org/x/mod here
X_MOD = GOPATH / "src" / "golang.org" / "x" / "mod" / "sumdb" / "tlog"


def _missing(message: str) -> None:
    if UNDER_CI:
        pytest.fail(message + " — required under CI")
    pytest.skip(message)


@pytest.fixture(scope="module")
def checklog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go program, built once (offline: GOPATH mode over the Debian sources, a private build cache)."""
    go = shutil.which("go")
    if go is None:
        _missing("go not found on PATH (apt-get install golang-go)")
    if not X_MOD.is_dir():
        _missing(f"{X_MOD} not found (apt-get install golang-golang-x-mod-dev)")
    out = tmp_path_factory.mktemp("checklog")
    env = {**os.environ, "GOPATH": str(GOPATH), "GO111MODULE": "off", "GOFLAGS": "", "GOCACHE": str(out / "cache")}
    done = subprocess.run(
        [str(go), "build", "-o", str(out / "checklog"), "."],
        cwd=SOURCE,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out / "checklog"


def run(checklog: Path, vkey: Path, *, export: Path | None = None, proofs: Path | None = None) -> tuple[int, str]:
    args = [str(checklog), "-vkey", str(vkey)]
    if export is not None:
        args += ["-export", str(export)]
    if proofs is not None:
        args += ["-proofs", str(proofs)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _log_and_proofs(harness: Harness) -> tuple[bytes, dict[str, Any], list[int]]:
    """The exported log, inclusion proofs of every entry at the latest head and at the first head, and
    consistency proofs from every size to the latest head; the signed sizes."""
    for _ in range(2):
        await harness.run(example_request())
        await harness.audit.GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest())  # integrates, signs a head
    chunks = [c.data async for c in harness.audit.ExportAuditLog(audit_pb2.ExportAuditLogRequest())]
    export = b"".join(chunks)
    lines = [json.loads(line) for line in export.splitlines()]
    entries = [base64.b64decode(line["entry"]) for line in lines if "entry" in line]
    signed = [line["head"] for line in lines if "checkpoint" in line]
    assert len(signed) >= 2 and signed[-1] == len(entries)
    leaves = [leaf_hash(e) for e in entries]
    inclusion = []
    for size in (signed[0], signed[-1]):
        for index in range(size):
            got = await harness.audit.GetInclusionProof(audit_pb2.GetInclusionProofRequest(index=index, tree_size=size))
            assert got.entry == entries[index]
            path = [b64(h) for h in got.hashes]
            inclusion.append({"index": index, "entry": b64(got.entry), "checkpoint": got.checkpoint, "proof": path})
    consistency = []
    for first in range(1, signed[-1]):  # any size a supervisor may hold, the root computed from the entries
        got = await harness.audit.GetConsistencyProof(
            audit_pb2.GetConsistencyProofRequest(first_size=first, second_size=signed[-1])
        )
        consistency.append(
            {
                "first_size": first,
                "first_root": b64(tree_hash(leaves[:first])),
                "checkpoint": got.second_checkpoint,
                "proof": [b64(h) for h in got.hashes],
            }
        )
    return export, {"inclusion": inclusion, "consistency": consistency}, signed


async def test_go_s_note_and_tlog_accept_hedui_s_log_and_refuse_it_altered(
    harness: Harness, checklog: Path, tmp_path: Path
) -> None:
    export, proofs, signed = await _log_and_proofs(harness)
    vkey = tmp_path / "log.vkey"
    vkey.write_text(harness.service.log.signer.verifier_key() + "\n")
    exported, proven = tmp_path / "audit.jsonl", tmp_path / "proofs.json"
    exported.write_bytes(export)
    proven.write_text(json.dumps(proofs))
    code, out = run(checklog, vkey, export=exported, proofs=proven)
    entries = signed[-1]
    said = f"{entries} entries under {len(signed)} signed heads, {signed[0] + entries} inclusion and {entries - 1}"
    assert code == 0 and f"checklog: ok: {said} consistency proofs" in out, out

    # One byte of one entry: the root tlog recomputes is not the signed one.
    lines = export.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b'"index": 3,' in line)
    record = json.loads(lines[at])
    entry = base64.b64decode(record["entry"]).replace(b'"kind":"', b'"kind":"X', 1)
    record["entry"] = b64(entry)
    altered = tmp_path / "altered.jsonl"
    altered.write_bytes(b"".join([*lines[:at], json.dumps(record).encode() + b"\n", *lines[at + 1 :]]))
    code, out = run(checklog, vkey, export=altered)
    assert code == 1 and "FAILED: export: signed head at size" in out and "is not the signed" in out, out

    # Cut after the first signed head, the header left as it was.
    first_head = next(i for i, line in enumerate(lines) if b'"checkpoint"' in line)
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(lines[: first_head + 1]))
    code, out = run(checklog, vkey, export=cut)
    assert code == 1 and f"the header announces {entries} entries; the export has {signed[0]}" in out, out

    # One hash of one inclusion proof, one of one consistency proof.
    for kind in ("inclusion", "consistency"):
        bad = json.loads(json.dumps(proofs))
        item = next(p for p in bad[kind] if p["proof"])
        hashed = bytearray(base64.b64decode(item["proof"][0]))
        hashed[0] ^= 1
        item["proof"][0] = b64(bytes(hashed))
        wrong = tmp_path / f"bad-{kind}.json"
        wrong.write_text(json.dumps(bad))
        code, out = run(checklog, vkey, proofs=wrong)
        assert code == 1 and f"FAILED: proofs: {kind}" in out, out

    # The latest checkpoint signed again by another key under the log's name: Go's note refuses it.
    latest = proofs["inclusion"][-1]["checkpoint"]
    origin = harness.service.log.origin
    body = open_checkpoint(latest, harness.service.log.verifier)
    forged = sign_checkpoint(Checkpoint(origin, body.size, body.root_hash), NoteSigner.generate(origin))
    bad = {"inclusion": [dict(proofs["inclusion"][-1], checkpoint=forged)], "consistency": []}
    wrong = tmp_path / "forged.json"
    wrong.write_text(json.dumps(bad))
    code, out = run(checklog, vkey, proofs=wrong)
    assert code == 1 and "signed note:" in out, out

    # Issue 17: the checkpoint with an SM2 line beside the Ed25519 one (the sm suite): Go's note opens it with the
    # Ed25519 key alone, ignoring the line of a key type it does not know.
    both = latest + signature_line(parse_note(latest)[0], Sm2NoteSigner(origin, Sm2PrivateKey.generate()))
    sm2_file = tmp_path / "sm2.json"
    sm2_file.write_text(json.dumps({"inclusion": [dict(proofs["inclusion"][-1], checkpoint=both)], "consistency": []}))
    code, out = run(checklog, vkey, proofs=sm2_file)
    assert code == 0 and "checklog: ok" in out, out


class _Altering(http.server.BaseHTTPRequestHandler):
    """Passes the tiles server's answers on, one byte of one chosen path flipped (a tampering cache or mirror)."""

    upstream = ""
    altered = ""

    def do_GET(self) -> None:
        with urllib.request.urlopen(self.upstream + self.path, timeout=30) as answer:
            body = bytearray(answer.read())
        if self.path == "/" + self.altered:
            body[len(body) // 2] ^= 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(bytes(body))

    def log_message(self, *_args: object) -> None:
        """Quiet."""


async def test_go_s_tlog_reads_hedui_s_tiles_and_refuses_an_altered_tile_or_bundle(
    checklog: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/hedui.db"
    settings = Settings(database_url=url, audit_subject_key=b"k" * 32, audit_log_key=bytes(range(32)))
    service = HeduiService(Database(url), {}, settings)
    await service.start()
    endpoint = TilesEndpoint(Tiles(service.log, service.db.sessions, entries=True))
    port = await endpoint.start("127.0.0.1:0")
    vkey = tmp_path / "log.vkey"
    vkey.write_text(service.log.signer.verifier_key() + "\n")
    try:
        for count in (300, 300):  # 600 entries under two heads: two full level-0 tiles, one of width 88, level 1
            async with service.db.write() as session:
                await service.audit.append_many(
                    session, [(AuditEvent(kind="REPORT_READ", verification=f"v{i}"), ()) for i in range(count)]
                )
            await service.log.integrate(service.db.write)
        base = f"http://127.0.0.1:{port}"
        code, out = await asyncio.to_thread(run_tiles, checklog, vkey, base)
        assert code == 0 and "checklog: ok: 600 entries from tiles" in out, out
        for altered, said in (("tile/0/001", "tiles: "), ("tile/entries/002.p/88", "does not hash to its leaf")):
            handler = type("Handler", (_Altering,), {"upstream": base, "altered": altered})
            mirror = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            thread = threading.Thread(target=mirror.serve_forever, daemon=True)
            thread.start()
            try:
                code, out = await asyncio.to_thread(run_tiles, checklog, vkey, f"http://127.0.0.1:{mirror.server_port}")
            finally:
                mirror.shutdown()
                mirror.server_close()
            assert code == 1 and "checklog: FAILED: tiles:" in out and said in out, (altered, out)
    finally:
        await endpoint.close()
        await service.close()


def run_tiles(checklog: Path, vkey: Path, base: str) -> tuple[int, str]:
    done = subprocess.run(
        [str(checklog), "-vkey", str(vkey), "-tiles", base], capture_output=True, text=True, timeout=300, check=False
    )
    return done.returncode, done.stdout + done.stderr
