"""The tests' fresh databases (tests/support/template_schema.py) hold exactly what the migrations make."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from harness import PG_BIN, PostgresCluster, _as_postgres
from sqlalchemy import text
from template_schema import migrate_for_real

from verifier.storage.db import Database

# The one value the replay does not keep: the free integrator lease's ``taken_at``, the time its migration ran
# (any time before now frees it the same way).
_when = re.compile(r"^(INSERT INTO public\.audit_signer VALUES \(1, '', )'[^']*'\);$")


async def _sqlite_contents(database: Database) -> list[tuple[object, ...]]:
    """Every schema object's statement and every row of every table."""
    async with database.engine.connect() as connection:
        objects = (await connection.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master"))).all()
        rows = []
        for kind, name, _, _ in objects:
            if kind == "table" and not name.startswith("sqlite_"):
                for row in (await connection.execute(text(f'SELECT * FROM "{name}"'))).all():
                    rows.append((name, *(row[:-1] if name == "audit_signer" else row)))  # not taken_at: see _when
    return sorted(map(tuple, objects), key=repr) + sorted(map(tuple, rows), key=repr)


async def test_a_fresh_sqlite_database_is_what_the_migrations_make(tmp_path: Path) -> None:
    replayed, migrated = Database(f"sqlite:///{tmp_path / 'a.db'}"), Database(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        await replayed.migrate()
        async with migrated.engine.begin() as connection:
            await connection.run_sync(migrate_for_real)
        expected = await _sqlite_contents(migrated)
        assert any(kind == "trigger" for kind, *_ in expected)  # the append-only triggers are in the comparison
        assert await _sqlite_contents(replayed) == expected
    finally:
        await replayed.close()
        await migrated.close()


def _dump(cluster: PostgresCluster, url: str) -> list[str]:
    """``pg_dump`` of the database at ``url``, without the lines that differ from one dump to the next."""
    name = url.rsplit("/", 1)[1]
    where = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"]
    out = subprocess.run(
        _as_postgres([str(PG_BIN / "pg_dump"), *where, "--inserts", name]), check=True, capture_output=True, text=True
    ).stdout
    lines = [line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))]
    return [_when.sub(r"\1'…');", line) for line in lines]


@pytest.mark.postgres
async def test_a_fresh_postgresql_database_is_what_the_migrations_make(postgres: PostgresCluster) -> None:
    replayed, migrated = Database(postgres.create_database()), Database(postgres.create_database())
    try:
        await replayed.migrate()
        async with migrated.engine.begin() as connection:
            await connection.run_sync(migrate_for_real)
    finally:
        await replayed.close()
        await migrated.close()
    expected = _dump(postgres, str(migrated.engine.url))
    assert any("CREATE TRIGGER" in line for line in expected)
    assert _dump(postgres, str(replayed.engine.url)) == expected
