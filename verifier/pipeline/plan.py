"""Who is asked what: the one consent decision, made for a round of queries and again for each step after.

Pure: given the authorizations as they are now, decide which members may be asked about at which
department. The planner calls :func:`plan_round` before sending and :func:`still_allowed` before
each query leaves, before each poll and in the transaction that stores an answer.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from audit import AuditEvent
from audit.events import JsonValue
from connectors.base import DepartmentQuery
from consent import ConsentDecision, RegisteredAuthorization, decide
from verifier.assessment import SourceOutcome
from verifier.request import VerificationRequest
from verifier.vocabulary import DepartmentStatus, StepPhase

__all__ = [
    "FIRST_ASKING",
    "NO_MEMBER_DETAIL",
    "Job",
    "Plan",
    "Scope",
    "plan_round",
    "query_key",
    "resumed_round",
    "still_allowed",
]

NO_MEMBER_DETAIL = "no valid authorization covers any member for this department"
# The reason of a verification's first asking of each department; asking again (a dispute) is another reason.
FIRST_ASKING = "1"


def query_key(verification_id: str, department: str, reason: str = FIRST_ASKING) -> str:
    """The idempotency key of a department query: one per verification, department and reason, carried by
    every sending of it (the department answers a repeated key from what it answered the first time)."""
    return f"{verification_id}.{department}.{reason}"


@dataclass(frozen=True, slots=True)
class Job:
    """What the pipeline needs of one verification, loaded once."""

    verification_id: str
    operator: str
    client: str
    request: VerificationRequest
    authorization_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Scope:
    """Who, for which verification, under which authorizations, at which department: shared by a query's events."""

    operator: str
    client: str
    verification: str
    authorization: str
    department: str

    def event(self, kind: str, details: Mapping[str, JsonValue]) -> AuditEvent:
        """An audit event of this scope."""
        return AuditEvent(
            kind=kind,
            operator=self.operator,
            client=self.client,
            verification=self.verification,
            authorization=self.authorization,
            department=self.department,
            details=details,
        )


@dataclass(slots=True)
class Plan:
    """The audit events, status updates and queries of one round of the pipeline."""

    events: list[tuple[AuditEvent, Sequence[str]]] = field(default_factory=list)
    updates: list[dict[str, object]] = field(default_factory=list)
    queries: list[tuple[DepartmentQuery, Scope]] = field(default_factory=list)
    # Outcomes known without asking: departments no member may be queried at, and who was refused where.
    settled: dict[str, SourceOutcome] = field(default_factory=dict)
    refused: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # True when the plan covers every department of the verification (a new verification).
    complete: bool = False
    # Why members were refused anywhere, sorted (the CONSENT_MISSING message when nobody may be asked).
    reasons: tuple[str, ...] = ()

    def steps(self, worker: str, lease_until: dt.datetime, at: dt.datetime) -> list[dict[str, object]]:
        """The durable steps of this plan's queries, leased to ``worker`` (the process that sends them now)."""
        return [
            {
                "key": query.idempotency_key,
                "verification_id": scope.verification,
                "department": scope.department,
                "phase": StepPhase.SEND,
                "query_id": query.query_id,
                "due_at": at,
                "leased_by": worker,
                "lease_until": lease_until,
                "attempts": 1,
            }
            for query, scope in self.queries
        ]

    def new_rows(self, verification_id: str, departments: Sequence[str], at: dt.datetime) -> list[dict[str, object]]:
        """Full result rows for a new verification: every department queued, overlaid with what was planned."""
        planned = {str(u["department"]): u for u in self.updates}
        return [
            {
                "verification_id": verification_id,
                "department": department,
                "status": DepartmentStatus.QUEUED,
                "detail": "",
                "records_json": "[]",
                "record_count": 0,
                "queried_json": "[]",
                "not_queried_json": "[]",
                "updated_at": at,
            }
            | planned.get(department, {})
            for department in departments
        ]


def _decision(
    job: Job,
    ids: Sequence[str],
    departments: Sequence[str],
    authorizations: Sequence[RegisteredAuthorization],
    today: dt.date,
) -> ConsentDecision:
    """THE consent decision: who of ``ids`` may be asked about where, under these authorizations, today."""
    request = job.request
    return decide(ids, departments, authorizations, request.commissioned_by, today, request.purpose)


