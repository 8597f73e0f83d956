"""hedui as a witness client (audit/witnessing.py): a real `hedui witness serve` process, a real service on
SQLite and PostgreSQL, GetSignedTreeHead over gRPC, and `hedui audit verify` applying the witnesses."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import text
from witness_process import make_key, witness_process

from audit import AuditEvent
from audit.checkpoint import NoteSigner, open_checkpoint
from audit.cosignature import CosignatureVerifier, cosignatures
from audit.tiles import Tiles
from audit.witnessing import WitnessPolicy, WitnessSpec, witnessing_of
from hedui.v1 import audit_pb2, audit_pb2_grpc
from verifier.api import build_server
from verifier.cli import main
from verifier.config import Settings, load_settings
from verifier.service import HeduiService
from verifier.storage.db import Database

LOG_KEY = bytes(range(32))


@pytest.fixture(scope="module")
def witness_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    key = tmp_path_factory.mktemp("witness") / "w.key"
    return key, make_key(key, "witness.example/w1")


@contextlib.asynccontextmanager
async def service_with(db_url: str, policy: WitnessPolicy) -> AsyncIterator[tuple[HeduiService, int]]:
    """A started service whose log hands its heads to ``policy``'s witnesses, with its gRPC server."""
    settings = Settings(database_url=db_url, audit_subject_key=b"k" * 32, audit_log_key=LOG_KEY, witness_policy=policy)
    service = HeduiService(Database(db_url), {}, settings)
    await service.start()
    _, port, stop = await build_server(service, "127.0.0.1:0")
    try:
        yield service, port
    finally:
        await stop()
        await service.close()


async def append_and_integrate(service: HeduiService, count: int) -> int:
    """Append ``count`` entries and integrate them now; the new signed size."""
    async with service.db.write() as session:
        await service.audit.append_many(
            session, [(AuditEvent(kind="REPORT_READ", verification=f"v{i}"), ()) for i in range(count)]
        )
    await service.log.integrate(service.db.write)  # (or the service's own integrator did, a moment before)
    async with service.db.sessions() as session:
        head = await service.log.latest_head(session)
    assert head is not None
    return head.tree_size


