"""What departments' outcomes are, which answers are accepted, and what is stored of each outcome.

Pure: the storing stage (:mod:`verifier.pipeline.store`) writes what :func:`stored_rows` returns. Whether an
answer is accepted is :func:`connectors.answers.check_answer`'s decision, against the department's declaration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from audit import AuditEvent
from audit.bound import StoredAnswer, answer_digest
from audit.events import JsonValue
from connectors.answers import MAX_RECORDS_PER_ANSWER, AnswerRejected, check_answer
from connectors.base import DepartmentAnswer, Ticket
from connectors.departments import Department
from connectors.records import record_from_plain, record_to_plain, records_about
from consent import scrub
from verifier.assessment import SourceOutcome
from verifier.pipeline.plan import Scope
from verifier.vocabulary import DepartmentStatus

__all__ = [
    "ANSWER_DISCARDED",
    "CALLED_BACK",
    "MAX_RECORDS_PER_ANSWER",
    "NOT_SENT",
    "POLLING_STOPPED",
    "Outcome",
    "Settled",
    "StoredResult",
    "checked",
    "outcome_of",
    "stored_rows",
    "withdrawn_from",
]

log = logging.getLogger("hedui.pipeline")
NOT_SENT = "authorization revoked or expired before the query was sent"
CALLED_BACK = "authorization revoked while the query was on its way: called back, no answer is used"
POLLING_STOPPED = "authorization revoked or expired while the answer was pending; polling stopped"
ANSWER_DISCARDED = "authorization revoked or expired before the answer was stored; the answer was discarded"
_READABLE = frozenset(
    {DepartmentStatus.OK, DepartmentStatus.UNAVAILABLE, DepartmentStatus.PENDING, DepartmentStatus.NOT_QUERIED}
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How asking one department ended: answered, unavailable, pending on a ticket, or not queried."""

    status: DepartmentStatus
    detail: str = ""
    answer: DepartmentAnswer | None = None
    ticket: Ticket | None = None
    # Members whose consent ended after the plan: never asked, or their answer discarded.
    withdrawn: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Settled:
    """A department's outcome waiting to be stored."""

    department: str
    asked: tuple[str, ...]
    outcome: Outcome
    scope: Scope
    # Members not queried at this department: refused when planned, and withdrawn since.
    not_queried: tuple[str, ...] = ()
    # The query's idempotency key (its durable step); empty: the verification's first asking of the department.
    key: str = ""

    def source(self) -> SourceOutcome:
        """The outcome as the assessment sees it (the same as :func:`outcome_of` of its stored row)."""
        answer = self.outcome.answer
        return SourceOutcome(
            department=self.department,
            status=self.outcome.status,
            records=answer.records if answer is not None else (),
            detail=self.outcome.detail,
            not_queried=self.not_queried,
            answered_at=answer.answered_at if answer is not None else None,
        )


def checked(department: Department, asked: Sequence[str], reply: DepartmentAnswer) -> Outcome:
    """The outcome of an answer: ok, or unavailable when it breaks the department's declaration or the record
    rules (:func:`connectors.answers.check_answer`)."""
    try:
        check_answer(department, asked, reply)
    except AnswerRejected as exc:
        return Outcome(DepartmentStatus.UNAVAILABLE, scrub(f"answer rejected: {exc}"))
    return Outcome(DepartmentStatus.OK, answer=reply)


class StoredResult(Protocol):
    """The stored fields of a department's result (an ORM object or a Core row)."""

    department: str
    status: str
    detail: str
    records_json: str
    not_queried_json: str
    answered_at: dt.datetime | None


def outcome_of(row: StoredResult) -> SourceOutcome:
    """Rebuild a department's outcome from its stored row (anything not settled reads as pending)."""
    records = tuple(record_from_plain(item["kind"], item["record"]) for item in json.loads(row.records_json))
    return SourceOutcome(
        department=row.department,
        status=row.status if row.status in _READABLE else DepartmentStatus.PENDING,
        records=records,
        detail=row.detail,
        not_queried=tuple(json.loads(row.not_queried_json)),
        answered_at=row.answered_at,
    )


