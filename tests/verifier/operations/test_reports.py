"""verifier.operations.reports: report names checked, not-ready and missing reports refused, reading logged."""

from __future__ import annotations

import pytest
from harness import example_request, seed_verification
from sqlalchemy import select

from audit.log import audit_entries
from verifier.config import Settings
from verifier.errors import Reason, ServiceError
from verifier.operations import Caller
from verifier.pipeline import Job
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database

REQUEST = parse_request(example_request())
JOB = Job("v1", "worker", "peer", REQUEST, ())


def service(db: Database) -> HeduiService:
    return HeduiService(db, {}, Settings(database_url=db.url, audit_subject_key=b"k" * 32))


async def refused(work: object) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await work  # type: ignore[misc]
    return caught.value


@pytest.mark.parametrize(
    "name",
    [
        "v1/reports/1",
        "verifications/v1/report/1",
        "verifications//reports/1",
        "verifications/v1/reports/x",
        "verifications/v1/reports/-1",
    ],
)
async def test_a_bad_report_name_is_refused(db: Database, name: str) -> None:
    error = await refused(service(db).reports.get(name))
    assert (error.reason, error.violations[0].field) == (Reason.INVALID_REQUEST, "name")


async def test_no_report_yet_and_no_such_version_are_told_apart(db: Database) -> None:
    reports = service(db).reports
    assert (await refused(reports.get("verifications/v1/reports/latest"))).reason == Reason.NOT_FOUND
    await seed_verification(db, JOB, {})
    not_ready = await refused(reports.get("verifications/v1/reports/latest"))
    assert (not_ready.reason, not_ready.code) == (Reason.REPORT_NOT_READY, "FAILED_PRECONDITION")


async def test_reading_a_report_is_committed_to_the_log_first(db: Database) -> None:
    hedui = service(db)
    await seed_verification(db, JOB, {"tax": {"status": "unavailable"}})
    async with db.write() as session:
        await hedui.pipeline.publisher.publish_in(session, JOB)
    body = await hedui.reports.get("verifications/v1/reports/latest", Caller("reader", "peer"))
    assert body["version"] == 1
    message = await hedui.reports.message("verifications/v1/reports/1", html=True)
    assert message.report_id == body["report_id"] and "<html" in message.html.lower()
    assert (await refused(hedui.reports.get("verifications/v1/reports/2"))).reason == Reason.NOT_FOUND
    async with db.sessions() as session:
        rows = (await session.execute(select(audit_entries.c.kind, audit_entries.c.operator))).all()
    read = [tuple(r) for r in rows if r.kind == "REPORT_READ"]
    assert read == [("REPORT_READ", "reader"), ("REPORT_READ", "unknown")]
