"""SQLite statements run on the event loop's thread; a lock held by another process is waited for in a worker, so
the loop keeps running, and a wait that lasts too long is SQLite's "database is locked"."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from verifier.errors import Reason, database_failure
from verifier.storage._inline_sqlite import InlineConnection
from verifier.storage.db import Database

pytestmark = pytest.mark.asyncio


async def _database(path: Path, busy_seconds: float = 10.0) -> Database:
    """A migrated SQLite database at ``path`` with one table for these tests."""
    db = Database(f"sqlite:///{path}", sqlite_busy_seconds=busy_seconds)
    async with db.write() as session:
        await session.execute(text("CREATE TABLE marks (n INTEGER PRIMARY KEY)"))
    return db


def _locker(path: Path) -> sqlite3.Connection:
    """Another connection (as another process would) holding the database's write lock."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


async def _ticks_while(work: asyncio.Future[None] | asyncio.Task[None]) -> int:
    """How many times a 10 ms ticker ran on the loop while ``work`` was under way."""
    ticks = 0
    while not work.done():
        await asyncio.sleep(0.01)
        ticks += 1
    return ticks


async def test_statements_run_on_the_loop_thread(tmp_path: Path) -> None:
    """The driver connection is the inline one, and a statement's SQL function runs on the caller's thread."""
    db = await _database(tmp_path / "a.db")
    threads: list[int] = []
    try:
        async with db.sessions() as session:
            connection = await session.connection()
            raw = (await connection.get_raw_connection()).driver_connection
            assert isinstance(raw, InlineConnection)
            raw.raw.create_function("where_am_i", 0, lambda: threads.append(threading.get_ident()) or 1)
            assert (await session.execute(text("SELECT where_am_i()"))).scalar() == 1
        assert threads == [threading.get_ident()]
    finally:
        await db.close()


async def test_a_write_waits_for_another_process_without_blocking_the_loop(tmp_path: Path) -> None:
    """While another connection holds the write lock, the write waits in a worker: the loop ticks on, and the
    write commits once the lock is released."""
    path = tmp_path / "b.db"
    db = await _database(path)
    other = _locker(path)
    try:

        async def write() -> None:
            async with db.write() as session:
                await session.execute(text("INSERT INTO marks (n) VALUES (1)"))

        task = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not task.done()  # still waiting for the lock
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, other.rollback)
        ticks = await _ticks_while(task)
        await task
        assert ticks >= 10  # the loop ran all along (0.2 s at 10 ms a tick, with room for a busy machine)
        async with db.sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM marks"))).scalar() == 1
    finally:
        other.close()
        await db.close()


async def test_a_lock_held_past_the_busy_timeout_is_database_busy(tmp_path: Path) -> None:
    """A write that cannot get the lock within the busy timeout fails as SQLite's "database is locked", which
    the service answers as DATABASE_BUSY (retry later), and leaves nothing written."""
    path = tmp_path / "c.db"
    db = await _database(path, busy_seconds=0.2)
    other = _locker(path)
    try:
        with pytest.raises(OperationalError) as raised:
            async with db.write() as session:
                await session.execute(text("INSERT INTO marks (n) VALUES (1)"))
        assert "database is locked" in str(raised.value.orig)
        mapped = database_failure(raised.value)
        assert mapped is not None and mapped.reason == Reason.DATABASE_BUSY
        other.rollback()
        async with db.sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM marks"))).scalar() == 0
    finally:
        other.close()
        await db.close()


async def test_a_cancelled_wait_leaves_the_connection_usable(tmp_path: Path) -> None:
    """A caller cancelled while its statement waits for the lock: the worker's wait ends first (nothing uses the
    connection from two threads), nothing is written, and the next write works."""
    path = tmp_path / "d.db"
    db = await _database(path, busy_seconds=0.5)
    other = _locker(path)
    try:

        async def write(n: int) -> None:
            async with db.write() as session:
                await session.execute(text("INSERT INTO marks (n) VALUES (:n)"), {"n": n})

        task = asyncio.create_task(write(1))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises((asyncio.CancelledError, OperationalError)):
            await task
        other.rollback()
        await write(2)
        async with db.sessions() as session:
            assert (await session.execute(text("SELECT n FROM marks"))).scalars().all() == [2]
    finally:
        other.close()
        await db.close()


async def test_a_cancelled_wait_ends_soon_even_cancelled_twice_while_the_lock_is_still_held(tmp_path: Path) -> None:
    """Cancelled twice (a call's deadline, then a shutdown) while its statement waits for another process's lock:
    the wait gives up within a slice although the lock is still held, the worker is done with the connection
    before the task ends (closing it then must not crash the process), and the database reads fine after."""
    path = tmp_path / "e.db"
    db = await _database(path, busy_seconds=30.0)
    other = _locker(path)
    try:

        async def write() -> None:
            async with db.write() as session:
                await session.execute(text("INSERT INTO marks (n) VALUES (1)"))

        task = asyncio.create_task(write())
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5.0)  # long before the 30 s busy timeout
        assert other.in_transaction  # the other connection still holds the lock
        await db.close()  # every pooled connection closed: no worker may still be using one
        other.rollback()
        db = Database(f"sqlite:///{path}")
        async with db.sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM marks"))).scalar() == 0
    finally:
        other.close()
        await db.close()


async def test_a_write_transaction_holds_the_write_lock_from_its_first_read(tmp_path: Path) -> None:
    """What a write transaction reads first (the consent epoch it confirms) cannot change before it commits: it
    begins with the write lock, so another process's writer waits (here, at busy timeout 0, is refused)."""
    path = tmp_path / "f.db"
    db = await _database(path)
    async with db.write() as session:
        await session.execute(text("INSERT INTO marks (n) VALUES (1)"))
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        async with db.write() as session:
            seen = (await session.execute(text("SELECT max(n) FROM marks"))).scalar()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("UPDATE marks SET n = n + 1")
            await session.execute(text("INSERT INTO marks (n) VALUES (:n)"), {"n": int(seen) + 1})
        other.execute("UPDATE marks SET n = n + 10")  # free again once it committed
        assert sorted(n for (n,) in other.execute("SELECT n FROM marks")) == [11, 12]
    finally:
        other.close()
        await db.close()
