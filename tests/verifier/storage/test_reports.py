"""verifier.storage.reports against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from statements import StatementCounter

from verifier.storage import reports as stored
from verifier.storage import verifications
from verifier.storage.db import Database
from verifier.storage.models import VerificationRow

AT = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


async def add_verification(db: Database, verification_id: str, organisation: str) -> None:
    values = {
        "id": verification_id,
        "request_id": None,
        "request_json": "{}",
        "authorizations_json": "[]",
        "commissioned_by": organisation,
        "state": "RUNNING",
        "operator": "w",
        "client": "c",
        "created_at": AT,
        "updated_at": AT,
        "latest_report_version": 0,
    }
    async with db.write() as session:
        await verifications.add(session, values, [])


async def test_a_report_version_is_stored_read_and_traced_to_its_organisation(db: Database) -> None:
    await add_verification(db, "v1", "org-a")
    async with db.write() as session:
        await stored.add(session, report_id="r1", verification_id="v1", version=1, created_at=AT, body_json='{"a": 1}')
        await stored.add(session, report_id="r2", verification_id="v1", version=2, created_at=AT, body_json='{"a": 2}')
    async with db.sessions() as session:
        second = await stored.get(session, "v1", 2)
        assert second is not None and second.id == "r2" and second.body_json == '{"a": 2}'
        assert await stored.get(session, "v1", 3) is None
        assert await stored.commissioned_by(session, "r1") == "org-a"
        assert await stored.commissioned_by(session, "r9") is None


async def test_a_version_is_never_written_twice(db: Database) -> None:
    await add_verification(db, "v1", "org-a")
    async with db.write() as session:
        await stored.add(session, report_id="r1", verification_id="v1", version=1, created_at=AT, body_json="{}")
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await stored.add(session, report_id="r2", verification_id="v1", version=1, created_at=AT, body_json="{}")


async def test_reading_finds_a_version_or_the_latest_with_the_verification_in_one_statement(db: Database) -> None:
    await add_verification(db, "v1", "org-a")
    async with db.write() as session:
        await stored.add(session, report_id="r1", verification_id="v1", version=1, created_at=AT, body_json='{"a": 1}')
        await stored.add(session, report_id="r2", verification_id="v1", version=2, created_at=AT, body_json='{"a": 2}')
        await session.execute(update(VerificationRow).values(latest_report_version=2))
    with StatementCounter(db.engine) as counter:
        async with db.sessions() as session:
            latest = await stored.for_reading(session, "v1", None)
            first = await stored.for_reading(session, "v1", 1)
            missing = await stored.for_reading(session, "v1", 3)
            nobody = await stored.for_reading(session, "v9", None)
    assert counter.count() == 4
    assert latest is not None and latest.latest_report_version == 2
    assert (latest.report_id, latest.version, latest.body_json) == ("r2", 2, '{"a": 2}')
    assert first is not None
    assert (first.report_id, first.version, first.body_json) == ("r1", 1, '{"a": 1}')
    assert missing is not None and missing.latest_report_version == 2 and missing.report_id is None
    assert nobody is None


async def test_postgresql_stores_a_report_with_the_next_version_locked_before_in_one_statement(db: Database) -> None:
    if db.dialect == "sqlite":
        pytest.skip("a data-modifying CTE: PostgreSQL only (SQLite takes the version with its own UPDATE)")
    await add_verification(db, "v1", "org-a")
    for version in (1, 2):
        async with db.write() as session:
            assert await verifications.lock_with_consent_epoch_and_version(session, "v1") == (0, version - 1)
            await stored.add_with_next_version(
                session,
                report_id=f"r{version}",
                verification_id="v1",
                version=version,
                state="COMPLETED",
                created_at=AT + dt.timedelta(minutes=version),
                body_json=f'{{"v": {version}}}',
            )
        async with db.reading() as session:
            row = await verifications.get(session, "v1")
            report = await stored.for_reading(session, "v1", None)
        assert row is not None and (row.latest_report_version, row.state) == (version, "COMPLETED")
        assert row.updated_at == AT + dt.timedelta(minutes=version)
        assert report is not None and (report.report_id, report.version) == (f"r{version}", version)
    # Not at the version expected (another publisher's, or no such verification): nothing is written.
    for verification_id, version in (("v1", 2), ("nope", 1)):
        with pytest.raises(LookupError):
            async with db.write() as session:
                await stored.add_with_next_version(
                    session,
                    report_id="r-late",
                    verification_id=verification_id,
                    version=version,
                    state="FAILED",
                    created_at=AT,
                    body_json="{}",
                )
    async with db.reading() as session:
        row = await verifications.get(session, "v1")
        assert await stored.body_of(session, "r-late") is None
    assert row is not None and (row.latest_report_version, row.state) == (2, "COMPLETED")
