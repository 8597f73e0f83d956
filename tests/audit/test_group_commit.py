"""Group commit: concurrent appends share transactions, and nobody is told an unwritten event was recorded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import AuditEvent
from audit.group import GroupCommit
from audit.log import AuditLog, audit_entries, audit_pending
from verifier.storage.db import Database


def read(i: int) -> AuditEvent:
    return AuditEvent(kind="REPORT_READ", operator=f"op-{i}", verification=f"v{i}")


async def count(db: Database) -> tuple[int, int]:
    async with db.sessions() as session:
        entries = (await session.execute(select(func.count()).select_from(audit_entries))).scalar_one()
        pending = (await session.execute(select(func.count()).select_from(audit_pending))).scalar_one()
    return entries, pending


async def test_concurrent_appends_share_commits_and_all_land(db_url: str) -> None:
    db = Database(db_url)
    await db.migrate()
    try:
        group = GroupCommit(AuditLog(b"k" * 32), db.write, max_batch=100)
        await asyncio.gather(*(group.append(read(i), ["110101199003077777"]) for i in range(500)))
        # 500 callers, at most 100 events a commit: at least 5 commits, far fewer than 500.
        assert 5 <= group.commits < 50
        assert await count(db) == (500, 500)
        async with db.sessions() as session:
            rows = (await session.execute(select(audit_entries.c.operator, audit_entries.c.subjects))).all()
        assert {r.operator for r in rows} == {f"op-{i}" for i in range(500)}
        assert all("110101199003077777" not in r.subjects for r in rows)
    finally:
        await db.close()


async def test_a_failed_commit_fails_every_caller_in_its_group_and_writes_nothing(db_url: str) -> None:
    db = Database(db_url)
    await db.migrate()
    calls = 0

    @contextlib.asynccontextmanager
    async def failing_commit() -> AsyncIterator[AsyncSession]:
        nonlocal calls
        calls += 1
        async with db.write() as session:
            yield session
            if calls == 1:
                raise ConnectionError("disk full")  # rolls the transaction back

    try:
        group = GroupCommit(AuditLog(b"k" * 32), failing_commit, max_batch=1000)
        results = await asyncio.gather(*(group.append(read(i)) for i in range(20)), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results), results
        assert await count(db) == (0, 0)
        await group.append(read(99))  # the next group commits normally
        assert await count(db) == (1, 1)
    finally:
        await db.close()


async def test_caller_returns_only_after_its_event_is_committed(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/g.db")
    await db.migrate()
    gate = asyncio.Event()

    @contextlib.asynccontextmanager
    async def slow_commit() -> AsyncIterator[AsyncSession]:
        async with db.write() as session:
            yield session
            await gate.wait()

    try:
        group = GroupCommit(AuditLog(b"k" * 32), slow_commit)
        caller = asyncio.create_task(group.append(read(1)))
        await asyncio.sleep(0.05)
        assert not caller.done()
        gate.set()
        await asyncio.wait_for(caller, 5)
        assert await count(db) == (1, 1)
    finally:
        await db.close()
