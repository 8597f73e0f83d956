"""Database engines, sessions and migrations (Alembic, applied on start)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

__all__ = ["Database", "async_url", "run_migrations"]

MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """Map plain URLs to the async drivers: sqlite → aiosqlite, postgresql → asyncpg."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def run_migrations(connection: Connection) -> None:
    """Upgrade the schema to the newest revision on an open connection."""
    command.upgrade(_alembic_config(connection), "head")


class Database:
    """An async engine with its session factory; SQLite gets WAL and foreign keys."""

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(
            # Never echo statement parameters into errors or logs: they hold identity numbers.
            self.url,
            pool_pre_ping=self.dialect != "sqlite",
            hide_parameters=True,
        )
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction. On SQLite, one writer at a time in this process: SQLite allows one
        writer anyway, and queueing here is far cheaper than SQLite's busy-wait back-off."""
        lock = self._lock if self.dialect == "sqlite" else contextlib.nullcontext()
        async with lock, self.sessions.begin() as session:
            yield session

    async def migrate(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(run_migrations)

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