def withdrawn_from(item: Settled, allowed: Sequence[str], ended: Sequence[str], department: Department) -> Settled:
    """An outcome after consent was decided again before storing it: ``allowed`` of the members still
    asked about may be kept, ``ended`` were withdrawn since (their records are dropped). ``department``
    is the declaration of ``item.department``: whose records are about whom (:func:`records_about`)."""
    outcome = item.outcome
    if ended:
        if outcome.status == DepartmentStatus.PENDING or not allowed:
            pending = outcome.status == DepartmentStatus.PENDING
            detail = POLLING_STOPPED if pending else ANSWER_DISCARDED
            still_asked = tuple(n for n in item.asked if n not in outcome.withdrawn)
            outcome = Outcome(DepartmentStatus.NOT_QUERIED, detail, withdrawn=(*outcome.withdrawn, *still_asked))
        else:
            assert outcome.answer is not None
            kept = records_about(department, outcome.answer.records, allowed)
            outcome = dataclasses.replace(
                outcome,
                answer=dataclasses.replace(outcome.answer, records=kept),
                withdrawn=(*outcome.withdrawn, *ended),
            )
    if not outcome.withdrawn:
        return item
    not_queried = tuple(dict.fromkeys((*item.not_queried, *outcome.withdrawn)))
    return dataclasses.replace(item, outcome=outcome, not_queried=not_queried)


def _records_json(answer: DepartmentAnswer) -> str:
    return json.dumps([{"kind": r.kind, "record": record_to_plain(r)} for r in answer.records], ensure_ascii=False)


def stored_rows(
    verification_id: str, items: Sequence[Settled], at: dt.datetime
) -> tuple[list[dict[str, object]], list[tuple[AuditEvent, Sequence[str]]]]:
    """The result rows and the audit events (with their subjects) that store these outcomes."""
    rows: list[dict[str, object]] = []
    events: list[tuple[AuditEvent, Sequence[str]]] = []
    for item in items:
        row, event = _stored(verification_id, item, at)
        rows.append(row)
        events.append((event, item.asked))
        if item.outcome.withdrawn:
            details: dict[str, JsonValue] = {"withdrawn": len(item.outcome.withdrawn), "when": item.outcome.detail}
            events.append((item.scope.event("CONSENT_DECISION", details), item.outcome.withdrawn))
    return rows, events


def _stored(verification_id: str, item: Settled, at: dt.datetime) -> tuple[dict[str, object], AuditEvent]:
    """One outcome's result row and its audit event."""
    outcome, scope = item.outcome, item.scope
    row: dict[str, object] = {
        "verification_id": verification_id,
        "department": item.department,
        "status": outcome.status,
        "detail": outcome.detail,
        "records_json": "[]",
        "record_count": 0,
        "answered_at": None,
        "ticket_id": None,
        "ticket_ready_after": None,
        "not_queried_json": json.dumps(list(item.not_queried)),
        "updated_at": at,
    }
    if outcome.status == DepartmentStatus.OK:
        assert outcome.answer is not None
        body = _records_json(outcome.answer)
        row |= {
            "records_json": body,
            "record_count": len(outcome.answer.records),
            "answered_at": outcome.answer.answered_at,
        }
        details: dict[str, JsonValue] = {
            "records": len(outcome.answer.records),
            "sha256": hashlib.sha256(body.encode()).hexdigest(),
            # The stored answer as a report is built from it (issue 12 item 4): checked whenever it is read back.
            "answer_sha256": answer_digest(StoredAnswer.of(verification_id, row)),
        }
        return row, scope.event("DEPARTMENT_ANSWER_RECEIVED", details)
    if outcome.status == DepartmentStatus.PENDING:
        assert outcome.ticket is not None
        ready = outcome.ticket.ready_after
        row |= {"ticket_id": outcome.ticket.ticket_id, "ticket_ready_after": ready}
        return row, scope.event("DEPARTMENT_ANSWER_PENDING", {"ready_after": ready.isoformat()})
    log.info("%s unavailable for verification %s: %s", item.department, verification_id, outcome.detail)
    return row, scope.event("DEPARTMENT_QUERY_FAILED", {"reason": outcome.detail})