def still_allowed(
    job: Job, department: str, ids: Sequence[str], authorizations: Sequence[RegisteredAuthorization], today: dt.date
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Consent decided again: (members that may still be asked about at ``department``, members withdrawn)."""
    allowed = tuple(_decision(job, ids, [department], authorizations, today).members_for(department))
    return allowed, tuple(n for n in ids if n not in allowed)


def plan_round(
    job: Job,
    departments: Sequence[str],
    authorizations: Sequence[RegisteredAuthorization],
    *,
    today: dt.date,
    at: dt.datetime,
    complete: bool = False,
) -> Plan:
    """Decide consent for each department and prepare its query; nothing is sent yet."""
    members = [m.id_number for m in job.request.members]
    decision = _decision(job, members, departments, authorizations, today)
    plan = Plan(complete=complete, reasons=tuple(sorted({r.reason for r in decision.refused})))
    for department in departments:
        _plan_department(plan, job, department, decision, members, at)
    return plan


def resumed_round(
    job: Job,
    steps: Sequence[tuple[str, str, str, Sequence[str], Sequence[str]]],
    authorizations: Sequence[RegisteredAuthorization],
    today: dt.date,
) -> Plan:
    """The queries of steps taken over from another process (or a previous run), to be sent again by their
    keys; nothing new is recorded (their DEPARTMENT_QUERY_SENT entries exist), and the sender decides
    consent again right before each leaves.

    ``steps``: (department, query id, key, members queried, members not queried) of each step.
    """
    members = [m.id_number for m in job.request.members]
    decision = _decision(job, members, [s[0] for s in steps], authorizations, today)
    plan = Plan()
    for department, query_id, key, queried, not_queried in steps:
        authorization = ",".join(decision.authorizations_for(department))
        scope = Scope(job.operator, job.client, job.verification_id, authorization, department)
        query = DepartmentQuery(query_id, tuple(queried), authorization, job.request.purpose, key)
        plan.queries.append((query, scope))
        plan.refused[department] = tuple(not_queried)
    return plan


def _plan_department(
    plan: Plan, job: Job, department: str, decision: ConsentDecision, members: Sequence[str], at: dt.datetime
) -> None:
    """One department's part of a plan: its consent event, then its query or why it is not asked."""
    allowed = decision.members_for(department)
    refused = tuple(r.id_number for r in decision.refused if r.department == department)
    authorization = ",".join(decision.authorizations_for(department))
    scope = Scope(job.operator, job.client, job.verification_id, authorization, department)
    reasons = sorted({r.reason for r in decision.refused if r.department == department})
    details: dict[str, JsonValue] = {"allowed": len(allowed), "refused": len(refused), "reasons": reasons}
    plan.events.append((scope.event("CONSENT_DECISION", details), members))
    row: dict[str, object] = {
        "verification_id": job.verification_id,
        "department": department,
        "not_queried_json": json.dumps(list(refused)),
        "updated_at": at,
    }
    plan.refused[department] = refused
    if not allowed:
        plan.events.append((scope.event("DEPARTMENT_QUERY_FAILED", {"reason": "no member may be queried"}), refused))
        row |= {"status": DepartmentStatus.NOT_QUERIED, "detail": NO_MEMBER_DETAIL}
        plan.settled[department] = SourceOutcome(
            department, DepartmentStatus.NOT_QUERIED, detail=NO_MEMBER_DETAIL, not_queried=refused
        )
    else:
        query = DepartmentQuery(
            query_id=uuid.uuid4().hex,
            id_numbers=tuple(allowed),
            authorization_reference=scope.authorization,
            purpose=job.request.purpose,
            idempotency_key=query_key(job.verification_id, department),
        )
        sent: dict[str, JsonValue] = {
            "query_id": query.query_id,
            "members": len(allowed),
            "key": query.idempotency_key,
        }
        plan.events.append((scope.event("DEPARTMENT_QUERY_SENT", sent), allowed))
        row |= {"status": DepartmentStatus.QUERYING, "queried_json": json.dumps(list(allowed))}
        plan.queries.append((query, scope))
    plan.updates.append(row)
