"""verifier.pipeline.store: outcomes stored with their audit events, consent decided again first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness import department_statuses, example_request, example_sandbox, seed_verification
from sqlalchemy import select, update

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
from verifier.storage.models import WorkStepRow
from verifier.vocabulary import DepartmentStatus

REQUEST = parse_request(example_request())
MEMBERS = tuple(m.id_number for m in REQUEST.members)
JOB = Job("v1", "worker", "peer", REQUEST, ("authorizations/a1",))
ASKING = {"status": "querying", "queried_json": json.dumps(MEMBERS)}  # sent: its step is held by "me"


class Gate:
    """Consent ended for everyone when ``ended``; records what it was asked to judge."""

    def __init__(self, ended: bool) -> None:
        self.ended = ended
        self.judged: list[str] = []

    async def before_store(
        self, session: Any, job: Job, items: Sequence[Settled], *, epoch: int | None = None
    ) -> list[Settled]:
        self.judged.extend(item.department for item in items)
        catalogue = DepartmentCatalogue()
        return [withdrawn_from(i, (), i.asked, catalogue[i.department]) if self.ended else i for i in items]


def settled(department: str, outcome: Outcome) -> Settled:
    return Settled(department, MEMBERS, outcome, Scope("worker", "peer", "v1", "a1", department))


async def kinds(db: Database) -> Sequence[str]:
    async with db.sessions() as session:
        return list((await session.scalars(select(audit_entries.c.kind).order_by(audit_entries.c.seq))).all())


async def test_outcomes_are_stored_with_their_audit_events(db: Database) -> None:
    await seed_verification(db, JOB, {"tax": ASKING, "vehicles": ASKING}, leased_to="me")
    gate = Gate(ended=False)
    store = AnswerStore(AuditLog(b"k" * 32), gate, "me", 1.0)  # type: ignore[arg-type]
    items = [
        settled("tax", Outcome(DepartmentStatus.UNAVAILABLE, "down")),
        settled("vehicles", Outcome(DepartmentStatus.NOT_QUERIED, "x")),
    ]
    async with db.write() as session:
        kept = await store.keep(session, JOB, items)
    assert kept == items and gate.judged == ["tax", "vehicles"]
    async with db.sessions() as session:
        assert await department_statuses(session, "v1") == {"tax": "unavailable", "vehicles": "not_queried"}
        tax = await verifications.result(session, "v1", "tax")
    assert tax is not None and tax.detail == "down"
    assert await kinds(db) == ["DEPARTMENT_QUERY_FAILED", "DEPARTMENT_QUERY_FAILED"]


async def test_what_consent_no_longer_covers_is_stored_as_discarded(db: Database) -> None:
    await seed_verification(db, JOB, {"tax": ASKING}, leased_to="me")
    store = AnswerStore(AuditLog(b"k" * 32), Gate(ended=True), "me", 1.0)  # type: ignore[arg-type]
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


async def test_an_outcome_of_a_step_another_process_took_over_is_not_stored(db: Database) -> None:
    # This process's lease lapsed and another took the tax query over: only vehicles is still ours.
    await seed_verification(db, JOB, {"tax": ASKING, "vehicles": ASKING}, leased_to="me")
    async with db.write() as session:
        await session.execute(
            update(WorkStepRow).where(WorkStepRow.key == "v1.tax.1").values(leased_by="another process")
        )
    store = AnswerStore(AuditLog(b"k" * 32), Gate(ended=False), "me", 1.0)  # type: ignore[arg-type]
    items = [
        settled("tax", Outcome(DepartmentStatus.UNAVAILABLE, "down")),
        settled("vehicles", Outcome(DepartmentStatus.UNAVAILABLE, "down")),
    ]
    async with db.write() as session:
        kept = await store.keep(session, JOB, items)
    assert [k.department for k in kept] == ["vehicles"]
    async with db.sessions() as session:
        assert await department_statuses(session, "v1") == {"tax": "querying", "vehicles": "unavailable"}
        steps = {s.key: (s.phase, s.leased_by) for s in await session.scalars(select(WorkStepRow))}
    assert steps == {"v1.tax.1": ("send", "another process"), "v1.vehicles.1": ("done", None)}
    assert await kinds(db) == ["DEPARTMENT_QUERY_FAILED"]
