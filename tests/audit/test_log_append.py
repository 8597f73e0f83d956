"""audit.log.AuditLog appends: each entry queued for integration, in one statement on PostgreSQL, two on SQLite."""

from __future__ import annotations

from sqlalchemy import select
from statements import StatementCounter

from audit import AuditEvent, AuditLog
from audit.log import audit_entries, audit_pending
from verifier.storage.db import Database


def _read(i: int) -> AuditEvent:
    return AuditEvent(kind="REPORT_READ", operator=f"op-{i}", verification=f"v{i}")


async def _queued(db: Database) -> tuple[list[tuple[int, str]], list[int]]:
    async with db.sessions() as session:
        entries = (await session.execute(select(audit_entries.c.seq, audit_entries.c.operator))).all()
        pending = (await session.scalars(select(audit_pending.c.seq).order_by(audit_pending.c.seq))).all()
    return sorted((e.seq, e.operator) for e in entries), list(pending)


async def test_every_entry_appended_is_queued_in_as_few_statements_as_the_database_allows(db: Database) -> None:
    log = AuditLog(b"k" * 32)
    per_append = 1 if db.dialect == "postgresql" else 2
    with StatementCounter(db.engine) as counter:
        async with db.write() as session:
            first = await log.append(session, _read(0), ["110101199003077777"])
            await log.append_many(session, [(_read(i), ()) for i in (1, 2, 3)])
    assert counter.count() == 2 * per_append, counter.summary()
    entries, pending = await _queued(db)
    assert [operator for _, operator in entries] == ["op-0", "op-1", "op-2", "op-3"]
    assert pending == [seq for seq, _ in entries]
    assert first == entries[0][0]


async def test_a_large_batch_is_appended_whole(db: Database) -> None:
    log = AuditLog(b"k" * 32)
    async with db.write() as session:
        await log.append_many(session, [(_read(i), ()) for i in range(4_500)])
    entries, pending = await _queued(db)
    assert len(entries) == len(pending) == 4_500
    assert pending == [seq for seq, _ in entries]
    assert {operator for _, operator in entries} == {f"op-{i}" for i in range(4_500)}
