"""``hedui witness serve`` in its own process, spoken to over HTTP as c2sp.org/tlog-witness describes.

The requests are written from the spec's text (tests/support/witness_process.py), the proofs come from a
tree built here, and every cosignature is checked with audit/cosignature.py (not the witness's code).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from witness_process import HEDUI, add_checkpoint, get, make_key, post, witness_process

from audit.checkpoint import Checkpoint, NoteSigner, open_checkpoint, sign_checkpoint
from audit.cosignature import CosignatureVerifier, cosignatures
from audit.merkle import EMPTY_ROOT, MerkleTree, leaf_hash

ORIGIN = "hedui.example/audit"
LOG = NoteSigner.from_private_bytes(ORIGIN, bytes(range(32)))
OTHER = NoteSigner.from_private_bytes(ORIGIN, bytes(range(1, 33)))
TREE = MerkleTree(leaf_hash(b"entry %d" % i) for i in range(20))
FORKED = MerkleTree(leaf_hash(b"forged %d" % i) for i in range(20))


def head(size: int, tree: MerkleTree = TREE, signer: NoteSigner = LOG, origin: str = ORIGIN) -> str:
    return sign_checkpoint(Checkpoint(origin, size, tree.root(size)), signer)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    key = tmp_path_factory.mktemp("witness-key") / "witness.key"
    return key, make_key(key, "witness.example/w1")


def test_keygen_writes_a_secret_key_and_prints_its_cosignature_vkey(keys: tuple[Path, str]) -> None:
    key, vkey = keys
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    verifier = CosignatureVerifier.from_vkey(vkey)  # a type 0x04 key, as the cosignature spec says
    assert verifier.name == "witness.example/w1"
    again = subprocess.run([*HEDUI, "witness", "vkey", "--key", str(key)], capture_output=True, text=True, check=False)
    assert again.stdout.strip() == vkey
    refused = subprocess.run(
        [*HEDUI, "witness", "keygen", "--key", str(key), "--name", "x"], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2 and "never overwritten" in refused.stderr


def test_the_witness_follows_the_tlog_witness_protocol(keys: tuple[Path, str], tmp_path: Path) -> None:
    key, vkey = keys
    verifier = CosignatureVerifier.from_vkey(vkey)
    state = tmp_path / "state"
    with witness_process(key, state, [f"{ORIGIN}={LOG.verifier_key()}"]) as witness:
        assert witness.vkey == vkey
        status, kind, body = add_checkpoint(witness.url, 0, [], head(5))
        assert (status, kind) == (200, "text/plain; charset=utf-8"), body
        assert body.startswith("— witness.example/w1 ") and body.count("\n") == 1
        (cosigned,) = cosignatures(head(5) + body, [verifier])
        # Persisted before the answer: the state file of the origin holds the cosigned checkpoint.
        stored = (state / (hashlib.sha256(ORIGIN.encode()).hexdigest() + ".checkpoint")).read_text()
        assert open_checkpoint(stored, LOG.verifier()).size == 5 and cosigned.line in stored

        # The log thinks the witness saw nothing: 409 with the size it cosigned.
        assert add_checkpoint(witness.url, 0, [], head(8)) == (409, "text/x.tlog.size", "5\n")
        status, _, body = add_checkpoint(witness.url, 5, TREE.consistency_proof(5, 8), head(8))
        assert status == 200 and cosignatures(head(8) + body, [verifier])

        # A fork of the same size, a bigger tree that does not extend it, a proof cut short: 422, nothing cosigned.
        assert add_checkpoint(witness.url, 8, [], head(8, FORKED))[0] == 422
        assert add_checkpoint(witness.url, 8, FORKED.consistency_proof(8, 12), head(12, FORKED))[0] == 422
        assert add_checkpoint(witness.url, 8, TREE.consistency_proof(8, 12)[1:], head(12))[0] == 422
        again = add_checkpoint(witness.url, 8, [], head(8))  # the same head again: cosigned again
        assert again[0] == 200 and cosignatures(head(8) + again[2], [verifier])

        assert add_checkpoint(witness.url, 0, [], head(3, origin="other.example/log"))[0] == 404
        assert add_checkpoint(witness.url, 8, TREE.consistency_proof(8, 12), head(12, signer=OTHER))[0] == 403
        assert add_checkpoint(witness.url, 13, [], head(12))[0] == 400  # old size beyond the checkpoint
        assert post(witness.url + "/add-checkpoint", b"old 08\n\n" + head(12).encode())[0] == 400
        assert post(witness.url + "/add-checkpoint", b"no blank line")[0] == 400

        status, monitored = get(f"{witness.url}/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint")
        assert status == 200 and open_checkpoint(monitored, LOG.verifier()).size == 8
        assert cosignatures(monitored, [verifier])
        assert get(f"{witness.url}/{'0' * 64}/checkpoint")[0] == 404

    history = [json.loads(line) for line in (state / "history.jsonl").read_text().splitlines()]
    # Only evidence is kept: the fork (two roots for size 8, both signed by the log's key); a proof that does
    # not verify is anyone's, and the same head again changes nothing.
    assert [h["outcome"] for h in history] == ["cosigned", "cosigned", "refused"]
    assert "fork" in history[2]["reason"]

    # Its state outlives the process: a restarted witness still knows size 8.
    with witness_process(key, state, [f"{ORIGIN}={LOG.verifier_key()}"]) as witness:
        assert add_checkpoint(witness.url, 0, [], head(12)) == (409, "text/x.tlog.size", "8\n")


def test_an_empty_tree_needs_the_empty_root(keys: tuple[Path, str], tmp_path: Path) -> None:
    key, _ = keys
    with witness_process(key, tmp_path / "state", [f"{ORIGIN}={LOG.verifier_key()}"]) as witness:
        bad = sign_checkpoint(Checkpoint(ORIGIN, 0, TREE.root(1)), LOG)
        assert add_checkpoint(witness.url, 0, [], bad)[0] == 422
        good = sign_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT), LOG)
        assert add_checkpoint(witness.url, 0, [], good)[0] == 200


def test_serve_refuses_bad_arguments_with_exit_2(keys: tuple[Path, str], tmp_path: Path) -> None:
    key, _ = keys
    for args, words in [
        (["--key", str(key), "--state", str(tmp_path)], "--log"),
        (["--key", str(tmp_path / "none"), "--state", str(tmp_path), "--log", "a=b"], "no such file"),
        (["--key", str(key), "--state", str(tmp_path), "--log", "novkey"], "ORIGIN=VKEY"),
        (["--key", str(key), "--state", str(tmp_path), "--log", f"{ORIGIN}=bad+key"], ORIGIN),
    ]:
        done = subprocess.run([*HEDUI, "witness", "serve", *args], capture_output=True, text=True, check=False)
        assert done.returncode == 2, done.stderr
        assert words in done.stderr and done.stderr.count("\n") == 1


def test_only_forks_signed_by_the_log_are_kept_once_and_without_foreign_lines(
    keys: tuple[Path, str], tmp_path: Path
) -> None:
    import base64
    import socket
    import struct

    key, _ = keys
    state = tmp_path / "state"
    junk = "".join(f"— junk{i}.example {base64.b64encode(os.urandom(7800)).decode()}\n" for i in range(99))
    bad_proof = base64.b64encode(bytes(32)).decode()
    with witness_process(key, state, [f"{ORIGIN}={LOG.verifier_key()}"]) as witness:
        assert add_checkpoint(witness.url, 0, [], head(5))[0] == 200
        # Anyone holding the public checkpoint, with a junk proof line and ~1 MiB of unknown-key lines.
        for _ in range(10):
            status, _, body = post(witness.url + "/add-checkpoint", f"old 5\n{bad_proof}\n\n{head(5)}{junk}".encode())
            assert status == 422 and "a consistency proof was sent for equal sizes" in body
            status, _, body = post(witness.url + "/add-checkpoint", f"old 5\n{bad_proof}\n\n{head(8)}{junk}".encode())
            assert status == 422 and "does not verify" in body
        assert add_checkpoint(witness.url, 5, [], head(5))[0] == 200  # replayed: nothing written
        for _ in range(5):  # a real fork (another root for size 5, signed by the log's key), sent five times
            status, _, body = post(witness.url + "/add-checkpoint", f"old 5\n\n{head(5, FORKED)}{junk}".encode())
            assert status == 422 and "fork" in body
        for _ in range(5):  # clients that reset their connection mid-request
            with socket.create_connection(("127.0.0.1", int(witness.url.rsplit(":", 1)[1]))) as s:
                s.sendall(b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 100\r\n\r\nold")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert witness.process.stderr is not None
    assert "Traceback" not in witness.process.stderr.read()
    history = (state / "history.jsonl").read_text()
    records = [json.loads(line) for line in history.splitlines()]
    assert [r["outcome"] for r in records] == ["cosigned", "refused"]  # the fork, once
    assert records[1]["checkpoint"] == head(5, FORKED)  # the log's own signature, no foreign line
    assert len(history) < 4096


def test_cosignature_time_never_goes_back(keys: tuple[Path, str], tmp_path: Path) -> None:
    import time

    from audit.witness_server import CosignatureSigner, WitnessService

    signer = CosignatureSigner.from_key_file(keys[0])
    verifier = CosignatureVerifier.from_vkey(signer.vkey)
    witness = WitnessService(signer, tmp_path / "state", {ORIGIN: [LOG.verifier()]})
    ahead = int(time.time()) + 100_000  # as if the clock was set back a day after this cosignature
    stored = Checkpoint(ORIGIN, 5, TREE.root(5)).body() + b"\n"
    note = head(5)
    log_line = note.split("\n\n", 1)[1]
    (tmp_path / "state" / (hashlib.sha256(ORIGIN.encode()).hexdigest() + ".checkpoint")).write_bytes(
        stored + log_line.encode() + signer.cosign(Checkpoint(ORIGIN, 5, TREE.root(5)).body(), ahead).encode()
    )
    proof = "".join(base64.b64encode(p).decode() + "\n" for p in TREE.consistency_proof(5, 8))
    answer = witness.add_checkpoint(f"old 5\n{proof}\n{head(8)}".encode())
    assert answer.status == 200, answer.body
    (cosigned,) = cosignatures(head(8) + answer.body.decode(), [verifier])
    assert cosigned.timestamp >= ahead


def test_slow_and_surplus_connections_cannot_hold_the_witness(keys: tuple[Path, str], tmp_path: Path) -> None:
    import socket
    import threading
    import time

    from audit.witness_server import MAX_REQUEST, CosignatureSigner, WitnessService, serve

    signer = CosignatureSigner.from_key_file(keys[0])
    server = serve(
        WitnessService(signer, tmp_path / "state", {ORIGIN: [LOG.verifier()]}),
        "127.0.0.1",
        0,
        deadline=4.0,  # long enough that the three held connections outlive a busy machine's scheduling delays
        connections=3,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = ("127.0.0.1", server.server_port)
    try:
        with socket.create_connection(address, timeout=10) as big:  # refused before a byte of body is read
            big.sendall(b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_REQUEST + 1))
            assert big.recv(100).startswith(b"HTTP/1.1 413")
        held = [socket.create_connection(address) for _ in range(3)]
        accepted = time.monotonic() + 10
        while server._slots._value:  # type: ignore[attr-defined]  # the three are being served (slots taken)
            assert time.monotonic() < accepted
            time.sleep(0.01)
        with socket.create_connection(address, timeout=10) as surplus:
            assert surplus.recv(100).startswith(b"HTTP/1.1 503")  # refused at once, not queued
        started = time.monotonic()
        drip = held[0]
        drip.sendall(b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 1000\r\n\r\n")
        drip.settimeout(10)
        with_end = b"x"
        while with_end:  # a byte of body now and then: the deadline of the whole exchange ends it
            try:
                drip.sendall(b"o")
                time.sleep(0.1)
                drip.setblocking(False)
                with_end = drip.recv(1000) if _readable(drip) else b"x"
                drip.setblocking(True)
            except OSError:
                break
            assert time.monotonic() - started < 10
        assert time.monotonic() - started < 10
        for s in held:
            s.close()
        deadline = time.monotonic() + 20
        while True:  # the slots come free: a genuine request is served
            try:
                status, _, _ = add_checkpoint(f"http://127.0.0.1:{server.server_port}", 0, [], head(5))
            except OSError:
                status = 0
            if status == 200:
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        server.shutdown()
        server.server_close()


def _readable(sock: object) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])
