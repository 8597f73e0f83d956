"""Migration 0008 (issue 13, review M1) on a database that already holds verifications: request ids become each
organisation's own, on both databases, and the downgrade restores the old constraint."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from verifier.storage.db import Database, _alembic_config

INSERT = text(
    "INSERT INTO verifications (id, request_id, request_json, authorizations_json, commissioned_by, state, operator,"
    " client, created_at, updated_at, latest_report_version) VALUES (:id, 'case-1', '{}', '[]', :org, 'RUNNING',"
    " 'o', 'c', '2026-12-01 00:00:00+00', '2026-12-01 00:00:00+00', 0)"
)


def to(revision: str, down: bool = False) -> Any:
    """A run_sync step migrating to ``revision``."""

    def step(connection: Any) -> None:
        (command.downgrade if down else command.upgrade)(_alembic_config(connection), revision)

    return step


def unique(connection: Any) -> list[list[str]]:
    """The unique constraints of verifications, as column lists."""
    return sorted(c["column_names"] for c in inspect(connection).get_unique_constraints("verifications"))


async def test_request_ids_become_each_organisations_own(db_url: str) -> None:
    database = Database(db_url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(to("0007"))
            await connection.execute(INSERT, {"id": "v1", "org": "533401-a"})
        with pytest.raises(IntegrityError):  # before 0008 the key is the whole table's
            async with database.engine.begin() as connection:
                await connection.execute(INSERT, {"id": "v2", "org": "533402-b"})
        async with database.engine.begin() as connection:
            await connection.run_sync(to("head"))
            assert await connection.run_sync(unique) == [["commissioned_by", "request_id"]]
            await connection.execute(INSERT, {"id": "v2", "org": "533402-b"})  # another organisation's: its own
        with pytest.raises(IntegrityError):  # within one organisation it is still one verification
            async with database.engine.begin() as connection:
                await connection.execute(INSERT, {"id": "v3", "org": "533401-a"})
        async with database.engine.begin() as connection:
            await connection.execute(text("DELETE FROM verifications WHERE id = 'v2'"))
            await connection.run_sync(to("0007", down=True))
            assert await connection.run_sync(unique) == [["request_id"]]
    finally:
        await database.close()
