"""verifier.pipeline.writes: a write transaction runs to its end though the task that began it is cancelled,
and the database stays writable afterwards (no connection dropped holding SQLite's write lock)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from verifier.pipeline.writes import Writes
from verifier.storage import authorizations
from verifier.storage.db import Database
from verifier.storage.models import ConsentEpochRow


async def test_a_cancelled_caller_does_not_cut_its_transaction_short(db: Database) -> None:
    writes = Writes()
    inside = asyncio.Event()
    go_on = asyncio.Event()

    async def bump_twice() -> None:
        async with db.write() as session:
            await authorizations.bump_consent_epoch(session)
            inside.set()
            await go_on.wait()  # the caller is cancelled here, mid-transaction
            await authorizations.bump_consent_epoch(session)

    caller = asyncio.ensure_future(writes.run(bump_twice))
    await inside.wait()
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    assert caller.cancelled()
    go_on.set()
    await writes.drain()
    async with db.write() as session:  # writable at once: nothing holds the write lock
        await authorizations.bump_consent_epoch(session)
    async with db.sessions() as session:
        assert await session.scalar(select(ConsentEpochRow.value)) == 3


async def test_drain_returns_once_nothing_is_running(db: Database) -> None:
    writes = Writes()
    await writes.drain()  # nothing started: returns at once
    assert await writes.run(lambda: asyncio.sleep(0, result=7)) == 7
    await writes.drain()
