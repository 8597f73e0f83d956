"""The one place that sends department queries: consent check, concurrent fan-out, deadlines, reports.

Every query sent, answer received and failure is an audit event committed in the
same transaction as the stored result.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
from connectors.metrics import DepartmentMetrics
from connectors.records import (
    RecordError,
    is_about,
    record_from_plain,
    record_to_plain,
    records_about,
    registers_of,
)
from consent import IdentityNumberError, RegisteredAuthorization, china_today, decide, scrub, validate_identity_number
from verifier.assessment import SourceOutcome, assess
from verifier.policy import Policy
from verifier.reports import build_report, load_previous_report, report_digest
from verifier.request import VerificationRequest
from verifier.settings import Settings
from verifier.storage.db import Database
from verifier.storage.models import DepartmentResultRow, ReportRow, VerificationRow

__all__ = ["MAX_RECORDS_PER_ANSWER", "Changes", "FanOut"]

log = logging.getLogger("hedui.fanout")
MAX_RECORDS_PER_ANSWER = 10_000
NOT_SENT = "authorization revoked or expired before the query was sent"
CALLED_BACK = "authorization revoked while the query was on its way: called back, no answer is used"
POLLING_STOPPED = "authorization revoked or expired while the answer was pending; polling stopped"
ANSWER_DISCARDED = "authorization revoked or expired before the answer was stored; the answer was discarded"
FINAL = frozenset({"ok", "unavailable", "not_queried"})


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Changes:
    """Wakes watchers of a verification when something about it changes (in this process).

    A counter per verification means a change that happens while a watcher is busy reading is
    never lost: the watcher waits only until the counter passes the value it last saw.
    """

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._events: dict[str, asyncio.Event] = {}

    def version(self, verification_id: str) -> int:
        return self._versions.get(verification_id, 0)

    def notify(self, verification_id: str) -> None:
        self._versions[verification_id] = self.version(verification_id) + 1
        event = self._events.pop(verification_id, None)
        if event is not None:
            event.set()

    async def wait_past(self, verification_id: str, seen: int, timeout: float) -> None:
        """Return once the verification changed after version ``seen``, or after ``timeout`` seconds."""
        if self.version(verification_id) > seen:
            return
        event = self._events.setdefault(verification_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: str
    detail: str = ""
    answer: DepartmentAnswer | None = None
    ticket: Ticket | None = None
    # Members whose consent ended after the plan: never asked, or their answer discarded.
    withdrawn: tuple[str, ...] = ()


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
    wanted = frozenset(asked)
    registers = registers_of(answer.records, wanted)
    seen: set[str] = set()
    for record in answer.records:
        if record.department != department:
            raise AnswerRejected(f"record {record.record_id} belongs to {record.department}")
        if record.record_id in seen:
            raise AnswerRejected(f"duplicate record id {record.record_id}")
        try:
            # A connector in Python can build any record; every field is checked again as if it came as JSON.
            record_from_plain(record.kind, record_to_plain(record))
        except RecordError as exc:
            raise AnswerRejected(f"record {record.record_id}: {exc}") from None
        try:
            validate_identity_number(record.subject)
        except IdentityNumberError:
            raise AnswerRejected(f"record {record.record_id} names an invalid identity number") from None
        seen.add(record.record_id)
        if not is_about(department, record, wanted, registers):
            raise AnswerRejected(f"record {record.record_id} is about a person not asked about")


def _records_json(answer: DepartmentAnswer) -> str:
    return json.dumps([{"kind": r.kind, "record": record_to_plain(r)} for r in answer.records], ensure_ascii=False)


class StoredResult(Protocol):
    """The stored fields of a department's result (an ORM object or a Core row)."""

    department: str
    status: str
    detail: str
    records_json: str
    not_queried_json: str
    answered_at: dt.datetime | None


def outcome_of(row: StoredResult) -> SourceOutcome:
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


@dataclass(frozen=True, slots=True)
class Job:
    """What the fan-out needs of one verification, loaded once."""

    verification_id: str
    operator: str
    client: str
    request: VerificationRequest
    authorization_names: tuple[str, ...]