async def until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    """Wait (generously: the machine is shared) until ``condition`` holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def signed_tree_head(port: int) -> audit_pb2.SignedTreeHead:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        return await audit_pb2_grpc.AuditServiceStub(channel).GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest())


async def test_heads_are_served_only_once_cosigned_as_the_policy_says(
    db_url: str, witness_key: tuple[Path, str], tmp_path: Path
) -> None:
    key, vkey = witness_key
    verifier = CosignatureVerifier.from_vkey(vkey)
    origin = Settings().audit_log_origin
    state = tmp_path / "witness-state"
    policy_for: Callable[[str], WitnessPolicy] = lambda url: WitnessPolicy(  # noqa: E731
        (WitnessSpec("w1", url, verifier),), quorum=1, timeout_seconds=5.0, lag_bound_seconds=1.0
    )
    log_vkey = NoteSigner.from_private_bytes(origin, LOG_KEY).verifier_key()
    with witness_process(key, state, [f"{origin}={log_vkey}"]) as witness:
        async with service_with(db_url, policy_for(witness.url)) as (service, port):
            assert service.log.signer.verifier_key() == log_vkey
            witnessing = witnessing_of(service.log)
            assert witnessing is not None
            size = await append_and_integrate(service, 3)
            await until(lambda: witnessing.rounds >= 1)
            head = await signed_tree_head(port)
            assert head.tree_size == size
            (cosigned,) = cosignatures(head.checkpoint, [verifier])  # the cosignature rides in the note
            assert open_checkpoint(head.checkpoint, service.log.verifier).size == size
            assert abs(cosigned.timestamp - time.time()) < 600
            ready = await service.readiness.probe()
            assert ready.ready, ready.failing()
            # A row forged in the database (w1's key ID, a signature it never made) is not counted, nor does it
            # hide the genuine one.
            raw = bytearray(base64.b64decode(cosigned.line.split(" ")[-1]))
            raw[-1] ^= 1
            forged = "— witness.example/w1 " + base64.b64encode(bytes(raw)).decode() + "\n"
            await behind_the_back(
                db_url,
                "INSERT INTO audit_cosignatures (tree_size, witness, line, cosigned_at) VALUES (:s, 'forger', :l, 1)",
                {"s": size, "l": forged},
            )
            assert cosignatures((await signed_tree_head(port)).checkpoint, [verifier]) == [cosigned]
            await behind_the_back(db_url, "DELETE FROM audit_cosignatures WHERE witness = 'forger'", {})
            witness.process.terminate()
            witness.process.wait(timeout=30)
            # The witness is gone: integration goes on at once, the new head is signed but not served.
            started = time.monotonic()
            bigger = await append_and_integrate(service, 2)
            assert time.monotonic() - started < 5.0
            await until(lambda: witnessing.rounds >= 2)
            assert (await signed_tree_head(port)).tree_size == size < bigger
            served = await Tiles(service.log, service.db.sessions).answer("checkpoint")  # tlog-tiles: the same
            assert open_checkpoint(served.body, service.log.verifier).size == size
            await until(lambda: witnessing.failure() is not None)
            report = await service.readiness.probe()
            assert not report.ready and "witnesses: no head cosigned by 1 witness(es)" in report.failing()
    # A new process (no memory of the witness's size) and the witness back with its state: 409, then a proof.
    with witness_process(key, state, [f"{origin}={log_vkey}"]) as witness:
        async with service_with(db_url, policy_for(witness.url)) as (service, port):
            witnessing = witnessing_of(service.log)
            assert witnessing is not None
            newest = await append_and_integrate(service, 1)
            await until(lambda: witnessing.rounds >= 1)
            head = await signed_tree_head(port)
            assert head.tree_size == newest > bigger
            assert cosignatures(head.checkpoint, [verifier])
            assert (await service.readiness.probe()).ready
        vkey_file = tmp_path / "log.vkey"
        vkey_file.write_text(log_vkey + "\n")
        verify = ["audit", "verify", "--db", db_url, "--public-key", str(vkey_file), "--witness-url", witness.url, vkey]
        assert await asyncio.to_thread(main, verify) == 0
        # A cosignature row edited behind the service's back (another head's line): verify names it.
        await behind_the_back(
            db_url,
            "UPDATE audit_cosignatures SET line = :line WHERE tree_size = :size",
            {"line": cosigned.line, "size": newest},
        )
        assert await asyncio.to_thread(main, verify) == 1
        # The tail cut back to the first head, heads too: the witness's checkpoint convicts the log.
        await behind_the_back(db_url, "DELETE FROM audit_cosignatures WHERE tree_size > :size", {"size": size})
        assert await asyncio.to_thread(main, verify) == 0
        for statement in (
            "DELETE FROM audit_entries WHERE seq IN (SELECT entry_seq FROM audit_leaves WHERE leaf_index >= :size)",
            "DELETE FROM audit_leaves WHERE leaf_index >= :size",
            "DELETE FROM audit_tree_heads WHERE tree_size > :size",
        ):
            await behind_the_back(db_url, statement, {"size": size}, triggers=True)
        assert await asyncio.to_thread(main, verify[:-3]) == 0  # without the witness nothing shows
        assert await asyncio.to_thread(main, verify) == 1


async def behind_the_back(db_url: str, statement: str, values: dict[str, object], *, triggers: bool = False) -> None:
    """One statement with database credentials alone (the log's append-only triggers dropped if asked)."""
    db = Database(db_url)
    try:
        async with db.engine.begin() as connection:
            if triggers:
                for table in ("audit_entries", "audit_leaves", "audit_tree_heads"):
                    if db.dialect == "sqlite":
                        for action in ("update", "delete"):
                            await connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))
                    else:
                        await connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            await connection.execute(text(statement), values)
    finally:
        await db.close()


