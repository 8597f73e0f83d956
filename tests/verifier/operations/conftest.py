"""A migrated, empty database of each kind (SQLite and PostgreSQL) for the operations' tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from verifier.storage.db import Database


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.migrate()
    try:
        yield database
    finally:
        await database.close()
