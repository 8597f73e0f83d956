"""audit.log.AuditLog appends: each entry queued for integration, in one statement on PostgreSQL, two on SQLite."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select
from statements import StatementCounter

from audit import AuditEvent, AuditLog
from audit.log import EntryMac, audit_entries, audit_pending
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


async def test_a_group_of_any_size_is_appended_in_order_in_few_statements(db: Database) -> None:
    """A group commit's batch: one statement on PostgreSQL (an array a column), three on SQLite (the newest seq,
    the entries, their queue rows), whatever its size; seq follows the order appended, after what the same
    transaction appended before it."""
    log = AuditLog(b"k" * 32)
    async with db.write() as session:
        await log.append(session, _read(0))
        with StatementCounter(db.engine) as counter:
            await log.append_many(session, [(_read(i), ()) for i in range(1, 1_001)])
    assert counter.count() == (1 if db.dialect == "postgresql" else 3), counter.summary()
    entries, pending = await _queued(db)
    assert [operator for _, operator in entries] == [f"op-{i}" for i in range(1_001)]
    assert pending == [seq for seq, _ in entries]


def test_the_entry_mac_is_hmac_sha256_under_the_key() -> None:
    for size in (16, 32, 64, 65, 100):
        key = bytes(range(size))
        mac = EntryMac(key)
        for entry in (b"", b"{}", b"x" * 1000):
            assert mac.mac(entry) == hmac.new(key, entry, hashlib.sha256).digest()
            assert mac.check(entry, hmac.new(key, entry, hashlib.sha256).digest())
            assert not mac.check(entry, hmac.new(key + b"!", entry, hashlib.sha256).digest())
