"""The pipeline's conductor: plan → record → send → store → publish, for new verifications, after a restart,
and for answers that come later; every stage is a module of its own in this package.

Writes are batched: one transaction records every consent decision and every query before any is
sent; answers that arrive together are stored together, and the last ones in the same transaction
as the report they complete.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent, AuditLog
from connectors.base import Connector, DepartmentQuery
from consent import RegisteredAuthorization, china_today
from verifier.assessment import SourceOutcome
from verifier.config import Settings
from verifier.pipeline.answers import Outcome, Settled
from verifier.pipeline.consent import AuthorizationReader, ConsentGate
from verifier.pipeline.plan import Job, Plan, Scope, plan_round
from verifier.pipeline.publish import Publisher
from verifier.pipeline.send import Sender
from verifier.pipeline.signals import VerificationSignals
from verifier.pipeline.store import AnswerStore
from verifier.pipeline.tickets import TicketPoller
from verifier.policy import Policy
from verifier.request import VerificationRequest, stored_request
from verifier.storage import verifications as stored_verifications
from verifier.storage.db import Database
from verifier.vocabulary import DepartmentStatus

__all__ = ["Pipeline"]

log = logging.getLogger("hedui.pipeline")
_TO_ASK = frozenset({DepartmentStatus.QUEUED, DepartmentStatus.QUERYING})


class Pipeline:
    """Runs verifications in the background: queries departments concurrently, publishes report versions."""

    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        audit: AuditLog,
        settings: Settings,
        policy_for: Callable[[VerificationRequest], Policy],
    ) -> None:
        """Build the stages over one database, the (shared, mutable) connectors and the audit log."""
        self._db = db
        self.signals = VerificationSignals()
        self.authorizations = AuthorizationReader(db)
        gate = ConsentGate(self.authorizations, settings.catalogue)
        self.publisher = Publisher(audit, settings, policy_for)
        self._store = AnswerStore(audit, gate)
        self._sender = Sender(connectors, settings, gate)
        parts = (self._store, self.publisher, self.signals)
        self._tickets = TicketPoller(db, connectors, settings, gate, parts, self.load_job)
        self._audit = audit
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Awaitable[None], name: str) -> None:
        """Run ``coroutine`` in the background until it ends or :meth:`close`; its failure is logged."""

        async def guarded() -> None:
            """Run the coroutine; log its failure instead of losing it."""
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
        """Stop every background task (work left is resumed on the next start)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def resume(self) -> None:
        """After a restart: finish verifications that were running, keep polling pending answers."""
        async with self._db.sessions() as session:
            running = await stored_verifications.running_ids(session)
            pending = await stored_verifications.pending_tickets(session)
        for verification_id in running:
            self.spawn(self.run(await self.load_job(verification_id)), f"run {verification_id}")
        for verification_id, department in pending:
            self._follow(verification_id, department)

    async def load_job(self, verification_id: str) -> Job:
        """What the pipeline needs of a stored verification."""
        async with self._db.sessions() as session:
            row = await stored_verifications.get(session, verification_id)
        if row is None:
            raise LookupError(verification_id)
        return Job(
            verification_id=row.id,
            operator=row.operator,
            client=row.client,
            request=stored_request(row.request_json),
            authorization_names=tuple(json.loads(row.authorizations_json)),
        )

    @staticmethod
    def plan(
        job: Job,
        departments: Sequence[str],
        authorizations: Sequence[RegisteredAuthorization],
        *,
        complete: bool = False,
    ) -> Plan:
        """Decide consent for each department and prepare its query; nothing is sent yet.

        ``complete``: the plan covers every department of the verification (a new one).
        """
        return plan_round(
            job, departments, authorizations, today=china_today(), at=dt.datetime.now(dt.UTC), complete=complete
        )

    async def record_plan(
        self,
        session: AsyncSession,
        job: Job,
        plan: Plan,
        *,
        opening: Sequence[tuple[AuditEvent, Sequence[str]]] = (),
        inserted: bool = False,
    ) -> None:
        """Record the consent decisions and the queries about to be sent, in the caller's transaction.

        ``opening``: audit events that come before the plan's own (a new verification's creation).
        ``inserted``: the result rows were just inserted with the plan in them (:meth:`Plan.new_rows`).
        A plan with nothing to send publishes its report at once.
        """
        await self._audit.append_many(session, [*opening, *plan.events])
        if plan.updates and not inserted:
            await stored_verifications.update_results(session, plan.updates)
        if not plan.queries:
            await self.publisher.publish_in(session, job)

    def send(self, job: Job, plan: Plan) -> None:
        """Send a recorded plan's queries in the background and see the verification through."""
        if plan.queries:
            self.spawn(self._gather_answers(job, plan), f"fan-out {job.verification_id}")

    def withdraw(self, authorization_name: str) -> None:
        """An authorization was revoked here: call back its queries still waiting to be sent."""
        self._sender.withdraw(authorization_name)

    async def run(self, job: Job) -> None:
        """Query every department still to be queried (after a restart), then publish the report."""
        async with self._db.sessions() as session:
            statuses = await stored_verifications.statuses(session, job.verification_id)
        todo = sorted(d for d, status in statuses.items() if status in _TO_ASK)
        plan = self.plan(job, todo, await self.authorizations.by_names(job.authorization_names))
        async with self._db.write() as session:
            await self.record_plan(session, job, plan)
        self.signals.notify(job.verification_id)
        if plan.queries:
            await self._gather_answers(job, plan)

    def _follow(self, verification_id: str, department: str) -> None:
        """Poll a pending answer in the background."""
        self.spawn(self._tickets.follow(verification_id, department), f"poll {verification_id} {department}")

    async def _gather_answers(self, job: Job, plan: Plan) -> None:
        """Ask every department at once; store answers in batches as they arrive, the last with the report."""
        settled: asyncio.Queue[Settled] = asyncio.Queue()
        known = dict(plan.settled)

        async def ask(query: DepartmentQuery, scope: Scope) -> None:
            """Ask one department and queue its outcome (a connector's own bug is an unavailable outcome)."""
            try:
                outcome = await self._sender.ask(job, scope.department, query)
            except Exception as exc:  # a connector's own bug must not stall the verification
                log.exception("connector %s failed", scope.department)
                outcome = Outcome(DepartmentStatus.UNAVAILABLE, f"connector error: {type(exc).__name__}")
            refused = plan.refused.get(scope.department, ())
            settled.put_nowait(Settled(scope.department, query.id_numbers, outcome, scope, refused))

        tasks = [asyncio.create_task(ask(q, s), name=f"ask {s.department}") for q, s in plan.queries]
        try:
            remaining = len(tasks)
            while remaining:
                batch = [await settled.get()]
                await asyncio.sleep(0)  # let answers that arrived in the same instant join this batch
                while not settled.empty():
                    batch.append(settled.get_nowait())
                remaining -= len(batch)
                await self._keep_batch(job, plan, batch, known, last=remaining == 0)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep_batch(
        self, job: Job, plan: Plan, batch: list[Settled], known: dict[str, SourceOutcome], *, last: bool
    ) -> None:
        """Store one batch of outcomes (the last with the report), then follow the tickets handed out."""
        async with self._db.write() as session:
            batch = await self._store.keep(session, job, batch)
            for item in batch:
                known[item.department] = item.source()
            if last:
                # Outcomes in hand are the whole truth only if no ticket is being followed meanwhile.
                alone = plan.complete and not any(o.status == DepartmentStatus.PENDING for o in known.values())
                await self.publisher.publish_in(session, job, known if alone else None)
        self.signals.notify(job.verification_id)
        for item in batch:
            if item.outcome.status == DepartmentStatus.PENDING:
                self._follow(job.verification_id, item.department)