async def test_audit_verify_config_applies_the_configured_witnesses(
    db_url: str, witness_key: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, vkey = witness_key
    keys = tmp_path / "keys"
    keys.mkdir()
    origin = "hedui.example/verify-config"

    def config(url: str) -> Path:
        path = tmp_path / "hedui.toml"
        path.write_text(
            f'database_url = "{db_url}"\naudit_log_origin = "{origin}"\n'
            f'audit_subject_key_file = "{keys / "subject.key"}"\naudit_log_key_file = "{keys / "log.key"}"\n'
            f'audit_entry_key_file = "{keys / "entry.key"}"\n'
            f'[witness_policy]\nquorum = 1\n[[witness_policy.witnesses]]\nname = "w1"\nurl = "{url}"\nvkey = "{vkey}"\n'
        )
        return path

    settings = load_settings(config("http://127.0.0.1:9"), tmp_path / "base", environ=False)  # makes the keys
    log_vkey = NoteSigner.from_private_bytes(origin, settings.audit_log_key).verifier_key()
    with witness_process(key, tmp_path / "witness-state", [f"{origin}={log_vkey}"]) as witness:
        settings = load_settings(config(witness.url), tmp_path / "base", environ=False)
        service = HeduiService(Database(db_url), {}, settings)
        await service.start()
        try:
            witnessing = witnessing_of(service.log)
            assert witnessing is not None
            first = await append_and_integrate(service, 4)
            await until(lambda: witnessing.cosigned_size >= first)
            last = await append_and_integrate(service, 4)
            await until(lambda: witnessing.cosigned_size >= last)
        finally:
            await service.close()
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["audit", "verify", "--config", str(config(witness.url))]) == 0
        assert "consistent with 2 witnessed heads" in capsys.readouterr().out  # the witness's, the signer's state
        # Whoever holds the key's directory too cuts the log back to its first head and drops the signer's state:
        # only the witness, applied by --config alone, still knows the log was bigger.
        assert settings.audit_log_state_file is not None
        settings.audit_log_state_file.unlink()
        for statement in (
            "DELETE FROM audit_entries WHERE seq IN (SELECT entry_seq FROM audit_leaves WHERE leaf_index >= :size)",
            "DELETE FROM audit_leaves WHERE leaf_index >= :size",
            "DELETE FROM audit_tree_heads WHERE tree_size > :size",
            "DELETE FROM audit_cosignatures WHERE tree_size > :size",
        ):
            await behind_the_back(db_url, statement, {"size": first}, triggers=True)
        assert await asyncio.to_thread(main, ["audit", "verify", "--config", str(config(witness.url))]) == 1
        out = capsys.readouterr().out
        assert f"a witness recorded a signed head of size {last}" in out, out


def _in_thread(tmp_path: Path, log_vkey: str) -> tuple[str, CosignatureVerifier, Callable[[], None]]:
    """A witness served from a thread of this process (the server of `hedui witness serve`)."""
    import threading

    from audit.checkpoint import NoteVerifier
    from audit.witness_server import CosignatureSigner, WitnessService, serve

    signer = CosignatureSigner("witness.example/thread", bytes(range(7, 39)))
    verifier = NoteVerifier.from_vkey(log_vkey)
    server = serve(WitnessService(signer, tmp_path / "thread-witness", {verifier.name: [verifier]}), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}", CosignatureVerifier.from_vkey(signer.vkey), stop


