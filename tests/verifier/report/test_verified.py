"""verifier.report.verified: a report this process published or checked is served again from its wire form, but
only while the stored text is byte for byte the one proven; any other text is checked against the log again."""

from __future__ import annotations

import json

import pytest
from harness import example_request, seed_verification
from sqlalchemy import select, text

from hedui.v1 import report_pb2
from verifier.config import Settings
from verifier.errors import Reason, ServiceError
from verifier.pipeline import Job
from verifier.report.build import report_from_plain
from verifier.report.verified import VerifiedReports
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database
from verifier.storage.models import ReportRow

REQUEST = parse_request(example_request())
JOB = Job("v1", "worker", "peer", REQUEST, ())
NAME = "verifications/v1/reports/1"


def service(db: Database) -> HeduiService:
    return HeduiService(db, {}, Settings(database_url=db.url, audit_subject_key=b"k" * 32))


async def published(db: Database) -> HeduiService:
    hedui = service(db)
    await seed_verification(db, JOB, {"tax": {"status": "unavailable"}})
    async with db.write() as session:
        await hedui.pipeline.publisher.publish_in(session, JOB)
    return hedui


async def stored_text(db: Database) -> str:
    """The report's stored text, opened (issue 17: the row holds it sealed; the ORM opens what it loads)."""
    async with db.sessions() as session:
        return str((await session.scalars(select(ReportRow))).one().body_json)


async def test_the_publisher_remembers_its_report_and_the_same_report_is_served(db: Database) -> None:
    hedui = await published(db)
    assert hedui.reports.verified is hedui.pipeline.publisher.verified and len(hedui.reports.verified) == 1
    served = await hedui.reports.message(NAME)
    # What the stored JSON reads back as, field for field: the remembered wire form is that report.
    assert served == report_from_plain(json.loads(await stored_text(db)))
    assert served.assessment.household_size == 3
    served.html = "changed by a caller"  # a new message each time: the next caller does not see it
    assert (await hedui.reports.message(NAME)).html == ""


async def test_an_edited_text_is_checked_again_and_refused_by_the_process_that_published_it(db: Database) -> None:
    hedui = await published(db)
    await hedui.reports.message(NAME)
    edited = (await stored_text(db)).replace('"household_size": 3', '"household_size": 2')
    async with db.write() as session:
        await session.execute(text("UPDATE reports SET body_json = :b"), {"b": edited})
    for read in (hedui.reports.get(NAME), hedui.reports.message(NAME)):
        with pytest.raises(ServiceError) as refused:
            await read
        assert refused.value.reason == Reason.REPORT_TAMPERED


async def test_a_report_checked_once_is_remembered_by_another_process(db: Database) -> None:
    await published(db)
    other = service(db)  # another replica, or this one restarted: nothing remembered
    assert len(other.reports.verified) == 0
    first = await other.reports.message(NAME)
    assert len(other.reports.verified) == 1
    assert await other.reports.message(NAME) == first


def test_the_oldest_reports_leave_first() -> None:
    verified = VerifiedReports(capacity=2)
    report = report_pb2.Report(report_id="r")
    for report_id in ("a", "b", "c"):
        verified.issued(report_id, f'{{"report_id": "{report_id}"}}', report)
    assert len(verified) == 2
    assert verified.known("a", '{"report_id": "a"}') is None
    known = verified.known("c", '{"report_id": "c"}')
    assert known is not None and known.message() == report and known.body == {"report_id": "c"}
    assert verified.known("c", '{"report_id": "c" }') is None  # one byte more: not the text proven
    assert verified.known("b", '{"report_id": "c"}') is None  # another report's text under this id
