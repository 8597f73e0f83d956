"""Fresh test databases get the migrated schema replayed from one template instead of every migration again.

Running the twelve migrations on an empty database took 0.6-1.7 s on the 2-core CI machine, and the suite starts
well over a thousand services on fresh databases: most of its time. Django's test runner clones its migrated test
database for the same reason. Here the clone is made inside the migrating connection, so a test still sees what
``Database.migrate()`` does (one transaction, nothing when the schema is already there, the same schema after):

- SQLite: the template's ``sqlite_master`` statements (tables, then indexes, triggers and views) and its rows,
  read from a file migrated once a process by the real migrations;
- PostgreSQL: ``pg_dump --inserts`` of a database migrated once a cluster, without its session settings.

Only empty databases take the replay; a database at an older revision runs the real migrations, and the migration
tests call Alembic directly. ``tests/verifier/storage/test_template_schema.py`` checks that the replayed schema is
the migrated one on both databases.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Connection, create_engine, text

from verifier.storage import db as storage_db

__all__ = ["install", "migrate_for_real", "postgres_template", "sqlite_template"]

_ORDER = {"table": 0, "index": 1, "trigger": 2, "view": 3}
_SESSION_SETTING = re.compile(r"^(SET |SELECT pg_catalog\.set_config\()")
_real_run_migrations: Callable[[Connection], None] = storage_db.run_migrations
_sqlite: list[tuple[str, dict[str, object]]] | None = None
_postgres: dict[int, list[str]] = {}


def sqlite_template() -> list[tuple[str, dict[str, object]]]:
    """The statements (with parameters) that make an empty SQLite file what the migrations make it; once a process."""
    global _sqlite
    if _sqlite is None:
        path = Path(tempfile.mkdtemp(prefix="hedui-template-")) / "template.db"
        engine = create_engine(f"sqlite:///{path}")
        try:
            with engine.begin() as connection:
                _real_run_migrations(connection)
            with engine.connect() as connection:
                objects = connection.execute(
                    text("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")
                ).all()
                statements: list[tuple[str, dict[str, object]]] = [
                    (sql, {}) for kind, _, sql in sorted(objects, key=lambda o: (_ORDER[o[0]], o[1]))
                ]
                for kind, name, _ in objects:
                    if kind != "table":
                        continue
                    rows = connection.execute(text(f'SELECT * FROM "{name}"')).mappings().all()
                    for row in rows:
                        names = ", ".join(f'"{column}"' for column in row)
                        values = ", ".join(f":{column}" for column in row)
                        statements.append((f'INSERT INTO "{name}" ({names}) VALUES ({values})', dict(row)))
        finally:
            engine.dispose()
        _sqlite = statements
    return _sqlite


def postgres_template(
    port: int, url: Callable[[str], str], bin_dir: Path, as_postgres: Callable[[Sequence[str]], list[str]]
) -> None:
    """Migrate a template database on the cluster at ``port`` and keep its dump's statements for the replay."""
    from verifier.storage.db import Database

    name = "hedui_template"
    subprocess.run(
        as_postgres([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name]),
        check=True,
        capture_output=True,
    )

    async def migrate() -> None:
        database = Database(url(name))
        try:
            await database.migrate()
        finally:
            await database.close()

    asyncio.run(migrate())
    where = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    dump = subprocess.run(
        as_postgres([str(bin_dir / "pg_dump"), *where, "--no-owner", "--no-privileges", "--inserts", name]),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    _postgres[port] = _statements(dump)


def _statements(dump: str) -> list[str]:
    """The dump's statements one by one (split at a ``;`` ending a line outside a dollar-quoted body), without
    comments, psql meta-commands and the session settings ``pg_dump`` puts first (a pooled connection keeps its
    own)."""
    statements: list[str] = []
    current: list[str] = []
    quoted = False
    for line in dump.splitlines():
        # pg_dump 15.14 and later also writes psql meta-commands (\\restrict, \\unrestrict): not SQL.
        if not current and (not line.strip() or line.startswith(("--", "\\"))):
            continue
        current.append(line)
        quoted ^= (line.count("$$") + line.count("$_$")) % 2 == 1
        if not quoted and line.rstrip().endswith(";"):
            statement = "\n".join(current)
            current = []
            if not _SESSION_SETTING.match(statement):
                statements.append(statement)
    return statements


def _replayed(connection: Connection) -> bool:
    """Replay the template on ``connection`` when its database is empty; whether it did."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        if connection.execute(text("SELECT count(*) FROM sqlite_master")).scalar():
            return False
        for statement, parameters in sqlite_template():
            connection.execute(text(statement), parameters)
        return True
    if dialect == "postgresql":
        port = connection.engine.url.port
        if port not in _postgres:
            return False
        tables = "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'"
        if connection.execute(text(tables)).scalar():
            return False
        for statement in _postgres[port]:
            connection.exec_driver_sql(statement)
        return True
    return False


def _run_migrations(connection: Connection) -> None:
    """``run_migrations`` as the tests run it: the template on an empty database, else the real migrations."""
    if not _replayed(connection):
        _real_run_migrations(connection)


def migrate_for_real(connection: Connection) -> None:
    """Every migration, as ``hedui`` runs them, whatever the database holds (to compare the replay with)."""
    _real_run_migrations(connection)


def install() -> None:
    """From now on in this process, ``Database.migrate()`` replays the template on empty databases."""
    storage_db.run_migrations = _run_migrations
