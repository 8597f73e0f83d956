"""SQLite statements run on the event loop's own thread; commits, and waits for another process's lock, in a worker.

aiosqlite hands every statement to a thread of its own and back: on this machine that hop costs about 0.4 ms
a statement through SQLAlchemy (``SELECT`` of one row by key: 0.47 ms, against 0.056 ms run in place),
while SQLite answers such a statement in microseconds. A verification makes about 25 statements, so the hop
was most of its latency and half its CPU. This connection keeps aiosqlite's interface (SQLAlchemy's aiosqlite
dialect drives it through ``create_async_engine(async_creator=…)``, a documented hook) and runs each statement
at once, with SQLite's busy timeout at zero so that no statement can block the loop waiting for a lock:

- a statement that finds the database locked by another process (``SQLITE_BUSY``) is run again in a worker
  thread, which waits up to ``busy_seconds`` as SQLite's busy timeout would have;
- ``COMMIT`` (which syncs the write-ahead log to disk, milliseconds on a slow disk) runs in a worker thread.

Work handed to a thread is waited for even when the awaiting task is cancelled (once or more), and closing the
connection waits for it, so the connection is never used by two threads at once; a wait for a lock whose caller
has gone ends within a slice (0.1 s). A write transaction begins with ``BEGIN IMMEDIATE``
(:meth:`InlineConnection.begin_immediate`, called by ``Database.write``), so what it reads is the latest. A long
read does block the loop while it runs: the server's reads are pages, except the audit tree's catching up with
the stored leaves when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

__all__ = ["InlineConnection", "inline_connector"]

T = TypeVar("T")
# SQLITE_BUSY_SNAPSHOT: a read transaction cannot become a write one; waiting does not help (no busy handler runs).
_BUSY_SNAPSHOT = 517
# How long one slice of a wait for another connection's lock lasts (SQLite's busy timeout in the worker).
_SLICE_MS = 100


def _locked(error: sqlite3.OperationalError) -> bool:
    """Whether ``error`` is SQLITE_BUSY that waiting can clear: another connection holds the lock."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY and code != _BUSY_SNAPSHOT


class _Cursor:
    """aiosqlite's cursor interface over a :class:`sqlite3.Cursor` of an :class:`InlineConnection`."""

    def __init__(self, connection: InlineConnection) -> None:
        """A new cursor of ``connection``."""
        self._connection = connection
        self._cursor = connection.raw.cursor()

    async def __aenter__(self) -> _Cursor:
        """The cursor itself (SQLAlchemy enters every cursor it makes)."""
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Close the cursor."""
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> _Cursor:
        """Run one statement (in place; in a worker while another process holds the lock)."""
        await self._connection.run(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> _Cursor:
        """Run one statement for each set of parameters."""
        rows = list(parameters)  # a retry must see the same parameters again
        await self._connection.run(self._cursor.executemany, sql, rows)
        return self

    async def fetchall(self) -> list[Any]:
        """Every row left."""
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        """The next row, or ``None``."""
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to ``size`` rows (the cursor's ``arraysize`` if not given)."""
        return self._cursor.fetchmany(size or self._cursor.arraysize)

    async def close(self) -> None:
        """Close the cursor."""
        self._cursor.close()

    @property
    def description(self) -> Any:
        """The result's columns, as DB-API describes them."""
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        """The rowid of the last inserted row."""
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        """How many rows :meth:`fetchmany` fetches by default."""
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        """Set :attr:`arraysize`."""
        self._cursor.arraysize = value


