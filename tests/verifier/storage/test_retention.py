"""Retention (issue 17): department answers crypto-shredded by destroying their month's data key; the reports still
read, ``hedui audit verify`` still passes and says the answers expired (an expired answer is neither checked nor a
failure, told apart from a key not at hand and from an edited cell), each destruction an audit entry; the destroyed
wrapped key is gone from the database's files (SQLite's file and WAL, PostgreSQL's relation file)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from audit_tamper import configured, hedui, sandbox, verify
from harness import PostgresCluster, sandbox_service
from sqlalchemy import text
from sqlalchemy.engine import make_url

from audit.bound import BoundLedger, CellKeyDestroyed
from verifier.errors import Reason
from verifier.storage import verifications
from verifier.storage.db import Database
from verifier.storage.sealing import CellExpired, month_of, run_retention
from verifier.storage.sealing._retention import scrub

pytestmark = pytest.mark.integration


async def test_expired_answers_are_gone_and_reports_and_the_log_stay(db_url: str, tmp_path: Path) -> None:
    log = configured(db_url, tmp_path, extra=f'key_dir = "{tmp_path / "master-keys"}"\n')
    async with sandbox_service(log.settings, sandbox()) as (service, request, authorization):
        created = await service.verifications.create(request, [authorization])
        await service.verifications.wait_for_report(created.name, 60.0)
        report = await service.reports.get(f"{created.name}/reports/1")
        vid = created.name.removeprefix("verifications/")
        assert service.sealer is not None
        now = dt.datetime.now(dt.UTC)
        # Nothing is due yet; 13 months on, this month's answers key is past its 12 months (next month's is not).
        nothing = await run_retention(service.db, service.sealer, service.audit, 12, operator="t", client="t")
        assert nothing.destroyed == [] and nothing.scrubbed == ""
        async with service.db.sessions() as session:
            doomed = (await session.execute(_ANSWERS_KEY, {"p": month_of(now)})).one()
            answers = (await session.execute(_SEALED_ANSWERS)).scalar_one()
        wrapped = bytes(doomed.wrapped)
        assert len(wrapped) >= 32 and wrapped in await _files(service.db)  # in the files before: the check can fail
        later = now + dt.timedelta(days=31 * 13)
        done = await run_retention(service.db, service.sealer, service.audit, 12, operator="t", client="t", at=later)
        destroyed = done.destroyed
        assert [(k.purpose, k.period, k.id) for k in destroyed] == [("answers", month_of(now), doomed.id)]
        # The old row version holding the wrapped key is gone from the files: SQLite rewrote the page with
        # secure_delete and truncated the WAL; PostgreSQL's VACUUM FULL rewrote data_keys.
        assert done.scrubbed.startswith(
            "SQLite WAL checkpointed" if _sqlite(db_url) else "PostgreSQL: data_keys rewritten"
        )
        assert wrapped not in await _files(service.db)
        # The answers are gone: read back, each says so.
        async with service.db.sessions() as session:
            with pytest.raises(CellExpired) as expired:
                await verifications.results(session, vid)
            wrapped = await session.execute(text("SELECT wrapped FROM data_keys WHERE id = :k"), {"k": destroyed[0].id})
            kinds = (await session.execute(text("SELECT kind FROM audit_entries"))).scalars().all()
        assert expired.value.reason is Reason.ANSWER_EXPIRED and wrapped.scalar_one() is None
        assert kinds.count("DATA_KEY_DESTROYED") == 1
        # The report, sealed under a rows key, still reads.
        assert await service.reports.get(f"{created.name}/reports/1") == report
    # The log verifies and says why those answers were not checked: their key was destroyed, as the log records.
    assert answers >= 2  # the sandbox's departments that answered, each answer under this month's answers key
    code, out = await verify(log)
    assert code == 0 and "audit log intact" in out, out
    assert f"; {answers} department answers expired (data key destroyed by retention)" in out, out
    assert "not at hand" not in out, out
    code, out = await hedui("retention", "run", "--config", str(log.config))
    assert code == 0 and "nothing destroyed" in out, out


_ANSWERS_KEY = text("SELECT id, wrapped FROM data_keys WHERE purpose = 'answers' AND period = :p")
# The rows holding an answer (all sealed this month, under its answers key): each is one expired answer.
_SEALED_ANSWERS = text(
    "SELECT count(*) FROM department_results WHERE records_json LIKE 'hs1.%' OR not_queried_json LIKE 'hs1.%'"
)


def _sqlite(url: str) -> bool:
    return url.startswith("sqlite")


async def _files(db: Database) -> bytes:
    """The bytes of the database's files holding ``data_keys``: SQLite's file and WAL, or PostgreSQL's relation
    file of the table (after a checkpoint, so what the buffers hold is on disk)."""
    if _sqlite(db.url):
        path = make_url(db.url).database or ""
        return _read([path, f"{path}-wal"])
    async with db.engine.connect() as connection:
        await connection.execute(text("CHECKPOINT"))
        where = text("SELECT current_setting('data_directory'), pg_relation_filepath('data_keys')")
        directory, relation = (await connection.execute(where)).one()
    return _read([f"{directory}/{relation}", *(f"{directory}/{relation}.{n}" for n in range(1, 4))])


def _read(paths: list[str]) -> bytes:
    """The bytes of those of ``paths`` that exist, one after the other."""
    return b"".join(Path(p).read_bytes() for p in paths if Path(p).exists())


class _Opener:
    """A cell opener whose cells say what to do: ``gone:K`` (key K destroyed), ``away`` (key not at hand), ``bad``."""

    def __call__(self, table: str, column: str, row: str, stored: Any) -> Any:
        if isinstance(stored, str) and stored.startswith("gone:"):
            raise CellKeyDestroyed("destroyed", stored.removeprefix("gone:"))
        if stored == "away":
            raise LookupError("its master key is not at hand")
        if stored == "bad":
            raise ValueError("edited")
        return stored


class _Result(dict[str, Any]):
    """A department_results row, by attribute and by ``_mapping``."""

    def __getattr__(self, name: str) -> Any:
        return self[name]

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(self)


def _answer(cell: str) -> _Result:
    return _Result(
        verification_id="v", department="d", status="ANSWERED", detail="", records_json=cell, not_queried_json=None
    )


def test_audit_verify_tells_expired_answers_from_keys_not_at_hand_and_edited_cells() -> None:
    """Expired (destroyed, and the log says so) and not at hand are counted, not failed; destroyed without a
    DATA_KEY_DESTROYED entry, and a cell that does not open, are problems."""
    ledger = BoundLedger(_Opener())
    ledger.take({"kind": "DATA_KEY_DESTROYED", "details": {"key_id": "k1"}})
    assert ledger._opened_answer(_answer("gone:k1")) == (None, None)
    assert (ledger.expired, ledger.unopened) == (1, 0)
    assert ledger._opened_answer(_answer("away")) == (None, None)
    assert (ledger.expired, ledger.unopened) == (1, 1)
    row, problem = ledger._opened_answer(_answer("gone:k2"))  # no entry says k2 was destroyed
    assert row is None and isinstance(problem, CellKeyDestroyed) and problem.key_id == "k2"
    row, problem = ledger._opened_answer(_answer("bad"))
    assert row is not None and problem == "its sealed answer does not open (edited)"
    report = _Result(id="r", verification_id="v", version=1, body_json="gone:k1")
    row, problem = ledger._opened_report(report)  # a report's key is never destroyed by retention
    assert problem == "its data key k1 was destroyed (retention destroys answers' keys only)"
    assert (ledger.expired, ledger.unopened) == (1, 1)


@pytest.mark.postgres
async def test_the_service_role_is_told_to_have_the_owner_vacuum_data_keys(postgres: PostgresCluster) -> None:
    """The service's own role may not VACUUM FULL data_keys (it does not own it): the scrub says what to run."""
    owner_url = postgres.create_database()
    role = f"hedui_service_{uuid.uuid4().hex[:8]}"
    owner = Database(owner_url)
    try:
        await owner.migrate()
        async with owner.engine.begin() as connection:
            await connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        await owner.grant_service_role(role)
        assert (
            await scrub(owner.engine)
            == "PostgreSQL: data_keys rewritten (VACUUM FULL): no dead row version holds a destroyed key"
        )
    finally:
        await owner.close()
    service = Database(owner_url.replace("postgres@", f"{role}@"))
    try:
        said = await scrub(service.engine)
    finally:
        await service.close()
    assert said == "PostgreSQL: not the owner of data_keys: run `VACUUM FULL data_keys` as its owner"


@pytest.mark.postgres
async def test_a_transaction_older_than_the_destruction_is_waited_for_then_named(
    postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncpg

    from verifier.storage.sealing import _retention

    monkeypatch.setattr(_retention, "_OLD_SNAPSHOT_WAIT_SECONDS", 0.3)
    url = postgres.create_database()
    db = Database(url)
    await db.migrate()
    older = await asyncpg.connect(url)
    try:
        reading = older.transaction(isolation="repeatable_read")
        await reading.start()
        await older.fetchval("SELECT count(*) FROM alembic_version")  # a snapshot from before: it could see old rows
        said = await scrub(db.engine)
        assert "a transaction older than the destruction was still open" in said and "again" in said
        await reading.rollback()
        assert await scrub(db.engine) == (
            "PostgreSQL: data_keys rewritten (VACUUM FULL): no dead row version holds a destroyed key"
        )
    finally:
        await older.close()
        await db.close()
