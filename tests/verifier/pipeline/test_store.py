"""verifier.pipeline.store: outcomes stored with their audit events, consent decided again first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness import example_request, example_sandbox, seed_verification
from sqlalchemy import select

from audit import AuditLog
from audit.log import audit_entries
from connectors import DepartmentQuery, SandboxDataset, sandbox_connectors
from connectors.departments import DepartmentCatalogue
from verifier.pipeline.answers import ANSWER_DISCARDED, Outcome, Settled, withdrawn_from
from verifier.pipeline.plan import Job, Scope
from verifier.pipeline.store import AnswerStore
from verifier.request import parse_request
from verifier.storage import verifications
from verifier.storage.db import Database
from verifier.vocabulary import DepartmentStatus

REQUEST = parse_request(example_request())
MEMBERS = tuple(m.id_number for m in REQUEST.members)
JOB = Job("v1", "worker", "peer", REQUEST, ("authorizations/a1",))


class Gate:
    """Consent ended for everyone when ``ended``; records what it was asked to judge."""

    def __init__(self, ended: bool) -> None:
        self.ended = ended
        self.judged: list[str] = []

    async def before_store(self, session: Any, job: Job, item: Settled) -> Settled:
        self.judged.append(item.department)
        return withdrawn_from(item, (), item.asked, DepartmentCatalogue()[item.department]) if self.ended else item


def settled(department: str, outcome: Outcome) -> Settled:
    return Settled(department, MEMBERS, outcome, Scope("worker", "peer", "v1", "a1", department))


async def kinds(db: Database) -> Sequence[str]:
    async with db.sessions() as session:
        return list((await session.scalars(select(audit_entries.c.kind).order_by(audit_entries.c.seq))).all())


async def test_outcomes_are_stored_with_their_audit_events(db: Database) -> None:
    await seed_verification(db, JOB, {"tax": {}, "vehicles": {}})
    gate = Gate(ended=False)
    store = AnswerStore(AuditLog(b"k" * 32), gate)  # type: ignore[arg-type]
    items = [
        settled("tax", Outcome(DepartmentStatus.UNAVAILABLE, "down")),
        settled("vehicles", Outcome(DepartmentStatus.NOT_QUERIED, "x")),
    ]
    async with db.write() as session:
        kept = await store.keep(session, JOB, items)
    assert kept == items and gate.judged == ["tax", "vehicles"]
    async with db.sessions() as session:
        assert await verifications.statuses(session, "v1") == {"tax": "unavailable", "vehicles": "not_queried"}
        tax = await verifications.result(session, "v1", "tax")
    assert tax is not None and tax.detail == "down"
    assert await kinds(db) == ["DEPARTMENT_QUERY_FAILED", "DEPARTMENT_QUERY_FAILED"]


async def test_what_consent_no_longer_covers_is_stored_as_discarded(db: Database) -> None:
    await seed_verification(db, JOB, {"tax": {}})
    store = AnswerStore(AuditLog(b"k" * 32), Gate(ended=True))  # type: ignore[arg-type]
    answer = await sandbox_connectors(SandboxDataset.from_json(example_sandbox()))["tax"].query(
        DepartmentQuery("q1", MEMBERS, "a1", "ASSESSMENT", "v1.tax.1")
    )
    async with db.write() as session:
        (kept,) = await store.keep(session, JOB, [settled("tax", Outcome(DepartmentStatus.OK, answer=answer))])  # type: ignore[arg-type]
    assert kept.outcome.detail == ANSWER_DISCARDED
    async with db.sessions() as session:
        tax = await verifications.result(session, "v1", "tax")
    assert tax is not None and (tax.status, tax.record_count, tax.records_json) == ("not_queried", 0, "[]")
    assert json.loads(tax.not_queried_json) == list(MEMBERS)
    assert await kinds(db) == ["DEPARTMENT_QUERY_FAILED", "CONSENT_DECISION"]
