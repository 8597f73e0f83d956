"""Migration 0010 (issue 13, review S1) on a log that already holds entries: each gets the organisation it is of,
from its client's label or (made by no client) its details, on both databases; the log stays append-only, and
the downgrade removes the column and keeps it so."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from verifier.storage.db import Database, _alembic_config

INSERT = text(
    'INSERT INTO audit_entries (recorded_at, kind, operator, client, verification, "authorization", department,'
    " subjects, entry) VALUES ('2026-12-01 00:00:00+00', :kind, 'o', :client, '', '', '', '[]', :entry)"
)
ROWS = [  # (client, details, the organisation by hand)
    ("jinhe-case-system@533401-civil-affairs", {}, "533401-civil-affairs"),
    ("cli", {"organisation": "110101-civil-affairs", "keyid": "k"}, "110101-civil-affairs"),
    ("", {"organisation": "533402-civil-affairs", "client": "x"}, "533402-civil-affairs"),
    ("unknown sha256:0123456789abcdef", {"count": 3}, ""),
    ("others", {"organisation": 7}, ""),
]


def to(revision: str, down: bool = False) -> Any:
    """A run_sync step migrating to ``revision``."""

    def step(connection: Any) -> None:
        (command.downgrade if down else command.upgrade)(_alembic_config(connection), revision)

    return step


def columns(connection: Any) -> list[str]:
    """The columns of audit_entries."""
    return [c["name"] for c in inspect(connection).get_columns("audit_entries")]


async def test_existing_entries_get_their_organisation_and_stay_append_only(db_url: str) -> None:
    database = Database(db_url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(to("0009"))
            for client, details, _ in ROWS:
                entry = json.dumps({"client": client, "details": details}).encode()
                await connection.execute(INSERT, {"kind": "CALL_REFUSED", "client": client, "entry": entry})
        async with database.engine.begin() as connection:
            await connection.run_sync(to("head"))
            found = (await connection.execute(text("SELECT organisation FROM audit_entries ORDER BY seq"))).all()
        assert [row[0] for row in found] == [expected for _, _, expected in ROWS]
        with pytest.raises(DBAPIError, match="append-only"):
            async with database.engine.begin() as connection:
                await connection.execute(text("UPDATE audit_entries SET organisation = 'x'"))
        async with database.engine.begin() as connection:
            await connection.run_sync(to("0009", down=True))
            assert "organisation" not in await connection.run_sync(columns)
        with pytest.raises(DBAPIError, match="append-only"):
            async with database.engine.begin() as connection:
                await connection.execute(text("UPDATE audit_entries SET client = 'x'"))
    finally:
        await database.close()
