"""The signer's state, its lease and its recovery (issue 12, item 1), on SQLite and PostgreSQL: real processes
killed and run side by side, ``hedui audit recover``, and writes stopped through health and the metric."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from audit_tamper import Logged, hedui, logged, sql, verify
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import error_details, example_request, signed_envelope
from prometheus_client import REGISTRY
from sqlalchemy import text

from audit import AuditEvent
from audit.log import WritesStopped
from audit.tree import SigningStopped
from consent import SigningKey
from hedui.v1 import consent_pb2, consent_pb2_grpc
from verifier.api import _refusal, build_server, envelope_message
from verifier.errors import Reason
from verifier.request import parse_request
from verifier.storage.db import Database

pytestmark = pytest.mark.integration

WORKER = Path(__file__).parents[1] / "support" / "audit_worker.py"


@pytest.fixture
async def log(db_url: str, tmp_path: Path) -> Logged:
    return await logged(db_url, tmp_path)


def state_of(log: Logged) -> dict[str, object]:
    assert log.settings.audit_log_state_file is not None
    parsed: dict[str, object] = json.loads(log.settings.audit_log_state_file.read_bytes())
    return parsed


async def worker(log: Logged, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(WORKER), str(log.config), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def heads(url: str) -> list[int]:
    return [r[0] for r in await sql(url, "SELECT tree_size FROM audit_tree_heads ORDER BY tree_size", triggers=True)]


async def test_a_process_killed_between_saving_its_state_and_writing_the_head_resumes(log: Logged) -> None:
    killed = await worker(log, "crash", "3")
    assert killed.returncode == -9, killed.stderr
    state = state_of(log)
    assert (state["size"], state["previous_size"]) == (11, 8)  # the state one head ahead …
    assert await heads(log.url) == [1, 5, 8]  # … of the database, whose transaction never committed
    async with log.service() as service:
        head = await service.log.integrate(service.db.write)
        assert head is not None and (head.tree_size, head.checkpoint) == (11, state["checkpoint"])
    code, out = await verify(log)
    assert code == 0 and "11 entries, 4 signed tree head(s)" in out, out


async def test_two_processes_integrating_one_database_never_fork_the_log(log: Logged) -> None:
    first, second = await asyncio.gather(worker(log, "append", "4", "15"), worker(log, "append", "4", "15"))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    signed = await heads(log.url)
    assert signed[-1] == 8 + 2 * 4 * 15 and signed == sorted(set(signed))
    code, out = await verify(log)
    assert code == 0 and f"{signed[-1]} entries, {len(signed)} signed tree head(s)" in out, out
    assert (await sql(log.url, "SELECT count(*) FROM audit_refused", triggers=True))[0][0] == 0


async def test_an_upgraded_log_without_a_state_stops_until_recover_adopts_it(log: Logged) -> None:
    assert log.settings.audit_log_state_file is not None
    log.settings.audit_log_state_file.unlink()  # as after an upgrade from a version that kept none
    async with log.service() as service:
        await service.standalone_events.append(AuditEvent(kind="REPORT_READ", operator="w"))
        with pytest.raises(SigningStopped, match=r"there is no signer state at .*hedui audit recover"):
            await service.log.integrate(service.db.write)
    assert await heads(log.url) == [1, 5, 8]
    code, out = await hedui("audit", "recover", "--config", str(log.config))
    assert code == 0 and "no state → size 8 (the stored log, checked)" in out, out
    async with log.service() as service:
        head = await service.log.integrate(service.db.write)
        assert head is not None and head.tree_size == 9 and service.audit.gate.open
    code, out = await hedui("audit", "recover", "--config", str(log.config))
    assert code == 0 and "nothing to recover" in out, out


async def test_recover_refuses_a_database_behind_the_signer(log: Logged) -> None:
    """A database restored from an older backup (here: cut back to its second head): signing on would fork."""
    await sql(
        log.url,
        "DELETE FROM audit_entries WHERE seq IN (SELECT entry_seq FROM audit_leaves WHERE leaf_index >= 5)",
        "DELETE FROM audit_leaves WHERE leaf_index >= 5",
        "DELETE FROM audit_tree_heads WHERE tree_size > 5",
    )
    before = state_of(log)
    code, out = await hedui("audit", "recover", "--config", str(log.config))
    assert code == 1 and "NOT recovered" in out and "signing on would fork the log" in out, out
    assert state_of(log) == before


async def test_recover_refuses_a_stored_log_that_fails_its_check(log: Logged) -> None:
    assert log.settings.audit_log_state_file is not None
    log.settings.audit_log_state_file.unlink()
    await sql(log.url, "DELETE FROM audit_entries WHERE seq = 2")
    code, out = await hedui("audit", "recover", "--config", str(log.config))
    assert code == 1 and "the stored log fails its check, entry 1:" in out, out
    assert not log.settings.audit_log_state_file.exists()


async def test_a_state_file_restored_from_an_older_backup_is_moved_forward_by_recover(
    log: Logged, tmp_path: Path
) -> None:
    assert log.settings.audit_log_state_file is not None
    backup = tmp_path / "state.backup"
    shutil.copy(log.settings.audit_log_state_file, backup)
    await log.append([AuditEvent(kind="REPORT_READ", operator="w")])
    shutil.copy(backup, log.settings.audit_log_state_file)
    async with log.service() as service:
        await service.standalone_events.append(AuditEvent(kind="REPORT_READ", operator="w"))
        with pytest.raises(SigningStopped, match="signed head of size 9, beyond the signer's state"):
            await service.log.integrate(service.db.write)
    code, out = await hedui("audit", "recover", "--config", str(log.config))
    assert code == 0 and "the state at size 8 → size 9" in out, out
    async with log.service() as service:
        head = await service.log.integrate(service.db.write)
        assert head is not None and head.tree_size == 10


async def health_of(port: int, service_name: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service_name), timeout=5
        )
    return int(reply.status)


async def wait_for_health(port: int, service_name: str, status: int) -> None:
    for _ in range(200):
        if await health_of(port, service_name) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{service_name} never became {status}")


def stopped_metric() -> float:
    value = REGISTRY.get_sample_value("hedui_audit_writes_stopped")
    assert value is not None
    return value


async def test_a_stopped_log_makes_the_write_services_not_serving(log: Logged) -> None:
    request, key = parse_request(example_request()), SigningKey.generate_ed25519()
    async with log.service() as service:  # the organisation's key is trusted while the log is sound
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        await service.trust_store.add(request.commissioned_by, key.public_pem(), not_before=since)
        await service.log.integrate(service.db.write)
    await sql(log.url, "DELETE FROM audit_leaves WHERE leaf_index = 8")
    async with log.service(log.settings.with_overrides(audit_integrate_seconds=0.05)) as service:
        await service.start()  # the integrator proves the stored log at once, before anything is queued
        _, port, stop = await build_server(service, "127.0.0.1:0")
        try:
            for name in ("hedui.v1.VerificationService", "hedui.v1.ConsentService"):
                await wait_for_health(port, name, health_pb2.HealthCheckResponse.NOT_SERVING)
            assert await health_of(port, "hedui.v1.AuditService") == health_pb2.HealthCheckResponse.SERVING
            assert stopped_metric() == 1
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused_call:
                    await consent_pb2_grpc.ConsentServiceStub(channel).RegisterAuthorization(
                        consent_pb2.RegisterAuthorizationRequest(
                            envelope=envelope_message(signed_envelope(request, key))
                        ),
                        timeout=10,
                    )
            assert refused_call.value.code() == grpc.StatusCode.UNAVAILABLE
            assert error_details(refused_call.value)[0] == "AUDIT_LOG_STOPPED"
            async with service.db.sessions() as session:  # nothing half-written
                assert (await session.execute(text("SELECT count(*) FROM authorizations"))).scalar_one() == 0
            with pytest.raises(WritesStopped) as refused:
                await service.standalone_events.append(AuditEvent(kind="REPORT_READ", operator="w"))
            error = _refusal(refused.value)
            assert error is not None and (error.reason, error.code) == (Reason.AUDIT_LOG_STOPPED, "UNAVAILABLE")
        finally:
            await stop()
            await service.close()


async def test_writes_stop_when_nothing_could_be_integrated_for_the_bound_and_resume_after(
    log: Logged, db_url: str
) -> None:
    settings = log.settings.with_overrides(audit_integrate_seconds=0.05, audit_integration_bound_seconds=1.0)
    async with log.service(settings) as service:
        await service.start()
        _, port, stop = await build_server(service, "127.0.0.1:0")
        try:
            await wait_for_health(port, "hedui.v1.VerificationService", health_pb2.HealthCheckResponse.SERVING)
            async with holding_the_signer_lease(db_url):
                if service.db.dialect == "postgresql":
                    await append(service)  # an entry waits for integration (only the signer's row is locked)
                # On SQLite the lock is the database's write lock: the integrator cannot even begin (and a write
                # would wait for the same lock, then meet the closed gate: none is started there).
                await wait_for_health(port, "hedui.v1.VerificationService", health_pb2.HealthCheckResponse.NOT_SERVING)
                assert not service.audit.gate.open and "could not be integrated" in str(service.audit.gate.reason)
                assert stopped_metric() == 1
            await wait_for_health(port, "hedui.v1.VerificationService", health_pb2.HealthCheckResponse.SERVING)
            assert service.audit.gate.open
            if service.db.dialect != "postgresql":
                await append(service)  # the entry SQLite could not take while its write lock was held
            await service.standalone_events.append(AuditEvent(kind="REPORT_READ", operator="w"))
        finally:
            await stop()
            await service.close()
    assert (await heads(log.url))[-1] == 10


async def append(service: object) -> None:
    async with service.db.write() as session:  # type: ignore[attr-defined]
        await service.audit.append(session, AuditEvent(kind="REPORT_READ", operator="w"))  # type: ignore[attr-defined]


class holding_the_signer_lease:  # noqa: N801 - used as a context manager, named for what it does
    """Another connection holds the signer's lease row locked (SQLite: the write lock) until the block ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._db: Database | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._connection: object = None

    async def __aenter__(self) -> None:
        if self.url.startswith("sqlite"):
            self._sqlite = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self._sqlite.execute("BEGIN IMMEDIATE")
            return
        from sqlalchemy import text

        self._db = Database(self.url)
        connection = await self._db.engine.connect()
        await connection.begin()
        await connection.execute(text("SELECT id FROM audit_signer WHERE id = 1 FOR UPDATE"))
        self._connection = connection

    async def __aexit__(self, *exc: object) -> None:
        if self._sqlite is not None:
            self._sqlite.rollback()
            self._sqlite.close()
            return
        await self._connection.rollback()  # type: ignore[attr-defined]
        await self._connection.close()  # type: ignore[attr-defined]
        assert self._db is not None
        await self._db.close()


async def test_recover_without_the_log_key_is_refused_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text(f'audit_log_key_file = "{tmp_path / "absent.key"}"\ndatabase_url = "sqlite:///{tmp_path}/x.db"\n')
    code, out = await hedui("audit", "recover", "--config", str(config))
    assert code == 2 and "audit_log_key_file:" in out and "does not exist" in out, out
    assert not (tmp_path / "absent.key").exists()


async def test_a_stopped_log_says_so_in_one_log_line(log: Logged, caplog: pytest.LogCaptureFixture) -> None:
    await sql(log.url, "DELETE FROM audit_leaves WHERE leaf_index = 7")
    async with log.service() as service:
        with caplog.at_level("ERROR", logger="audit.tree"):
            for _ in range(3):  # the integrator tries every interval
                with pytest.raises(SigningStopped):
                    await service.log.integrate(service.db.write)
    lines = [r.getMessage() for r in caplog.records if "STOPPED" in r.getMessage()]
    assert len(lines) == 1 and "7 leaf rows are stored, the signer signed 8" in lines[0], lines
    assert "hedui audit recover" in lines[0]
