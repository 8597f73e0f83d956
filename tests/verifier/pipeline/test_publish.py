"""verifier.pipeline.publish: each publication is a new report version with its REPORT_CREATED entry."""

from __future__ import annotations

import json

from harness import example_request, seed_verification
from sqlalchemy import func, select

from audit import AuditLog
from audit.log import audit_entries
from verifier.assessment import SourceOutcome
from verifier.config import Settings
from verifier.pipeline.plan import Job
from verifier.pipeline.publish import Publisher
from verifier.policy import PolicyBook
from verifier.report.build import report_digest
from verifier.request import parse_request
from verifier.storage import reports, verifications
from verifier.storage.db import Database
from verifier.vocabulary import DepartmentStatus, VerificationState

REQUEST = parse_request(example_request())
JOB = Job("v1", "worker", "peer", REQUEST, ("authorizations/a1",))
DEPARTMENTS = ("banks", "housing", "police", "social_security", "tax", "vehicles")


ANSWERED_UNDER = AuditLog(b"k" * 32).entry_mac  # the publisher's entry key: its log recorded the seeded answers


def publisher() -> Publisher:
    return Publisher(
        AuditLog(b"k" * 32), Settings(audit_log_origin="test.local/audit"), PolicyBook.load(()).for_request
    )


async def publish(db: Database, sources: dict[str, SourceOutcome] | None = None) -> None:
    async with db.write() as session:
        await publisher().publish_in(session, JOB, sources)


async def test_a_report_is_published_with_its_digest_in_the_log(db: Database) -> None:
    await seed_verification(db, JOB, {d: {"status": "ok"} for d in DEPARTMENTS}, answered_under=ANSWERED_UNDER)
    async with db.sessions() as session:  # the seeded answers' entries: publishing appends after them
        seeded = await session.scalar(select(func.max(audit_entries.c.seq)))
    await publish(db)
    async with db.sessions() as session:
        verification = await verifications.get(session, "v1")
        report = await reports.get(session, "v1", 1)
        entries = (
            await session.execute(
                select(audit_entries.c.kind, audit_entries.c.entry).where(audit_entries.c.seq > seeded)
            )
        ).all()
    assert verification is not None and verification.state == VerificationState.COMPLETED
    assert report is not None and verification.latest_report_version == 1
    body = json.loads(report.body_json)
    assert body["report_id"] == report.id and body["version"] == 1
    assert body["audit_reference"] == f"test.local/audit REPORT_CREATED {report.id}"
    assert {s["department"]: s["status"] for s in body["sources"]} == dict.fromkeys(DEPARTMENTS, "ok")
    ((kind, entry),) = entries
    details = json.loads(entry)["details"]
    assert kind == "REPORT_CREATED" and details["report_sha256"] == report_digest(body)
    assert (details["report_id"], details["version"]) == (report.id, 1)


async def test_a_pending_department_leaves_the_verification_awaiting_answers(db: Database) -> None:
    await seed_verification(
        db,
        JOB,
        {d: {"status": "ok"} for d in DEPARTMENTS} | {"banks": {"status": "pending"}},
        answered_under=ANSWERED_UNDER,
    )
    await publish(db)
    await seed_verification(db, Job("v2", "w", "p", REQUEST, ()), {"banks": {"status": "querying"}})
    async with db.write() as session:  # still being asked reads as pending
        await publisher().publish_in(session, Job("v2", "w", "p", REQUEST, ()))
    async with db.sessions() as session:
        assert (await verifications.get(session, "v1")).state == VerificationState.AWAITING_ANSWERS  # type: ignore[union-attr]
        assert (await verifications.get(session, "v2")).state == VerificationState.AWAITING_ANSWERS  # type: ignore[union-attr]


async def test_every_publication_is_a_new_version_naming_the_one_before(db: Database) -> None:
    await seed_verification(db, JOB, {d: {"status": "ok"} for d in DEPARTMENTS}, answered_under=ANSWERED_UNDER)
    await publish(db)
    # Outcomes in hand are used as they are (what is being stored), not read back.
    in_hand = {d: SourceOutcome(d, DepartmentStatus.UNAVAILABLE, detail="down") for d in DEPARTMENTS}
    await publish(db, in_hand)
    async with db.sessions() as session:
        first, second = await reports.get(session, "v1", 1), await reports.get(session, "v1", 2)
    assert first is not None and second is not None and first.id != second.id
    body = json.loads(second.body_json)
    assert body["version"] == 2 and body["previous_version"] == "verifications/v1/reports/1"
    assert {s["status"] for s in body["sources"]} == {"unavailable"}
    assert json.loads(first.body_json)["version"] == 1  # a report is never edited
