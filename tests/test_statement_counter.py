"""The statement counter of tests/support/statements.py counts exactly what reaches the driver."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import insert, select, text
from statements import StatementCounter

from verifier.storage import verifications
from verifier.storage.db import Database
from verifier.storage.models import VerificationRow


def _values(verification_id: str) -> dict[str, object]:
    at = dt.datetime.now(dt.UTC)
    return {
        "id": verification_id,
        "request_id": None,
        "request_json": "{}",
        "authorizations_json": "[]",
        "commissioned_by": "org",
        "state": "RUNNING",
        "operator": "op",
        "client": "cl",
        "created_at": at,
        "updated_at": at,
        "latest_report_version": 0,
    }


async def test_counts_each_statement_once_by_phase_and_caller(
    db: Database, count_statements: Callable[[Database], StatementCounter]
) -> None:
    counter = count_statements(db)
    with counter.phase("write"):
        async with db.write() as session:
            # One INSERT of one row, then one executemany of three rows: two statements.
            await session.execute(insert(VerificationRow).values(**_values("v0")))
            await session.execute(insert(VerificationRow), [_values(f"v{i}") for i in (1, 2, 3)])
    with counter.phase("read"):
        async with db.sessions() as session:
            assert await verifications.get(session, "v2") is not None
            await session.execute(text("SELECT 1"))
    assert counter.count() == 4
    assert counter.by(lambda s: s.phase) == {"write": 2, "read": 2}
    assert counter.commits == 1
    assert counter.checkouts == 2
    assert [s.executemany for s in counter.statements] == [False, True, False, False]
    assert [s.verb for s in counter.statements] == [
        "INSERT verifications",
        "INSERT verifications",
        "SELECT verifications",
        "SELECT",
    ]
    # Across SQLAlchemy's greenlet: the hedui function that ran the statement is named.
    assert counter.statements[2].caller == "verifier/storage/verifications.py:get"
    assert counter.statements[3].caller == "?"
    assert "4 statements, 1 commits" in counter.summary()


async def test_counts_nothing_once_detached(db: Database) -> None:
    with StatementCounter(db.engine) as counter:
        async with db.sessions() as session:
            await session.execute(select(VerificationRow.id))
    async with db.sessions() as session:
        await session.execute(select(VerificationRow.id))
    assert counter.count() == 1
    counter.reset()
    assert (counter.count(), counter.commits, counter.checkouts) == (0, 0, 0)