class _Now:
    """Stands in for aiosqlite's queue to its thread: SQLAlchemy puts a (future, function) pair on it to set the
    isolation level; the function runs at once."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        """Run the function, resolve the future with its result or its exception."""
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class InlineConnection:
    """A :class:`sqlite3.Connection` with aiosqlite's awaitable interface, statements run in place."""

    def __init__(self, raw: sqlite3.Connection, busy_seconds: float) -> None:
        """Wrap ``raw`` (opened with ``check_same_thread=False``); a lock held elsewhere is waited for up to
        ``busy_seconds`` (in a worker thread)."""
        self.raw = raw
        self._busy_seconds = max(0.0, busy_seconds)
        self._set_busy_timeout(0)
        # The worker's work while one has it (nothing else may touch the connection then), and whether its
        # caller has gone (a wait for a lock then ends at the next slice).
        self._working: asyncio.Future[Any] | None = None
        self._abandoned = False
        self._closing = False
        # The attribute names SQLAlchemy's aiosqlite adapter reads.
        self._conn = raw
        self._connection: sqlite3.Connection | None = raw
        self._tx = _Now()

    def _set_busy_timeout(self, milliseconds: int) -> None:
        """Set SQLite's busy timeout on the connection."""
        self.raw.execute(f"PRAGMA busy_timeout={int(milliseconds)}")

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in place; run again in a worker, waiting for the lock, if the database is locked."""
        try:
            return function(*args)
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or self._busy_seconds == 0:
                raise
        return await self._in_worker(self._waiting, function, *args)

    def _waiting(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` waiting for another connection's lock (in a worker thread): in slices of
        :data:`_SLICE_MS`, so that a caller who has gone stops the wait within one (SQLite's own busy wait
        cannot be interrupted), until ``busy_seconds`` have passed — then SQLite's "database is locked"."""
        deadline = time.monotonic() + self._busy_seconds
        self._set_busy_timeout(_SLICE_MS)
        try:
            while True:
                try:
                    return function(*args)
                except sqlite3.OperationalError as exc:
                    if not _locked(exc) or self._abandoned or time.monotonic() >= deadline:
                        raise
        finally:
            self._set_busy_timeout(0)

    async def _in_worker(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` in a worker thread. Nothing else uses the connection meanwhile: a caller who
        is cancelled (once or more) still waits for the work to end, and tells a wait for a lock to give up."""
        work: Awaitable[T] = asyncio.get_running_loop().run_in_executor(None, function, *args)
        future = asyncio.ensure_future(work)
        self._working, self._abandoned = future, False
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            self._abandoned = True
            while not future.done():
                with contextlib.suppress(asyncio.CancelledError):  # a second cancellation ends no wait either
                    await asyncio.wait([future])
            if not future.cancelled():
                future.exception()  # the caller has gone: what the work raised is retrieved, not logged at exit
            raise
        finally:
            self._working = None
            if self._closing:
                self._close_now()

    def cursor(self) -> _Cursor:
        """A new cursor."""
        return _Cursor(self)

    async def commit(self) -> None:
        """Commit: in a worker thread, as it syncs the log to disk; nothing to do when nothing was written (the
        sqlite3 module begins a transaction only before the first change)."""
        if self.raw.in_transaction:
            await self._in_worker(self._committed)

    def _committed(self) -> None:
        """Commit (in a worker thread); should the database be locked, wait for it as statements do."""
        try:
            self.raw.commit()
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or self._busy_seconds == 0:
                raise
            self._waiting(self.raw.commit)

    async def begin_immediate(self) -> None:
        """Begin a transaction that holds the write lock from its first statement on (waiting for another
        process's writer as statements do): what it reads is then the latest, and no other writer commits
        before it does."""
        if not self.raw.in_transaction:
            await self.run(self.raw.execute, "BEGIN IMMEDIATE")

    async def rollback(self) -> None:
        """Roll back (in place: SQLite discards the transaction's pages without touching the disk)."""
        await self.run(self.raw.rollback)

    async def close(self) -> None:
        """Close the connection (once a worker that has it is done with it)."""
        self._close_when_free()

    def stop(self) -> None:
        """Close the connection at once, or as soon as a worker that has it is done (SQLAlchemy's terminate)."""
        self._close_when_free()

    def _close_when_free(self) -> None:
        """Close now, unless a worker has the connection: then when it is done (see :meth:`_in_worker`)."""
        self._connection = None
        if self._working is None:
            self._close_now()
        else:
            self._closing = True
            self._abandoned = True

    def _close_now(self) -> None:
        """Close the sqlite3 connection."""
        self._closing = False
        self.raw.close()

    @property
    def isolation_level(self) -> str | None:
        """The sqlite3 module's isolation level (``""``: it begins a transaction before the first change)."""
        return self.raw.isolation_level

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        """Register an SQL function."""
        self.raw.create_function(*args, **kwargs)


def inline_connector(url: str, busy_seconds: float) -> Callable[[], Awaitable[InlineConnection]]:
    """The ``async_creator`` for a SQLite URL: opens the database as SQLAlchemy's pysqlite dialect would (the
    URL's file, ``uri`` and options) and wraps it."""
    parsed = make_url(url)
    args, options = parsed.get_dialect()().create_connect_args(parsed)
    options = {**options, "check_same_thread": False, "timeout": 0}
    open_database: Callable[..., sqlite3.Connection] = sqlite3.connect

    async def connect() -> InlineConnection:
        """A new connection."""
        return InlineConnection(open_database(*args, **options), busy_seconds)

    return connect
