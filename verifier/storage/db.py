"""Database engines, sessions and migrations (Alembic, applied on start)."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import QueuePool

from audit.log import metadata as audit_metadata
from verifier.storage._inline_sqlite import InlineConnection, inline_connector
from verifier.storage.models import Base

if TYPE_CHECKING:
    from alembic.config import Config

    from verifier.config import Settings

__all__ = ["Database", "MigrationFailed", "async_url", "run_migrations"]

MIGRATIONS = Path(__file__).parent / "migrations"
APPEND_ONLY_TABLES = frozenset({"audit_entries", "audit_leaves", "audit_tree_heads", "audit_refused"})
# How long a SQLite statement waits for another process's write lock before "database is locked".
SQLITE_BUSY_SECONDS = 10.0
_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Every commit synced to disk: durability is the point (a process killed or a machine that loses power keeps what
# it committed). The test suite alone sets NORMAL in its own process (tests/conftest.py), as its PostgreSQL
# cluster runs with fsync off: WAL mode keeps commits across a killed process either way.
SQLITE_SYNCHRONOUS = "FULL"
# A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out (see _ping_if_idle).
PING_AFTER_IDLE_SECONDS = 1.0


def async_url(url: str) -> str:
    """Map plain URLs to the async drivers: sqlite → aiosqlite, postgresql → asyncpg."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


class MigrationFailed(RuntimeError):
    """Alembic could not bring the schema to this code's newest migration (a revision newer than this code, a
    migration that failed): Alembic's own ``CommandError``, whose import every caller would otherwise pay."""


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config  # Alembic only when a schema changes (see migration_revisions)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _assigned(path: Path) -> dict[str, object]:
    """The constants a migration file assigns at module level (``revision = "0012"``, ``down_revision = …``)."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text("utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            values[target.id] = value.value
    return values


@functools.cache
def migration_revisions() -> tuple[str, frozenset[str]]:
    """The newest migration of this code and every revision it knows, once a process: read from the migration
    files' ``revision`` and ``down_revision`` constants, as Alembic reads them (a test compares with its
    ``ScriptDirectory``), because importing Alembic cost every command and server start about a fifth of its
    start-up. A chain that is not one plain line of constants is left to Alembic itself."""
    parent: dict[str, object] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        values = _assigned(path)
        if not isinstance(values.get("revision"), str) or "down_revision" not in values:  # e.g. a merge's tuple
            return _revisions_by_alembic()
        parent[str(values["revision"])] = values.get("down_revision")
    heads = set(parent) - set(parent.values())
    if len(heads) != 1 or not all(p is None or p in parent for p in parent.values()):
        return _revisions_by_alembic()
    return heads.pop(), frozenset(parent)


def _revisions_by_alembic() -> tuple[str, frozenset[str]]:
    """:func:`migration_revisions` as Alembic's ``ScriptDirectory`` tells them."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS))
    return scripts.get_current_head() or "", frozenset(script.revision for script in scripts.walk_revisions())


def migrations_head() -> str:
    """The newest migration of this code."""
    return migration_revisions()[0]


def at_head(connection: Connection) -> bool:
    """Whether the schema is already at :func:`migrations_head`: two statements instead of Alembic's set-up."""
    if not connection.dialect.has_table(connection, "alembic_version"):
        return False
    versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return list(versions) == [migrations_head()]


def run_migrations(connection: Connection) -> None:
    """Upgrade the schema to the newest revision on an open connection; nothing to do when it is there already
    (every start of a service and every admin command asks: Alembic's own check took ~0.2 s of loading files).
    ``MigrationFailed`` when Alembic refuses."""
    if at_head(connection):
        return
    from alembic import command
    from alembic.util.exc import CommandError

    try:
        command.upgrade(_alembic_config(connection), "head")
    except CommandError as exc:
        raise MigrationFailed(str(exc)) from exc


def _pool_options(url: str, pool_size: int, max_overflow: int, pool_timeout: float) -> dict[str, Any]:
    """The pool's limits for dialects whose default pool is a queue of connections.

    PostgreSQL (asyncpg) and a SQLite file (aiosqlite, SQLAlchemy 2.0.38 and later) pool a queue of
    connections; an in-memory SQLite database keeps its one shared connection (StaticPool), which takes none.
    """
    parsed = make_url(url)
    dialect = parsed.get_dialect()
    if not (issubclass(dialect, DefaultDialect) and issubclass(dialect.get_pool_class(parsed), QueuePool)):
        return {}
    return {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}


