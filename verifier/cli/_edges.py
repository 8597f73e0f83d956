"""A command that cannot open, create or write its database or its key files stops before it leaves anything.

The commands that create (``hedui serve``, ``hedui verify``, ``hedui keys add``, ``hedui db migrate``) first
probe the database as they will use it — a SQLite file is created, written and removed again if it was new, a
PostgreSQL server is asked one question — and only then create the key files that are missing; whatever fails
is one line naming the database or the file, and the files and directories this command made are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from verifier.errors import database_failure
from verifier.storage.db import Database

__all__ = ["CannotCreate", "creating", "open_then_create", "probe_database"]

T = TypeVar("T")


class CannotCreate(Exception):
    """The database or a key file cannot be opened, created or written; the message is one line for the user."""


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and the directories above it that do not exist yet, outermost last."""
    made = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        made.append(candidate)
    return made


def _remove(paths: list[Path]) -> None:
    """Remove what this command made (files and directories), innermost first; what cannot go is left."""
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


@contextlib.contextmanager
def creating(paths: list[Path]) -> Iterator[None]:
    """Within the block ``paths`` may be created; if the block fails, those that did not exist before go again."""
    before = [ancestor for path in paths for ancestor in _missing_ancestors(path)]
    try:
        yield
    except BaseException:
        _remove(sorted(set(before), key=lambda p: len(p.parts), reverse=True))
        raise


def _sqlite(path: Path) -> None:
    """Create (or open) the SQLite file and take its write lock once: a directory or file that cannot be made,
    a read-only file or a full disk fail here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        connection.execute(f"PRAGMA user_version = {int(version)}")  # a real write of the header
        connection.execute("COMMIT")
    finally:
        connection.close()


async def _server(url: str) -> None:
    """One question to a PostgreSQL server."""
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        async with db.sessions() as session:
            await session.execute(text("SELECT 1"))
    finally:
        await db.close()


def _holds_log(url: str) -> bool:
    """Whether the database of ``url`` holds audit entries already (a schema without the table holds none)."""
    query = "SELECT 1 FROM audit_entries LIMIT 1"
    path = _sqlite_file(url)
    if path is not None:
        if not path.is_file():
            return False
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error:
            return False  # what cannot be read here fails, with its own message, where it is opened
        try:
            return connection.execute(query).fetchone() is not None
        except sqlite3.Error:
            return False  # no such table: a new database
        finally:
            connection.close()
    if make_url(url).get_backend_name() != "postgresql":
        return False

    async def holds() -> bool:
        """The question, asked of the server."""
        db = Database(url, pool_size=1, max_overflow=0)
        try:
            async with db.sessions() as session:
                return (await session.execute(text(query))).first() is not None
        except DBAPIError:
            return False  # no such table: a new database
        finally:
            await db.close()

    return asyncio.run(holds())


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (``None``: in memory, or not SQLite)."""
    parsed = make_url(url)
    name = parsed.database
    return Path(name) if parsed.get_backend_name() == "sqlite" and name not in (None, "", ":memory:") else None


def _probe(url: str) -> None:
    """The database of ``url`` can be opened and written (a SQLite file is created), else :class:`CannotCreate`."""
    path = _sqlite_file(url)
    if path is not None:
        try:
            _sqlite(path)
        except (OSError, sqlite3.Error) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise CannotCreate(f"database {path}: cannot open or create it ({why})") from None
    elif make_url(url).get_backend_name() == "postgresql":
        try:
            asyncio.run(_server(url))
        except Exception as exc:
            if database_failure(exc) is not None:  # as every command says it (verifier.cli._common)
                raise CannotCreate(
                    f"database: busy or out of reach ({type(exc).__name__}); try again in a moment"
                ) from None
            where = make_url(url).render_as_string(hide_password=True)
            raise CannotCreate(f"database {where}: cannot connect ({type(exc).__name__})") from None


def probe_database(url: str) -> None:
    """The database of ``url`` can be opened and written, else :class:`CannotCreate`. A SQLite file that did not
    exist is created, written and removed again (with the directories made for it): the command that needs it
    creates it for real, and a probe leaves nothing behind either way."""
    path = _sqlite_file(url)
    made = _missing_ancestors(path) if path is not None else []
    try:
        _probe(url)
    finally:
        if path is not None and made:
            _remove([Path(f"{path}-journal"), *made])


def open_then_create(url: str, key_files: list[Path], create: Callable[[], T]) -> T:
    """Probe the database (:func:`probe_database`), then ``create()`` the missing ``key_files``; whatever fails is
    :class:`CannotCreate` naming the database or the file, and the key files and the directories this made are
    removed again."""
    probe_database(url)
    if key_files and _holds_log(url):
        # New keys would sign the log's next head with another key (and MAC entries under it): a fork.
        raise CannotCreate(
            f"the database already holds an audit log, and its key files are not here ({key_files[0]}): give "
            "the service's --config (or restore its key files) rather than make new keys"
        )
    with creating(key_files):
        try:
            return create()
        except OSError as exc:
            failed = Path(exc.filename) if exc.filename else None
            key = next((k for k in key_files if failed is not None and (k == failed or failed in k.parents)), None)
            why = exc.strerror or str(exc)
            if key is None or failed is None:
                raise CannotCreate(f"key file: cannot create it ({why})") from None
            detail = why if failed == key else f"{failed}: {why}"
            raise CannotCreate(f"key file {key}: cannot create it ({detail})") from None