async def test_a_head_superseded_at_the_witness_counts_for_the_lag_and_is_not_stored(tmp_path: Path) -> None:
    from audit.checkpoint import Checkpoint, sign_checkpoint
    from audit.merkle import MerkleTree, leaf_hash
    from audit.witnessing import HttpWitness, LogHeads, Witnessing

    signer = NoteSigner.from_private_bytes("hedui.example/replicas", LOG_KEY)
    tree = MerkleTree(leaf_hash(b"e%d" % i) for i in range(10))
    url, verifier, stop = _in_thread(tmp_path, signer.verifier_key())
    try:
        policy = WitnessPolicy((WitnessSpec("t", url, verifier),), quorum=1, timeout_seconds=5.0)
        # Another replica's head of size 10 reached the witness first.
        other = HttpWitness(policy.witnesses[0], 5.0)
        await other.add_checkpoint(0, [], sign_checkpoint(Checkpoint(signer.name, 10, tree.root(10)), signer))

        def no_store() -> object:
            raise AssertionError("nothing to store")

        async def proofs(old: int, size: int) -> list[bytes]:
            return tree.consistency_proof(old, size)

        async def root_at(size: int) -> bytes | None:
            return tree.root(size) if size == 10 else None  # the log signed the head of size 10

        witnessing = Witnessing(policy, no_store, proofs, LogHeads(signer.verifier(), root_at))
        try:
            head = sign_checkpoint(Checkpoint(signer.name, 6, tree.root(6)), signer)
            assert await witnessing.add_checkpoint(0, [], head) == ""  # answered at once
            await until(lambda: witnessing.rounds >= 1)
            assert witnessing.cosigned_size == 6 and witnessing.failure() is None
            assert witnessing.witnesses[0].known_size == 10
        finally:
            await witnessing.close()
    finally:
        stop()


async def test_a_witness_that_never_answers_costs_the_integrator_nothing(tmp_path: Path) -> None:
    import socket

    from audit.checkpoint import Checkpoint, sign_checkpoint
    from audit.merkle import EMPTY_ROOT
    from audit.witnessing import Witnessing

    signer = NoteSigner.from_private_bytes("hedui.example/silent", LOG_KEY)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        spec = WitnessSpec("silent", url, CosignatureVerifier("w.example/x", bytes(32)))
        policy = WitnessPolicy((spec,), quorum=1, timeout_seconds=0.5, lag_bound_seconds=0.2)
        witnessing = Witnessing(policy, lambda: None)
        try:
            started = time.monotonic()
            for size in (1, 2, 3):  # handed over before the round starts: coalesced
                await witnessing.add_checkpoint(
                    0, [], sign_checkpoint(Checkpoint(signer.name, size, EMPTY_ROOT), signer)
                )
            assert time.monotonic() - started < 0.5
            await until(lambda: witnessing.rounds >= 1)
            assert witnessing.rounds == 1  # the three heads coalesced into one round, for the newest
            assert witnessing.cosigned_size == 0
            assert "no head cosigned by 1 witness(es)" in (witnessing.failure() or "")
        finally:
            await witnessing.close()
    finally:
        silent.close()


class DripWitness:
    """A hostile witness in a thread: it reads the request, then answers one byte every 0.2 s for ever; counts
    the connections still open (a client that gave up must have closed its socket)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.open = 0
        self.accepted = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with self._lock:
                self.open += 1
                self.accepted += 1
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: Any) -> None:
        try:
            connection.settimeout(0.2)
            with contextlib.suppress(TimeoutError):
                connection.recv(1 << 20)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
                if self._stop.wait(0.2):
                    return
                with contextlib.suppress(TimeoutError):
                    if connection.recv(1, socket_flags()) == b"":
                        return  # the client closed
                connection.send(bytes([byte]))
        except OSError:
            return
        finally:
            connection.close()
            with self._lock:
                self.open -= 1

    def close(self) -> None:
        self._stop.set()
        self.server.close()


def socket_flags() -> int:
    import socket

    return socket.MSG_PEEK | socket.MSG_DONTWAIT


async def test_a_dripping_witness_never_starves_the_others_and_close_frees_its_sockets(
    db_url: str, tmp_path: Path
) -> None:
    import threading

    origin = Settings().audit_log_origin
    log_vkey = NoteSigner.from_private_bytes(origin, LOG_KEY).verifier_key()
    url, verifier, stop = _in_thread(tmp_path, log_vkey)
    drip = DripWitness()
    try:
        slow = WitnessSpec("slow", drip.url, CosignatureVerifier("slow.example/w1", bytes(32)))
        policy = WitnessPolicy(
            (slow, WitnessSpec("good", url, verifier)), quorum=1, timeout_seconds=1.0, lag_bound_seconds=60.0
        )
        async with service_with(db_url, policy) as (service, port):
            witnessing = witnessing_of(service.log)
            assert witnessing is not None
            good = witnessing.witnesses[1]
            for _ in range(4):  # with one thread per witness and a per-read timeout, round 3 was never sent
                size = await append_and_integrate(service, 1)
                await until(lambda: witnessing.cosigned_size >= size, 30)  # noqa: B023
                assert good.known_size == size
                assert (await signed_tree_head(port)).tree_size == size
            assert drip.accepted >= 1
            started = time.monotonic()
        assert time.monotonic() - started < 15  # close() did not wait on the dripping witness
        await until(lambda: drip.open == 0, 10)  # its sockets were closed, not left to drip
        assert not [t for t in threading.enumerate() if t.name.startswith("witness")]
    finally:
        drip.close()
        stop()


@contextlib.contextmanager
def answering_409(body: bytes) -> Any:
    """A hostile witness in a thread: every add-checkpoint is answered 409 with ``body`` (text/x.tlog.size)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(409)
            self.send_header("Content-Type", "text/x.tlog.size")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("body", [b"9223372036854775807\n", b"+5\n", b" 5 \n", b"1_0\n", b"07\n"])