class Database:
    """An async engine with its session factory; SQLite gets WAL and foreign keys.

    ``pool_size`` connections are kept open, up to ``max_overflow`` more are opened under load, and a unit of
    work waits ``pool_timeout`` seconds for a connection before ``sqlalchemy.exc.TimeoutError`` (which the API
    answers as ``UNAVAILABLE``, reason ``DATABASE_BUSY``, to be retried). On SQLite a statement waits up to
    ``sqlite_busy_seconds`` for a lock another process holds ("database is locked", the same answer, after it).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 20,
        pool_timeout: float = 5.0,
        sqlite_busy_seconds: float = SQLITE_BUSY_SECONDS,
    ) -> None:
        self.url = async_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite statements run on the loop's thread, not through aiosqlite's (see verifier.storage._inline_sqlite).
        inline = {"async_creator": inline_connector(self.url, sqlite_busy_seconds)} if self.dialect == "sqlite" else {}
        self.engine: AsyncEngine = create_async_engine(
            # Never echo statement parameters into errors or logs: they hold identity numbers.
            self.url,
            hide_parameters=True,
            **_pool_options(self.url, pool_size, max_overflow, pool_timeout),
            **inline,
        )
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            _ping_if_idle(self.engine, PING_AFTER_IDLE_SECONDS)
        # Issue 17: what every session carries (the sealer of cells at rest: verifier.storage.sealing.install).
        self.session_info: dict[str, Any] = {}
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, class_=AsyncSession, info=self.session_info
        )
        # Plain reads on PostgreSQL without a transaction around them (see reading()).
        self._reads = self.sessions
        if self.dialect == "postgresql":
            reads = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            self._reads = async_sessionmaker(reads, expire_on_commit=False, class_=AsyncSession, info=self.session_info)
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database of ``settings``, with its pool's size, overflow and timeout."""
        return cls(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout_seconds,
        )

    def reading(self) -> AsyncSession:
        """A session for plain reads (``SELECT`` without ``FOR UPDATE``/``FOR SHARE``; never a write).

        On PostgreSQL its statements run outside a transaction: a session of :attr:`sessions` wraps them in
        ``BEGIN`` … ``ROLLBACK``, two more round trips for what is often one statement. Under PostgreSQL's
        ``READ COMMITTED`` (the default, and hedui's) each statement takes its own snapshot either way, so the
        reads see the same rows. Elsewhere it is a session of :attr:`sessions`.
        """
        return self._reads()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction. On SQLite, one writer at a time in this process (SQLite allows one writer
        anyway, and queueing here is far cheaper than SQLite's busy-wait back-off), holding the write lock from
        its start (``BEGIN IMMEDIATE``): what it reads — the consent epoch it confirms — is the latest, and no
        other process's writer commits before it does."""
        if self.dialect != "sqlite":
            async with self.sessions.begin() as session:
                yield session
            return
        async with self._lock, self.sessions.begin() as session:
            connection = await session.connection()
            inline = (await connection.get_raw_connection()).driver_connection
            if isinstance(inline, InlineConnection):
                try:
                    await inline.begin_immediate()
                except sqlite3.Error as exc:  # as SQLAlchemy wraps what its statements raise
                    raise DBAPIError.instance("BEGIN IMMEDIATE", None, exc, sqlite3.Error) from exc
            yield session

    async def migrate(self) -> None:
        """Upgrade the schema to the newest migration."""
        async with self.engine.begin() as connection:
            await connection.run_sync(run_migrations)

    async def grant_service_role(self, role: str) -> None:
        """PostgreSQL: let ``role`` run the service but never change or remove audit records.

        The tables belong to the migrating role; the service's role may read and insert everywhere,
        update and delete the service's working tables, and only take rows off the integration queue.
        """
        if self.dialect != "postgresql":
            raise ValueError("database roles exist on PostgreSQL only")
        if not _ROLE.fullmatch(role):
            raise ValueError(f"{role!r} is not a plain role name")
        tables = [t.name for t in (*Base.metadata.sorted_tables, *audit_metadata.sorted_tables)]
        statements = [
            f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"',
            f'GRANT USAGE ON SCHEMA public TO "{role}"',
        ]
        for table in tables:
            if table in APPEND_ONLY_TABLES:
                rights = "SELECT, INSERT"
            elif table == "audit_pending":
                rights = "SELECT, INSERT, DELETE"
            else:
                rights = "SELECT, INSERT, UPDATE, DELETE"
            statements.append(f'GRANT {rights} ON "{table}" TO "{role}"')
        statements += [
            f'GRANT SELECT ON alembic_version TO "{role}"',
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
        ]
        async with self.engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _ping_if_idle(engine: AsyncEngine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Ping a pooled connection before handing it out only if it sat idle for more than ``idle_seconds``.

    ``pool_pre_ping`` pings at every checkout: on PostgreSQL a round trip per unit of work (≈0.9 ms of this
    process's CPU a verification in bench_spine, several checkouts each). A connection used moments ago is alive
    as far as a ping could tell; one that sat idle (the database restarted meanwhile, a firewall dropped it) is
    pinged, and a dead one is replaced before anyone uses it (DisconnectionError: the pool connects anew). A
    connection that dies within the window fails its statement, which invalidates the pool, and the call is
    refused UNAVAILABLE with a retry (``DATABASE_BUSY``), as any statement cut off by the database is.
    """
    pool, dialect = engine.sync_engine.pool, engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        """Note when the connection went back to the pool."""
        record.info["hedui_idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """Ping a connection idle for long (a new one has just proven itself by connecting)."""
        since = record.info.get("hedui_idle_since")
        if since is None or time.monotonic() - since <= idle_seconds:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the pooled connection is gone") from exc
        if not alive:
            raise DisconnectionError("the pooled connection is gone")


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    """Foreign keys, the write-ahead log, and a synced commit (the busy timeout is the connection's own)."""
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    cursor.close()