@dataclass(slots=True)
class Plan:
    """The audit events, status updates and queries of one round of the fan-out."""

    events: list[tuple[AuditEvent, Sequence[str]]] = field(default_factory=list)
    updates: list[dict[str, object]] = field(default_factory=list)
    queries: list[tuple[DepartmentQuery, _Scope]] = field(default_factory=list)
    # Outcomes known without asking: departments no member may be queried at, and who was refused where.
    settled: dict[str, SourceOutcome] = field(default_factory=dict)
    refused: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # True when the plan covers every department of the verification (a new verification).
    complete: bool = False


@dataclass(frozen=True, slots=True)
class _Settled:
    """A department's outcome waiting to be stored."""

    department: str
    asked: tuple[str, ...]
    outcome: _Outcome
    scope: _Scope
    # Members not queried at this department: refused when planned, and withdrawn since.
    not_queried: tuple[str, ...] = ()

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


class FanOut:
    """Runs verifications: decides consent, queries departments concurrently, publishes report versions.

    Writes are batched: one transaction records every consent decision and every query before any
    is sent; answers that arrive together are stored together, and the last ones in the same
    transaction as the report they complete.
    """

    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        audit: AuditLog,
        settings: Settings,
        changes: Changes,
        policy_for: Callable[[VerificationRequest], Policy],
        load_authorizations: Callable[[Sequence[str], AsyncSession | None], Awaitable[list[RegisteredAuthorization]]],
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
        # Queries on their way to departments, by the authorizations of their verification.
        self._sending: dict[tuple[str, ...], set[asyncio.Future[DepartmentAnswer | Ticket]]] = {}

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
            self.spawn(self.run(await self.load_job(verification_id)), f"run {verification_id}")
        for verification_id, department in pending:
            self.spawn(self._follow_ticket(verification_id, department), f"poll {verification_id} {department}")

    async def load_job(self, verification_id: str) -> Job:
        async with self._db.sessions() as session:
            row = await session.get(VerificationRow, verification_id)
        if row is None:
            raise LookupError(verification_id)
        return Job(
            verification_id=row.id,
            operator=row.operator,
            client=row.client,
            request=self._parse_request(row.request_json),
            authorization_names=tuple(json.loads(row.authorizations_json)),
        )

    def plan(self, job: Job, departments: Sequence[str], authorizations: Sequence[RegisteredAuthorization]) -> Plan:
        """Decide consent for each department and prepare its query; nothing is sent yet."""
        vid = job.verification_id
        members = [m.id_number for m in job.request.members]
        decision = decide(
            members, departments, authorizations, job.request.commissioned_by, china_today(), job.request.purpose
        )
        plan = Plan()
        at = now()
        for department in departments:
            allowed = decision.members_for(department)
            refused = tuple(r.id_number for r in decision.refused if r.department == department)
            scope = _Scope(job.operator, job.client, vid, ",".join(decision.authorizations_for(department)), department)
            reasons = sorted({r.reason for r in decision.refused if r.department == department})
            details: dict[str, JsonValue] = {"allowed": len(allowed), "refused": len(refused), "reasons": reasons}
            plan.events.append((scope.event("CONSENT_DECISION", details), members))
            row: dict[str, object] = {
                "verification_id": vid,
                "department": department,
                "not_queried_json": json.dumps(list(refused)),
                "updated_at": at,
            }
            plan.refused[department] = refused
            if not allowed:
                plan.events.append(
                    (scope.event("DEPARTMENT_QUERY_FAILED", {"reason": "no member may be queried"}), refused)
                )
                detail = "no valid authorization covers any member for this department"
                row |= {"status": "not_queried", "detail": detail}
                plan.settled[department] = SourceOutcome(department, "not_queried", detail=detail, not_queried=refused)
            else:
                query = DepartmentQuery(
                    query_id=uuid.uuid4().hex,
                    id_numbers=tuple(allowed),
                    authorization_reference=scope.authorization,
                    purpose=job.request.purpose,
                )
                sent: dict[str, JsonValue] = {"query_id": query.query_id, "members": len(allowed)}
                plan.events.append((scope.event("DEPARTMENT_QUERY_SENT", sent), allowed))
                row |= {"status": "querying", "queried_json": json.dumps(list(allowed))}
                plan.queries.append((query, scope))
            plan.updates.append(row)
        return plan

    async def record_plan(self, session: AsyncSession, job: Job, plan: Plan) -> None:
        """Record the consent decisions and the queries about to be sent, in the caller's transaction."""
        await self._audit.append_many(session, plan.events)
        if plan.updates:
            await session.execute(update(DepartmentResultRow), plan.updates)
        if not plan.queries:
            await self.publish_in(session, job)

    def send(self, job: Job, plan: Plan) -> None:
        """Send a recorded plan's queries in the background and see the verification through."""
        if plan.queries:
            self.spawn(self._gather_answers(job, plan), f"fan-out {job.verification_id}")

    async def run(self, job: Job) -> None:
        """Query every department still to be queried (after a restart), then publish the report."""
        async with self._db.sessions() as session:
            statuses = dict(
                (
                    await session.execute(
                        select(DepartmentResultRow.department, DepartmentResultRow.status).where(
                            DepartmentResultRow.verification_id == job.verification_id
                        )
                    )
                ).all()
            )
        todo = sorted(d for d, status in statuses.items() if status in ("queued", "querying"))
        plan = self.plan(job, todo, await self._load_authorizations(job.authorization_names, None))
        async with self._db.write() as session:
            await self.record_plan(session, job, plan)
        self._changes.notify(job.verification_id)
        if plan.queries:
            await self._gather_answers(job, plan)

    async def _consented(
        self, job: Job, department: str, ids: Sequence[str], session: AsyncSession | None = None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Consent decided again, now: (members that may still be asked about, members withdrawn).

        With ``session``, the authorizations are read (and on PostgreSQL share-locked) in that
        transaction, so a revocation either commits before it and is seen, or waits for it.
        """
        authorizations = await self._load_authorizations(job.authorization_names, session)
        decision = decide(
            ids, [department], authorizations, job.request.commissioned_by, china_today(), job.request.purpose
        )
        allowed = tuple(decision.members_for(department))
        return allowed, tuple(n for n in ids if n not in allowed)

    async def _gather_answers(self, job: Job, plan: Plan) -> None:
        """Ask every department at once; store answers in batches as they arrive, the last with the report."""
        settled: asyncio.Queue[_Settled] = asyncio.Queue()
        known = dict(plan.settled)

        async def ask(query: DepartmentQuery, scope: _Scope) -> None:
            try:
                outcome = await self._ask(job, scope.department, query)
            except Exception as exc:  # a connector's own bug must not stall the verification
                log.exception("connector %s failed", scope.department)
                outcome = _Outcome("unavailable", f"connector error: {type(exc).__name__}")
            refused = plan.refused.get(scope.department, ())
            settled.put_nowait(_Settled(scope.department, query.id_numbers, outcome, scope, refused))

        tasks = [asyncio.create_task(ask(q, s), name=f"ask {s.department}") for q, s in plan.queries]
        try:
            remaining = len(tasks)
            while remaining:
                batch = [await settled.get()]
                await asyncio.sleep(0)  # let answers that arrived in the same instant join this batch
                while not settled.empty():
                    batch.append(settled.get_nowait())
                remaining -= len(batch)
                async with self._db.write() as session:
                    batch = [await self._still_consented(session, job, item) for item in batch]
                    for item in batch:
                        known[item.department] = item.source()
                    await self._store(session, job.verification_id, batch)
                    if remaining == 0:
                        # Outcomes in hand are the whole truth only if no ticket is being followed meanwhile.
                        alone = plan.complete and not any(o.status == "pending" for o in known.values())
                        await self.publish_in(session, job, known if alone else None)
                self._changes.notify(job.verification_id)
                for item in batch:
                    if item.outcome.status == "pending":
                        self.spawn(
                            self._follow_ticket(job.verification_id, item.department),
                            f"poll {job.verification_id} {item.department}",
                        )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _ask(self, job: Job, department: str, query: DepartmentQuery) -> _Outcome:
        """Send one query and wait (within the department's deadline) for an answer or a ticket's answer.

        Consent is decided again right before the query leaves and before every poll: a member whose
        authorization ended since the plan is never asked about, and polling stops when one ends.
        """
        connector = self._connectors[department]
        ticket: Ticket | None = None
        planned = query.id_numbers
        withdrawn: tuple[str, ...] = ()
        try:
            async with asyncio.timeout(self._settings.deadline(department)):
                called_back = False
                while True:
                    allowed, ended = await self._consented(job, department, planned)
                    withdrawn = tuple(n for n in planned if n in ended)
                    if not allowed:
                        detail = CALLED_BACK if called_back else NOT_SENT
                        return _Outcome("not_queried", detail, withdrawn=withdrawn)
                    query = dataclasses.replace(query, id_numbers=allowed)
                    reply = await self._send_unless_withdrawn(job, connector, query)
                    if reply is not None:
                        break
                    called_back = True
                    # A revocation in this process called the query back (see withdraw): decide again.
                while isinstance(reply, Ticket):
                    ticket = reply
                    wait = (reply.ready_after - now()).total_seconds()
                    await asyncio.sleep(min(max(wait, 0.05), self._settings.poll_interval_seconds))
                    _, ended = await self._consented(job, department, query.id_numbers)
                    if ended:
                        return _Outcome("not_queried", POLLING_STOPPED, withdrawn=(*withdrawn, *query.id_numbers))
                    reply = await connector.poll(reply)
        except TimeoutError:
            if ticket is not None:
                return _Outcome("pending", "accepted; the answer comes later", ticket=ticket, withdrawn=withdrawn)
            return _Outcome(
                "unavailable", f"no answer within {self._settings.deadline(department):g} s", withdrawn=withdrawn
            )
        except DepartmentUnavailable as exc:
            return _Outcome("unavailable", scrub(exc.reason), withdrawn=withdrawn)
        except DepartmentRefused as exc:
            return _Outcome("unavailable", f"refused: {scrub(exc.reason)}", withdrawn=withdrawn)
        return dataclasses.replace(_checked(department, query.id_numbers, reply), withdrawn=withdrawn)

    async def _send_unless_withdrawn(
        self, job: Job, connector: Connector, query: DepartmentQuery
    ) -> DepartmentAnswer | Ticket | None:
        """Send ``query``; ``None`` when a revocation called it back while it waited (then it was not sent,
        or its answer is not wanted): queries wait for a department's rate limit, a revocation may not."""
        sending = asyncio.ensure_future(connector.query(query))
        self._sending.setdefault(job.authorization_names, set()).add(sending)
        try:
            return await sending
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if sending.cancelled() and (task is None or not task.cancelling()):
                return None
            raise
        finally:
            self._sending[job.authorization_names].discard(sending)
            if not self._sending[job.authorization_names]:
                del self._sending[job.authorization_names]

    def withdraw(self, authorization_name: str) -> None:
        """An authorization was revoked here: call back its queries still waiting to be sent."""
        for names, sending in list(self._sending.items()):
            if authorization_name in names:
                for future in sending:
                    future.cancel()

    async def _still_consented(self, session: AsyncSession, job: Job, item: _Settled) -> _Settled:
        """Before an answer is stored (in the storing transaction): drop what is about members withdrawn since."""
        outcome = item.outcome
        asked = tuple(n for n in item.asked if n not in outcome.withdrawn)
        if outcome.status in ("ok", "pending") and asked:
            allowed, ended = await self._consented(job, item.department, asked, session)
            if ended:
                if outcome.status == "pending" or not allowed:
                    detail = POLLING_STOPPED if outcome.status == "pending" else ANSWER_DISCARDED
                    outcome = _Outcome("not_queried", detail, withdrawn=(*outcome.withdrawn, *asked))
                else:
                    assert outcome.answer is not None
                    kept = records_about(item.department, outcome.answer.records, allowed)
                    outcome = dataclasses.replace(
                        outcome,
                        answer=dataclasses.replace(outcome.answer, records=kept),
                        withdrawn=(*outcome.withdrawn, *ended),
                    )
        if not outcome.withdrawn:
            return item
        not_queried = tuple(dict.fromkeys((*item.not_queried, *outcome.withdrawn)))
        return dataclasses.replace(item, outcome=outcome, not_queried=not_queried)

    async def _store(self, session: AsyncSession, verification_id: str, items: Sequence[_Settled]) -> None:
        """Store departments' outcomes, each with its audit event, in the caller's transaction."""
        rows: list[dict[str, object]] = []
        events: list[tuple[AuditEvent, Sequence[str]]] = []
        at = now()
        for item in items:
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
            if outcome.status == "ok":
                assert outcome.answer is not None
                body = _records_json(outcome.answer)
                details: dict[str, JsonValue] = {
                    "records": len(outcome.answer.records),
                    "sha256": hashlib.sha256(body.encode()).hexdigest(),
                }
                event = scope.event("DEPARTMENT_ANSWER_RECEIVED", details)
                row |= {
                    "records_json": body,
                    "record_count": len(outcome.answer.records),
                    "answered_at": outcome.answer.answered_at,
                }
            elif outcome.status == "pending":
                assert outcome.ticket is not None
                ready = outcome.ticket.ready_after
                event = scope.event("DEPARTMENT_ANSWER_PENDING", {"ready_after": ready.isoformat()})
                row |= {"ticket_id": outcome.ticket.ticket_id, "ticket_ready_after": ready}
            else:
                log.info("%s unavailable for verification %s: %s", item.department, verification_id, outcome.detail)
                event = scope.event("DEPARTMENT_QUERY_FAILED", {"reason": outcome.detail})
            rows.append(row)
            events.append((event, item.asked))
            if outcome.withdrawn:
                withdrawn = scope.event(
                    "CONSENT_DECISION", {"withdrawn": len(outcome.withdrawn), "when": outcome.detail}
                )
                events.append((withdrawn, outcome.withdrawn))
        await session.execute(update(DepartmentResultRow), rows)
        await self._audit.append_many(session, events)

    async def _follow_ticket(self, verification_id: str, department: str) -> None:
        """Poll a pending answer until it comes, the pending deadline passes, or consent is withdrawn."""
        metrics = DepartmentMetrics.for_department(department)
        metrics.pending(1)
        try:
            await self._poll_until_settled(verification_id, department)
        finally:
            metrics.pending(-1)

    async def _poll_until_settled(self, verification_id: str, department: str) -> None:
        job = await self.load_job(verification_id)
        connector = self._connectors[department]
        pause = 0.0
        while True:
            await asyncio.sleep(pause)
            async with self._db.sessions() as session:
                result = await session.get(DepartmentResultRow, (verification_id, department))
            if result is None or result.status != "pending" or result.ticket_id is None:
                return
            asked = tuple(json.loads(result.queried_json))
            not_queried = tuple(json.loads(result.not_queried_json))
            _, ended = await self._consented(job, department, asked)
            scope = _Scope(job.operator, job.client, verification_id, ",".join(job.authorization_names), department)
            outcome: _Outcome
            if ended:
                outcome = _Outcome("not_queried", POLLING_STOPPED, withdrawn=asked)
            elif (now() - result.updated_at).total_seconds() > self._settings.pending_deadline_seconds:
                outcome = _Outcome("unavailable", "no answer before the pending deadline")
            else:
                ticket = Ticket(department, result.ticket_id, result.ticket_ready_after or now())
                wait = (ticket.ready_after - now()).total_seconds()
                await asyncio.sleep(min(max(wait, 0.0), self._settings.poll_interval_seconds))
                # Never faster than the poll interval, whatever the department says about readiness.
                pause = self._settings.poll_interval_seconds
                _, ended = await self._consented(job, department, asked)
                if ended:
                    continue  # decided at the top of the loop, in one place
                try:
                    reply = await asyncio.wait_for(connector.poll(ticket), self._settings.deadline(department))
                except TimeoutError:
                    continue
                except DepartmentUnavailable as exc:
                    if exc.transient:
                        continue
                    outcome = _Outcome("unavailable", scrub(exc.reason))
                except DepartmentRefused as exc:
                    outcome = _Outcome("unavailable", f"refused: {scrub(exc.reason)}")
                else:
                    if isinstance(reply, Ticket):
                        await self._renew_ticket(verification_id, department, reply)
                        continue
                    outcome = _checked(department, asked, reply)
            async with self._db.write() as session:
                item = await self._still_consented(
                    session, job, _Settled(department, asked, outcome, scope, not_queried)
                )
                await self._store(session, verification_id, [item])
                await self.publish_in(session, job)
            self._changes.notify(verification_id)
            return

    async def _renew_ticket(self, verification_id: str, department: str, ticket: Ticket) -> None:
        """A department that is not ready may hand out a new ticket or a new time: keep what it said."""
        async with self._db.write() as session:
            await session.execute(
                update(DepartmentResultRow)
                .where(
                    DepartmentResultRow.verification_id == verification_id,
                    DepartmentResultRow.department == department,
                    DepartmentResultRow.status == "pending",
                )
                .values(ticket_id=ticket.ticket_id, ticket_ready_after=ticket.ready_after)
            )

    async def publish_in(
        self, session: AsyncSession, job: Job, sources: Mapping[str, SourceOutcome] | None = None
    ) -> None:
        """Assess the answers and add the next report version, in the caller's transaction.

        ``sources`` are every department's outcomes when the caller has them all in hand (exactly
        what is being stored); otherwise they are read back. A report is never edited: each version
        is a new row naming the one before.
        """
        vid = job.verification_id
        if sources is None:
            # Lock the verification before reading its results, so concurrent publishers serialise
            # and the later one sees the earlier one's answer.
            await session.execute(
                select(VerificationRow.latest_report_version).where(VerificationRow.id == vid).with_for_update()
            )
            r = DepartmentResultRow
            rows = await session.execute(
                select(r.department, r.status, r.detail, r.records_json, r.not_queried_json, r.answered_at).where(
                    r.verification_id == vid
                )
            )
            sources = {r.department: outcome_of(r) for r in rows}
        policy = self._policy_for(job.request)
        # A recheck is compared with the report it names (checked to exist when the verification was created).
        previous = None
        if job.request.previous_report_id is not None:
            previous = await load_previous_report(session, job.request.previous_report_id)
        result = assess(job.request, policy, sources, previous)
        generated = now()
        pending = any(s.status == "pending" for s in sources.values())
        # Taking the next version number also locks the verification until this transaction ends.
        version = await session.scalar(
            update(VerificationRow)
            .where(VerificationRow.id == vid)
            .values(
                latest_report_version=VerificationRow.latest_report_version + 1,
                state="AWAITING_ANSWERS" if pending else "COMPLETED",
                updated_at=generated,
            )
            .returning(VerificationRow.latest_report_version)
        )
        assert version is not None
        report_id = uuid.uuid4().hex
        body = build_report(
            report_id=report_id,
            verification_id=vid,
            version=version,
            generated_at=generated,
            request=job.request,
            policy=policy,
            sources=sources,
            result=result,
            authorizations=job.authorization_names,
            audit_reference=f"{self._settings.audit_log_origin} REPORT_CREATED {report_id}",
        )
        # The entry carries the report's digest, so a printed or exported report can be checked against the log.
        await self._audit.append(
            session,
            AuditEvent(
                kind="REPORT_CREATED",
                operator=job.operator,
                client=job.client,
                verification=vid,
                details={
                    "report_id": report_id,
                    "version": version,
                    "classification": result.household.classification,
                    "flags": sorted({f.code for f in result.flags}),
                    "report_sha256": report_digest(body),
                },
            ),
            id_numbers=[m.id_number for m in job.request.members],
        )
        await session.execute(
            insert(ReportRow).values(
                id=report_id,
                verification_id=vid,
                version=version,
                created_at=generated,
                body_json=json.dumps(body, ensure_ascii=False),
            )
        )
        log.info("report %s v%d for verification %s: %s", report_id, version, vid, result.household.classification)


def _checked(department: str, asked: Sequence[str], reply: DepartmentAnswer) -> _Outcome:
    try:
        check_answer(department, asked, reply)
    except AnswerRejected as exc:
        return _Outcome("unavailable", scrub(f"answer rejected: {exc}"))
    return _Outcome("ok", answer=reply)
