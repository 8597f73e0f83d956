"""verifier.storage.db.Database: the pool's size, overflow and timeout, from its arguments or the settings."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.pool import StaticPool

from verifier.config import Settings
from verifier.storage.db import Database


async def test_a_pool_gives_its_size_plus_overflow_then_refuses_after_its_timeout(db_url: str) -> None:
    db = Database(db_url, pool_size=1, max_overflow=1, pool_timeout=0.2)
    try:
        first = await db.engine.connect()
        second = await db.engine.connect()  # the one overflow connection
        started = time.monotonic()
        with pytest.raises(sa_exc.TimeoutError):
            await db.engine.connect()
        assert time.monotonic() - started >= 0.2
        await second.close()
        third = await db.engine.connect()  # given back: there is one again
        assert (await third.execute(text("SELECT 1"))).scalar_one() == 1
        await third.close()
        await first.close()
    finally:
        await db.close()


async def test_the_settings_size_the_pool(db_url: str) -> None:
    settings = Settings(
        database_url=db_url, database_pool_size=2, database_max_overflow=0, database_pool_timeout_seconds=0.25
    )
    db = Database.from_settings(settings)
    try:
        pool = db.engine.sync_engine.pool
        assert (pool.size(), pool.timeout()) == (2, 0.25)  # type: ignore[attr-defined]
        held = [await db.engine.connect(), await db.engine.connect()]
        with pytest.raises(sa_exc.TimeoutError):  # no overflow
            await db.engine.connect()
        for connection in held:
            await connection.close()
    finally:
        await db.close()


async def test_the_defaults_are_the_agreed_ones(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        pool = db.engine.sync_engine.pool
        assert (pool.size(), pool.timeout(), pool._max_overflow) == (10, 5.0, 20)  # type: ignore[attr-defined]
    finally:
        await db.close()


async def test_an_in_memory_sqlite_database_keeps_its_one_shared_connection() -> None:
    db = Database("sqlite://", pool_size=3, max_overflow=0, pool_timeout=0.1)
    try:
        assert isinstance(db.engine.sync_engine.pool, StaticPool)
        await db.migrate()
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        async with db.sessions() as session:  # the same connection: the table is there
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    finally:
        await db.close()


async def test_sqlite_writers_still_take_turns_in_a_pool(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}", pool_size=4, max_overflow=0, pool_timeout=5.0)
    inside, most = 0, 0

    async def writer(i: int) -> None:
        nonlocal inside, most
        async with db.write() as session:
            inside += 1
            most = max(most, inside)
            await session.execute(text("INSERT INTO t VALUES (:x)"), {"x": i})
            await asyncio.sleep(0.01)
            inside -= 1

    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        await asyncio.gather(*(writer(i) for i in range(8)))
        assert most == 1
        async with db.sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 8
    finally:
        await db.close()


async def test_reads_on_postgresql_run_outside_a_transaction_and_writes_inside_one(db_url: str) -> None:
    """``reading()``: no BEGIN … ROLLBACK around plain reads on PostgreSQL (each statement its own transaction,
    as READ COMMITTED reads anyway): between its statements the session's backend is idle, not idle in a
    transaction; a write transaction is still one transaction."""
    db, other = Database(db_url), Database(db_url)
    state = "SELECT state FROM pg_stat_activity WHERE pid = :pid"
    try:
        if db.dialect != "postgresql":
            assert (await _one(db, "SELECT 1")) == 1  # SQLite: a session as any other
            return
        for session_of, expected in ((db.reading, "idle"), (db.write, "idle in transaction")):
            async with session_of() as session:
                pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                async with other.reading() as watcher:
                    assert (await watcher.execute(text(state), {"pid": pid})).scalar_one() == expected
    finally:
        await db.close()
        await other.close()


async def _one(db: Database, statement: str) -> object:
    async with db.reading() as session:
        return (await session.execute(text(statement))).scalar_one()


async def test_a_pooled_connection_that_died_while_idle_is_replaced_before_use(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a connection idle past PING_AFTER_IDLE_SECONDS is pinged before it is handed out; one the database
    dropped meanwhile is replaced, and the caller never sees it."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite connections are files, never dropped by a server")
    monkeypatch.setattr("verifier.storage.db.PING_AFTER_IDLE_SECONDS", 0.05)
    db, other = Database(db_url, pool_size=1, max_overflow=0), Database(db_url)
    try:
        first = await _one(db, "SELECT pg_backend_pid()")
        async with other.write() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.sleep(0.2)
        second = await _one(db, "SELECT pg_backend_pid()")
        assert second != first
        assert await _one(db, "SELECT pg_backend_pid()") == second  # used moments ago: handed out as it is
    finally:
        await db.close()
        await other.close()
