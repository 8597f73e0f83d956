"""Migration 0013 (issue 12, appends): audit_leaves loses its index on leaf_hash and keeps its rows, its
primary key and its one entry per leaf; the downgrade puts the index back. On both databases."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from verifier.storage.db import Database, _alembic_config

LEAF = text("INSERT INTO audit_leaves (leaf_index, entry_seq, leaf_hash) VALUES (:i, :seq, :leaf)")


def to(revision: str, down: bool = False) -> Any:
    """A run_sync step migrating to ``revision``."""

    def step(connection: Any) -> None:
        (command.downgrade if down else command.upgrade)(_alembic_config(connection), revision)

    return step


def indexes(connection: Any) -> dict[str, list[str]]:
    """The indexes of audit_leaves (by name: their columns); the unique entry_seq's may be a constraint instead."""
    found = {i["name"]: i["column_names"] for i in inspect(connection).get_indexes("audit_leaves")}
    found.update({c["name"]: c["column_names"] for c in inspect(connection).get_unique_constraints("audit_leaves")})
    return found


async def test_the_leaf_hash_index_goes_and_comes_back(db_url: str) -> None:
    database = Database(db_url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(to("0012"))
            assert (await connection.run_sync(indexes))["ix_audit_leaves_leaf_hash"] == ["leaf_hash"]
            await connection.execute(LEAF, {"i": 0, "seq": 1, "leaf": b"\x01" * 32})
        async with database.engine.begin() as connection:
            await connection.run_sync(to("head"))
            after = await connection.run_sync(indexes)
            rows = (await connection.execute(text("SELECT leaf_index, entry_seq, leaf_hash FROM audit_leaves"))).all()
        assert "ix_audit_leaves_leaf_hash" not in after
        assert ["leaf_hash"] not in after.values()
        assert ["entry_seq"] in after.values()  # the one leaf an entry has stays unique
        assert [(r[0], r[1], bytes(r[2])) for r in rows] == [(0, 1, b"\x01" * 32)]
        with pytest.raises(IntegrityError):
            async with database.engine.begin() as connection:
                await connection.execute(LEAF, {"i": 1, "seq": 1, "leaf": b"\x02" * 32})
        async with database.engine.begin() as connection:
            await connection.run_sync(to("0012", down=True))
            assert (await connection.run_sync(indexes))["ix_audit_leaves_leaf_hash"] == ["leaf_hash"]
    finally:
        await database.close()