async def test_a_409_with_a_size_the_log_never_signed_is_not_cosigned_and_keeps_the_lag_alarm(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    from audit.checkpoint import Checkpoint, sign_checkpoint
    from audit.merkle import MerkleTree, leaf_hash
    from audit.witnessing import UNSIGNED_SIZE, LogHeads, Witnessing

    signer = NoteSigner.from_private_bytes("hedui.example/liar", LOG_KEY)
    tree = MerkleTree(leaf_hash(b"e%d" % i) for i in range(4))

    async def root_at(size: int) -> bytes | None:
        return tree.root(size) if size == 4 else None

    def no_store() -> object:
        raise AssertionError("nothing to store")

    with answering_409(body) as url:
        spec = WitnessSpec("liar", url, CosignatureVerifier("liar.example/w1", bytes(32)))
        policy = WitnessPolicy((spec,), quorum=1, timeout_seconds=2.0, lag_bound_seconds=0.2)
        witnessing = Witnessing(policy, no_store, heads=LogHeads(signer.verifier(), root_at))
        before = UNSIGNED_SIZE.labels("liar")._value.get()
        try:
            await witnessing.add_checkpoint(0, [], sign_checkpoint(Checkpoint(signer.name, 4, tree.root()), signer))
            await until(lambda: witnessing.rounds >= 1)
            assert witnessing.cosigned_size == 0  # not "superseded": nothing counts for the lag
            await until(lambda: witnessing.failure() is not None, 10)
            assert "no head cosigned by 1 witness(es)" in (witnessing.failure() or "")
            if body.startswith(b"9"):
                assert UNSIGNED_SIZE.labels("liar")._value.get() == before + 1
                errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
                assert any("size 9223372036854775807 that this log never signed" in e for e in errors), errors
            else:  # not strictly a size and a newline: refused as malformed, never read as a size
                assert any("409 without a size" in r.getMessage() for r in caplog.records)
        finally:
            await witnessing.close()


def test_one_public_key_under_two_names_is_refused(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from audit.witness_server import CosignatureSigner
    from verifier.cli._common import UsageError
    from verifier.cli.witness import witness_specs
    from verifier.config._witness_policy import WitnessPolicyTable

    a = CosignatureSigner("a.example/w1", bytes(range(32)))
    b = CosignatureSigner("b.example/w1", bytes(range(32)))  # the same Ed25519 key under another name
    assert a.public_key == b.public_key and a.vkey != b.vkey
    witnesses = [{"name": "a", "url": "http://127.0.0.1:1", "vkey": a.vkey}]
    with pytest.raises(ValidationError) as refused:
        WitnessPolicyTable(quorum=2, witnesses=[*witnesses, {"name": "b", "url": "http://127.0.0.1:2", "vkey": b.vkey}])
    assert "witnesses a and b share one public key" in str(refused.value)
    assert base64.b64encode(b"\x04" + a.public_key).decode() in str(refused.value)  # the key is named
    with pytest.raises(ValueError, match="share the public key"):
        WitnessPolicy(
            (
                WitnessSpec("a", "http://127.0.0.1:1", CosignatureVerifier.from_vkey(a.vkey)),
                WitnessSpec("b", "http://127.0.0.1:2", CosignatureVerifier.from_vkey(b.vkey)),
            ),
            quorum=2,
        )
    settings = Settings(witness_policy=WitnessPolicyTable(quorum=1, witnesses=witnesses).policy())
    with pytest.raises(UsageError, match="already witness a's"):
        witness_specs([["http://127.0.0.1:3", b.vkey]], settings)
    with pytest.raises(UsageError, match="already witness"):
        witness_specs([["http://127.0.0.1:3", b.vkey], ["http://127.0.0.1:4", a.vkey]], None)


JUNK = "INSERT INTO audit_cosignatures (tree_size, witness, line, cosigned_at) VALUES (:s, 'junk', 'x', 1)"


async def test_rows_for_sizes_the_log_never_signed_cannot_hide_the_cosigned_head(db_url: str, tmp_path: Path) -> None:
    origin = Settings().audit_log_origin
    log_vkey = NoteSigner.from_private_bytes(origin, LOG_KEY).verifier_key()
    url, verifier, stop = _in_thread(tmp_path, log_vkey)
    policy = WitnessPolicy((WitnessSpec("w", url, verifier),), quorum=1, timeout_seconds=5.0)
    stopped = False
    try:
        async with service_with(db_url, policy) as (service, port):
            witnessing = witnessing_of(service.log)
            assert witnessing is not None
            size = await append_and_integrate(service, 3)
            await until(lambda: witnessing.cosigned_size >= size)
            stop()
            stopped = True
            bigger = await append_and_integrate(service, 100)  # signed, never cosigned (the witness is gone)
            await until(lambda: witnessing.rounds >= 2)
            assert (await signed_tree_head(port)).tree_size == size
            for junk in range(size + 1, size + 1 + 70):  # more than a page of sizes without a head
                await behind_the_back(
                    db_url,
                    JUNK,
                    {"s": junk},
                )
            await behind_the_back(  # and a junk row at the real uncosigned head
                db_url,
                JUNK,
                {"s": bigger},
            )
            assert (await signed_tree_head(port)).tree_size == size
    finally:
        if not stopped:
            stop()


async def test_a_cosignature_that_could_not_be_stored_does_not_count_for_the_lag(tmp_path: Path) -> None:
    from audit.checkpoint import Checkpoint, sign_checkpoint
    from audit.merkle import MerkleTree, leaf_hash
    from audit.witnessing import Witnessing

    signer = NoteSigner.from_private_bytes("hedui.example/store-fails", LOG_KEY)
    tree = MerkleTree(leaf_hash(b"e%d" % i) for i in range(3))
    url, verifier, stop = _in_thread(tmp_path, signer.verifier_key())
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/never-migrated.sqlite")  # no audit_cosignatures table
    try:
        policy = WitnessPolicy((WitnessSpec("t", url, verifier),), quorum=1, timeout_seconds=5.0)
        witnessing = Witnessing(policy, db.write)
        try:
            await witnessing.add_checkpoint(0, [], sign_checkpoint(Checkpoint(signer.name, 3, tree.root()), signer))
            await until(lambda: witnessing.rounds >= 1)
            assert witnessing.witnesses[0].known_size == 3  # the witness cosigned it ...
            assert witnessing.cosigned_size == 0  # ... but nothing was stored, so nothing counts
            assert await witnessing.latest("hedui.example/store-fails") is None
        finally:
            await witnessing.close()
    finally:
        await db.close()
        stop()
