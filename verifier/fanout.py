"""The one place that sends department queries: consent check, concurrent fan-out, deadlines, reports.

Every query sent, answer received and failure is an audit event committed in the
same transaction as the stored result.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from audit import AuditEvent, AuditLog
from audit.events import JsonValue
from connectors.base import (
    Connector,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
)
from connectors.records import PersonRecord, record_from_plain, record_to_plain
from consent import RegisteredAuthorization, decide
from verifier.assessment import SourceOutcome, assess
from verifier.policy import Policy
from verifier.reports import build_report
from verifier.request import VerificationRequest
from verifier.settings import Settings
from verifier.storage.db import Database
from verifier.storage.models import DepartmentResultRow, ReportRow, VerificationRow

__all__ = ["MAX_RECORDS_PER_ANSWER", "Changes", "FanOut"]

log = logging.getLogger("hedui.fanout")
MAX_RECORDS_PER_ANSWER = 10_000
FINAL = frozenset({"ok", "unavailable", "not_queried"})


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Changes:
    """Wakes watchers of a verification when something about it changes (in this process)."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def notify(self, verification_id: str) -> None:
        event = self._events.pop(verification_id, None)
        if event is not None:
            event.set()

    async def wait(self, verification_id: str, timeout: float) -> None:
        event = self._events.setdefault(verification_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: str
    detail: str = ""
    answer: DepartmentAnswer | None = None
    ticket: Ticket | None = None


@dataclass(frozen=True, slots=True)
class _Scope:
    """Who, for which verification, under which authorizations, at which department: shared by a query's events."""

    operator: str
    client: str
    verification: str
    authorization: str
    department: str

    def event(self, kind: str, details: Mapping[str, JsonValue]) -> AuditEvent:
        return AuditEvent(
            kind=kind,
            operator=self.operator,
            client=self.client,
            verification=self.verification,
            authorization=self.authorization,
            department=self.department,
            details=details,
        )


class AnswerRejected(Exception):
    """A department's answer that breaks the record rules; never merged into a report."""


def check_answer(department: str, asked: Sequence[str], answer: DepartmentAnswer) -> None:
    """Refuse answers with foreign records, records of people not asked about, duplicates or oversize."""
    if answer.department != department:
        raise AnswerRejected(f"answer is labelled {answer.department!r}")
    if len(answer.records) > MAX_RECORDS_PER_ANSWER:
        raise AnswerRejected(f"more than {MAX_RECORDS_PER_ANSWER} records")
    wanted = set(asked)
    registers = {r.hukou_id for r in answer.records if isinstance(r, PersonRecord) and r.id_number in wanted}
    seen: set[str] = set()
    for record in answer.records:
        if record.department != department:
            raise AnswerRejected(f"record {record.record_id} belongs to {record.department}")
        if record.record_id in seen:
            raise AnswerRejected(f"duplicate record id {record.record_id}")
        seen.add(record.record_id)
        same_register = isinstance(record, PersonRecord) and record.hukou_id in registers
        if record.subject not in wanted and not same_register:
            raise AnswerRejected(f"record {record.record_id} is about a person not asked about")


def _records_json(answer: DepartmentAnswer) -> str:
    return json.dumps([{"kind": r.kind, "record": record_to_plain(r)} for r in answer.records], ensure_ascii=False)


def outcome_of(row: DepartmentResultRow) -> SourceOutcome:
    """Rebuild a department's outcome from its stored row."""
    records = tuple(record_from_plain(item["kind"], item["record"]) for item in json.loads(row.records_json))
    return SourceOutcome(
        department=row.department,
        status=row.status if row.status in ("ok", "unavailable", "pending", "not_queried") else "pending",
        records=records,
        detail=row.detail,
        not_queried=tuple(json.loads(row.not_queried_json)),
        answered_at=row.answered_at,
    )


class FanOut:
    """Runs verifications: decides consent, queries departments concurrently, publishes report versions."""

    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        audit: AuditLog,
        settings: Settings,
        changes: Changes,
        policy_for: Callable[[VerificationRequest], Policy],
        load_authorizations: Callable[[Sequence[str]], Awaitable[list[RegisteredAuthorization]]],
        parse_stored_request: Callable[[str], VerificationRequest],
    ) -> None:
        self._db = db
        self._connectors = connectors
        self._audit = audit
        self._settings = settings
        self._changes = changes
        self._policy_for = policy_for
        self._load_authorizations = load_authorizations
        self._parse_request = parse_stored_request
        self._tasks: set[asyncio.Task[None]] = set()
        self._report_locks: dict[str, asyncio.Lock] = {}

    def spawn(self, coroutine: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await coroutine
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s failed", name)

        task = asyncio.get_running_loop().create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def resume(self) -> None:
        """After a restart: finish verifications that were running, keep polling pending answers."""
        async with self._db.sessions() as session:
            running = (
                await session.scalars(select(VerificationRow.id).where(VerificationRow.state == "RUNNING"))
            ).all()
            pending = (
                await session.execute(
                    select(DepartmentResultRow.verification_id, DepartmentResultRow.department).where(
                        DepartmentResultRow.status == "pending", DepartmentResultRow.ticket_id.is_not(None)
                    )
                )
            ).all()
        for verification_id in running:
            self.spawn(self.run(verification_id), f"run {verification_id}")
        for verification_id, department in pending:
            if verification_id not in running:
                self.spawn(self._follow_ticket(verification_id, department), f"poll {verification_id} {department}")

    async def _context(
        self, verification_id: str
    ) -> tuple[VerificationRow, VerificationRequest, list[RegisteredAuthorization]]:
        async with self._db.sessions() as session:
            row = await session.get(VerificationRow, verification_id)
        if row is None:
            raise LookupError(verification_id)
        request = self._parse_request(row.request_json)
        authorizations = await self._load_authorizations(json.loads(row.authorizations_json))
        return row, request, authorizations

    async def run(self, verification_id: str) -> None:
        """Query every department still to be queried, then publish the first report version."""
        row, request, authorizations = await self._context(verification_id)
        members = [m.id_number for m in request.members]
        async with self._db.sessions() as session:
            results = {
                r.department: r
                for r in await session.scalars(
                    select(DepartmentResultRow).where(DepartmentResultRow.verification_id == verification_id)
                )
            }
        todo = [d for d, r in sorted(results.items()) if r.status in ("queued", "querying")]
        decision = decide(members, todo, authorizations, request.commissioned_by, now().date())
        async with self._db.sessions.begin() as session:
            for department in todo:
                refused = [r for r in decision.refused if r.department == department]
                await self._audit.append(
                    session,
                    AuditEvent(
                        kind="CONSENT_DECISION",
                        operator=row.operator,
                        client=row.client,
                        verification=verification_id,
                        authorization=",".join(decision.authorizations_for(department)),
                        department=department,
                        details={
                            "allowed": len(decision.members_for(department)),
                            "refused": len(refused),
                            "reasons": sorted({r.reason for r in refused}),
                        },
                    ),
                    id_numbers=members,
                )
        await asyncio.gather(
            *(
                self._query_department(
                    row,
                    request,
                    department,
                    decision.members_for(department),
                    tuple(r.id_number for r in decision.refused if r.department == department),
                    decision.authorizations_for(department),
                )
                for department in todo
            )
        )
        await self.publish_report(verification_id)

    async def _save(
        self,
        verification_id: str,
        department: str,
        event: AuditEvent,
        id_numbers: Sequence[str],
        **values: object,
    ) -> None:
        async with self._db.sessions.begin() as session:
            result = await session.get(DepartmentResultRow, (verification_id, department))
            assert result is not None
            for key, value in values.items():
                setattr(result, key, value)
            result.updated_at = now()
            await self._audit.append(session, event, id_numbers=id_numbers)
        self._changes.notify(verification_id)

    async def _query_department(
        self,
        row: VerificationRow,
        request: VerificationRequest,
        department: str,
        allowed: Sequence[str],
        refused: Sequence[str],
        authorizations: Sequence[str],
    ) -> None:
        base = _Scope(row.operator, row.client, row.id, ",".join(authorizations), department)
        if not allowed:
            await self._save(
                row.id,
                department,
                base.event("DEPARTMENT_QUERY_FAILED", {"reason": "no member may be queried"}),
                refused,
                status="not_queried",
                detail="no valid authorization covers any member for this department",
                not_queried_json=json.dumps(list(refused)),
            )
            return
        query = DepartmentQuery(
            query_id=uuid.uuid4().hex,
            id_numbers=tuple(allowed),
            authorization_reference=",".join(authorizations),
            purpose=request.purpose,
        )
        await self._save(
            row.id,
            department,
            base.event("DEPARTMENT_QUERY_SENT", {"query_id": query.query_id, "members": len(allowed)}),
            allowed,
            status="querying",
            queried_json=json.dumps(list(allowed)),
            not_queried_json=json.dumps(list(refused)),
        )
        outcome = await self._ask(department, query)
        await self._record_outcome(row.id, department, allowed, outcome, base)

    async def _ask(self, department: str, query: DepartmentQuery) -> _Outcome:
        """Send one query and wait (within the department's deadline) for an answer or a ticket's answer."""
        connector = self._connectors[department]
        ticket: Ticket | None = None
        try:
            async with asyncio.timeout(self._settings.department_deadline_seconds):
                reply = await connector.query(query)
                while isinstance(reply, Ticket):
                    ticket = reply
                    wait = (reply.ready_after - now()).total_seconds()
                    await asyncio.sleep(min(max(wait, 0.05), self._settings.poll_interval_seconds))
                    reply = await connector.poll(reply)
        except TimeoutError:
            if ticket is not None:
                return _Outcome("pending", "accepted; the answer comes later", ticket=ticket)
            return _Outcome("unavailable", f"no answer within {self._settings.department_deadline_seconds:g} s")
        except DepartmentUnavailable as exc:
            return _Outcome("unavailable", exc.reason)
        except DepartmentRefused as exc:
            return _Outcome("unavailable", f"refused: {exc.reason}")
        try:
            check_answer(department, query.id_numbers, reply)
        except AnswerRejected as exc:
            return _Outcome("unavailable", f"answer rejected: {exc}")
        return _Outcome("ok", answer=reply)

    async def _record_outcome(
        self,
        verification_id: str,
        department: str,
        asked: Sequence[str],
        outcome: _Outcome,
        base: _Scope,
    ) -> None:
        if outcome.status == "ok":
            assert outcome.answer is not None
            body = _records_json(outcome.answer)
            await self._save(
                verification_id,
                department,
                base.event(
                    "DEPARTMENT_ANSWER_RECEIVED",
                    {
                        "records": len(outcome.answer.records),
                        "sha256": hashlib.sha256(body.encode()).hexdigest(),
                    },
                ),
                asked,
                status="ok",
                detail="",
                records_json=body,
                record_count=len(outcome.answer.records),
                answered_at=outcome.answer.answered_at,
                ticket_id=None,
            )
        elif outcome.status == "pending":
            assert outcome.ticket is not None
            await self._save(
                verification_id,
                department,
                base.event("DEPARTMENT_ANSWER_PENDING", {"ready_after": outcome.ticket.ready_after.isoformat()}),
                asked,
                status="pending",
                detail=outcome.detail,
                ticket_id=outcome.ticket.ticket_id,
                ticket_ready_after=outcome.ticket.ready_after,
            )
            self.spawn(self._follow_ticket(verification_id, department), f"poll {verification_id} {department}")
        else:
            log.info("%s unavailable for verification %s: %s", department, verification_id, outcome.detail)
            await self._save(
                verification_id,
                department,
                base.event("DEPARTMENT_QUERY_FAILED", {"reason": outcome.detail}),
                asked,
                status="unavailable",
                detail=outcome.detail,
                ticket_id=None,
            )

    async def _follow_ticket(self, verification_id: str, department: str) -> None:
        """Poll a pending answer until it comes, the pending deadline passes, or consent is withdrawn."""
        row, request, _ = await self._context(verification_id)
        connector = self._connectors[department]
        while True:
            async with self._db.sessions() as session:
                result = await session.get(DepartmentResultRow, (verification_id, department))
            if result is None or result.status != "pending" or result.ticket_id is None:
                return
            asked = tuple(json.loads(result.queried_json))
            authorizations = await self._load_authorizations(json.loads(row.authorizations_json))
            decision = decide(asked, [department], authorizations, request.commissioned_by, now().date())
            base = _Scope(
                row.operator, row.client, verification_id, ",".join(decision.authorizations_for(department)), department
            )
            if decision.refused:
                withdrawn = tuple(r.id_number for r in decision.refused)
                await self._save(
                    verification_id,
                    department,
                    base.event("DEPARTMENT_QUERY_FAILED", {"reason": "authorization withdrawn; polling stopped"}),
                    withdrawn,
                    status="not_queried",
                    detail="authorization revoked or expired while the answer was pending; polling stopped",
                    not_queried_json=json.dumps(sorted({*json.loads(result.not_queried_json), *withdrawn})),
                    ticket_id=None,
                )
                await self.publish_report(verification_id)
                return
            created = result.updated_at
            if (now() - created).total_seconds() > self._settings.pending_deadline_seconds:
                await self._record_outcome(
                    verification_id,
                    department,
                    asked,
                    _Outcome("unavailable", "no answer before the pending deadline"),
                    base,
                )
                await self.publish_report(verification_id)
                return
            ticket = Ticket(department, result.ticket_id, result.ticket_ready_after or now())
            wait = (ticket.ready_after - now()).total_seconds()
            await asyncio.sleep(min(max(wait, 0.05), self._settings.poll_interval_seconds))
            try:
                reply = await asyncio.wait_for(connector.poll(ticket), self._settings.department_deadline_seconds)
            except (TimeoutError, DepartmentUnavailable):
                continue
            except DepartmentRefused as exc:
                await self._record_outcome(
                    verification_id, department, asked, _Outcome("unavailable", f"refused: {exc.reason}"), base
                )
                await self.publish_report(verification_id)
                return
            if isinstance(reply, Ticket):
                continue
            try:
                check_answer(department, asked, reply)
                outcome = _Outcome("ok", answer=reply)
            except AnswerRejected as exc:
                outcome = _Outcome("unavailable", f"answer rejected: {exc}")
            await self._record_outcome(verification_id, department, asked, outcome, base)
            await self.publish_report(verification_id)
            return

    async def publish_report(self, verification_id: str) -> int:
        """Assess the stored answers and store the next report version (never editing an earlier one)."""
        lock = self._report_locks.setdefault(verification_id, asyncio.Lock())
        async with lock:
            row, request, _ = await self._context(verification_id)
            policy = self._policy_for(request)
            async with self._db.sessions.begin() as session:
                verification = await session.get(VerificationRow, verification_id, with_for_update=True)
                assert verification is not None
                results = list(
                    await session.scalars(
                        select(DepartmentResultRow).where(DepartmentResultRow.verification_id == verification_id)
                    )
                )
                sources = {r.department: outcome_of(r) for r in results}
                result = assess(request, policy, sources)
                version = verification.latest_report_version + 1
                report_id = uuid.uuid4().hex
                generated = now()
                seq = await self._audit.append(
                    session,
                    AuditEvent(
                        kind="REPORT_CREATED",
                        operator=row.operator,
                        client=row.client,
                        verification=verification_id,
                        details={
                            "report_id": report_id,
                            "version": version,
                            "classification": result.household.classification,
                            "flags": sorted({f.code for f in result.flags}),
                        },
                    ),
                    id_numbers=[m.id_number for m in request.members],
                )
                body = build_report(
                    report_id=report_id,
                    verification_id=verification_id,
                    version=version,
                    generated_at=generated,
                    request=request,
                    policy=policy,
                    sources=sources,
                    result=result,
                    authorizations=json.loads(row.authorizations_json),
                    audit_reference=f"audit-entries/{seq}",
                )
                session.add(
                    ReportRow(
                        id=report_id,
                        verification_id=verification_id,
                        version=version,
                        created_at=generated,
                        body_json=json.dumps(body, ensure_ascii=False, sort_keys=True),
                    )
                )
                verification.latest_report_version = version
                verification.state = (
                    "AWAITING_ANSWERS" if any(s.status == "pending" for s in sources.values()) else "COMPLETED"
                )
                verification.updated_at = generated
            log.info(
                "report %s v%d for verification %s: %s",
                report_id,
                version,
                verification_id,
                result.household.classification,
            )
            self._changes.notify(verification_id)
            return version
