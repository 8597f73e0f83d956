"""The pipeline's conductor: plan → record → send → store → publish, for new verifications, for steps taken
over from a process that died (or a previous run), and for answers that come later; every stage is a module
of its own in this package.

Each department query is a durable step (:mod:`verifier.storage.work`) recorded with the plan and leased to
the process that sends it; its outcome is stored in the transaction that finishes the step. A process that
dies loses nothing: its leases lapse, and any process (a restarted one, or another replica) claims the
steps and sends them again by their idempotency keys, so no department looks anybody up twice.

Writes are batched: one transaction records every consent decision, every query and its step before any is
sent; answers that arrive together are stored together, and the last ones in the same transaction as the
report they complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent, AuditLog
from connectors.base import Connector, DepartmentQuery
from consent import RegisteredAuthorization, china_today
from verifier.assessment import SourceOutcome
from verifier.config import Settings
from verifier.observability import observe_stage
from verifier.pipeline.answers import Outcome, Settled
from verifier.pipeline.consent import AuthorizationReader, ConsentGate
from verifier.pipeline.plan import Job, Plan, Scope, plan_round, resumed_round
from verifier.pipeline.publish import Published, Publisher
from verifier.pipeline.send import Sender
from verifier.pipeline.signals import FinalState, StoredProgress, VerificationSignals, progress_of
from verifier.pipeline.store import AnswerStore
from verifier.pipeline.tickets import TicketPoller
from verifier.pipeline.worker import Leases, worker_name
from verifier.pipeline.writes import Writes
from verifier.policy import Policy
from verifier.request import VerificationRequest, stored_request
from verifier.storage import verifications as stored_verifications
from verifier.storage import work
from verifier.storage.db import Database
from verifier.vocabulary import DepartmentStatus, StepPhase, VerificationState

__all__ = ["Pipeline"]

log = logging.getLogger("hedui.pipeline")


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
        self.worker = worker_name()
        self.signals = VerificationSignals()
        self.authorizations = AuthorizationReader(db)
        self.gate = ConsentGate(self.authorizations, settings.catalogue)
        self.publisher = Publisher(audit, settings, policy_for)
        self._store = AnswerStore(audit, self.gate, self.worker, settings.poll_interval_seconds)
        self._sender = Sender(connectors, settings, self.gate)
        parts = (self._store, self.publisher, self.signals)
        self.writes = Writes()
        self._tickets = TicketPoller(db, connectors, settings, self.gate, parts, self.worker, self.writes)
        self.leases = Leases(
            db,
            self.worker,
            lease_seconds=settings.work_lease_seconds,
            claim_seconds=settings.work_claim_interval_seconds,
            carry_on=self._carry_on,
            spawn=self.spawn,
            writes=self.writes,
        )
        self._audit = audit
        self._claim_seconds = settings.work_claim_interval_seconds
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False

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
        """Stop every background task and give the leases back (the work left is carried on by whichever
        process claims it next, this one after a restart)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.writes.drain()  # transactions the cancelled tasks had begun end as they would have
        if self._started:
            try:
                await self.leases.release_all()
            except Exception:
                log.exception("giving the work leases back failed; they lapse by themselves")

    async def resume(self) -> None:
        """Start this process's share of the durable work: renew its leases and claim due and orphaned
        steps — work a previous run left, a dead replica's, answers that are due to be polled.

        Queries an earlier version left without a step are given one first.
        """
        async with self._db.write() as session:
            adopted = await work.adopt(session)
        if adopted:
            log.info("%d queries left by an earlier version became durable steps", adopted)
        self._started = True
        self.spawn(self.leases.renew_forever(), "renew work leases")
        self.spawn(self.leases.claim_forever(), "claim work")
        self.spawn(self._watch_consent_forever(), "watch consent")

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
        """Record the consent decisions, the queries about to be sent and their steps (leased to this process),
        in the caller's transaction.

        ``opening``: audit events that come before the plan's own (a new verification's creation).
        ``inserted``: the result rows were just inserted with the plan in them (:meth:`Plan.new_rows`).
        A plan with nothing to send publishes its report at once.
        """
        began = time.perf_counter()
        await self._audit.append_many(session, [*opening, *plan.events])
        if plan.updates and not inserted:
            await stored_verifications.update_results(session, plan.updates)
        await work.add(session, plan.steps(self.worker, self.leases.until(), dt.datetime.now(dt.UTC)))
        observe_stage("record", began)
        if not plan.queries:
            await self.publisher.publish_in(session, job)

    def send(
        self, job: Job, plan: Plan, *, confirmed_at: int | None = None, rows: Sequence[Mapping[str, object]] = ()
    ) -> None:
        """Send a recorded plan's queries in the background and see the verification through.

        ``confirmed_at``: the transaction that recorded the plan (just committed) found the consent epoch the
        plan was decided at (this one), share-locked: the queries leave on that decision without reading it.
        ``rows``: a new verification's result rows as just written (watchers are handed its final state
        from them and the answers, without reading it back).
        """
        if plan.queries:
            progress = {str(r["department"]): progress_of(r) for r in rows}
            self.spawn(self._carry_plan(job, plan, confirmed_at, progress), f"fan-out {job.verification_id}")

    def withdraw(self, authorization_name: str) -> None:
        """An authorization was revoked here: call back its queries still waiting to be sent."""
        self.gate.changed()
        self._sender.withdraw(authorization_name)

    async def _watch_consent_forever(self) -> None:
        """A revocation made through another process (a replica, an admin command) shows here only as a new
        consent epoch: while queries are on their way, read it every claim interval and decide again the consent
        of each query decided at an earlier epoch — one waiting for a department's limits (or for its answer)
        about a member withdrawn meanwhile is called back."""
        while True:
            await asyncio.sleep(self._claim_seconds)
            if not self._sender.sending():
                continue
            try:
                epoch = (await self.authorizations.current(())).epoch
                if self._sender.decided_before(epoch):
                    self.gate.changed()
                    called = await self._sender.recheck(epoch)
                    if called:
                        log.info("consent changed elsewhere: %d queries on their way called back", called)
            except Exception:
                log.exception("watching the consent epoch failed; retrying")

    async def _carry_on(self, claimed: Sequence[work.Claimed]) -> None:
        """Carry claimed steps on, a verification at a time: queries sent again by their keys, tickets polled."""
        by_verification: dict[str, list[work.Claimed]] = {}
        for step in claimed:
            by_verification.setdefault(step.verification_id, []).append(step)
        await asyncio.gather(*(self._carry_verification(vid, steps) for vid, steps in by_verification.items()))

    async def _carry_verification(self, verification_id: str, steps: Sequence[work.Claimed]) -> None:
        """One verification's claimed steps."""
        job = await self.load_job(verification_id)
        sends = [s for s in steps if s.phase == StepPhase.SEND]
        polls = [s for s in steps if s.phase == StepPhase.POLL]
        if sends:
            async with self._db.sessions() as session:
                rows = {r.department: r for r in await stored_verifications.results(session, verification_id)}
            recorded = [
                (
                    s.department,
                    s.query_id,
                    s.key,
                    json.loads(rows[s.department].queried_json),
                    json.loads(rows[s.department].not_queried_json),
                )
                for s in sends
                if s.department in rows
            ]
            log.info("verification %s: %d queries taken over, sent again by their keys", verification_id, len(sends))
            plan = resumed_round(job, recorded, await self.gate.authorizations(job), china_today())
            await self._gather_answers(job, plan)
        await asyncio.gather(*(self._tickets.poll_step(job, step) for step in polls))

    async def _carry_plan(
        self, job: Job, plan: Plan, confirmed_at: int | None, progress: dict[str, StoredProgress]
    ) -> None:
        """Send a freshly recorded plan's queries (held by this process) and see them stored; if that fails,
        the steps left are given back for any process to carry on."""
        keys = [query.idempotency_key for query, _ in plan.queries]
        await self.leases.carrying(keys, self._gather_answers(job, plan, confirmed_at=confirmed_at, progress=progress))

    async def _gather_answers(
        self,
        job: Job,
        plan: Plan,
        *,
        confirmed_at: int | None = None,
        progress: dict[str, StoredProgress] | None = None,
    ) -> None:
        """Ask every department at once; store answers in batches as they arrive, the last with the report.
        ``confirmed_at``: consent was confirmed at the commit just made (see :meth:`send`); ``progress``: every
        department's stored progress (a new verification's), kept up to date as answers are stored."""
        settled: asyncio.Queue[Settled | str] = asyncio.Queue()
        known = _Known(dict(plan.settled), progress or {})

        async def ask(query: DepartmentQuery, scope: Scope) -> None:
            """Ask one department and queue its outcome (a connector's own bug is an unavailable outcome; hedui's
            own database failing meanwhile is not the department's: its step is given back, queued as its key)."""
            try:
                outcome = await self._sender.ask(job, scope.department, query, confirmed_at=confirmed_at)
            except SQLAlchemyError as exc:
                log.warning(
                    "database failed while asking %s (%s); the query is left for a retry",
                    scope.department,
                    type(exc).__name__,
                )
                settled.put_nowait(query.idempotency_key)
                return
            except Exception as exc:  # a connector's own bug must not stall the verification
                log.exception("connector %s failed", scope.department)
                outcome = Outcome(DepartmentStatus.UNAVAILABLE, f"connector error: {type(exc).__name__}")
            refused = plan.refused.get(scope.department, ())
            settled.put_nowait(
                Settled(scope.department, query.id_numbers, outcome, scope, refused, key=query.idempotency_key)
            )

        tasks = [asyncio.create_task(ask(q, s), name=f"ask {s.department}") for q, s in plan.queries]
        try:
            remaining = len(tasks)
            while remaining:
                arrived = await _coalesced(settled, remaining)
                remaining -= len(arrived)
                given_back = [item for item in arrived if isinstance(item, str)]
                if given_back:
                    await self.leases.give_back(given_back, after_a_while=True)
                batch = [item for item in arrived if not isinstance(item, str)]
                if batch:
                    await self._keep_batch(job, plan, batch, known)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep_batch(self, job: Job, plan: Plan, batch: list[Settled], known: _Known) -> None:
        """Store one batch of outcomes; the batch that leaves no query of the verification open publishes."""
        await self.writes.run(lambda: self._keep_batch_now(job, plan, batch, known))

    async def _keep_batch_now(self, job: Job, plan: Plan, batch: list[Settled], known: _Known) -> None:
        """:meth:`_keep_batch`'s transaction (run to its end even when the pipeline stops meanwhile)."""
        began = time.perf_counter()
        final: FinalState | None = None
        async with self._db.write() as session:
            batch, events, rows, locked_version = await self._store.keep_unaudited(session, job, batch)
            for item in batch:
                known.outcomes[item.department] = item.source()
            known.progress.update((str(r["department"]), progress_of(r)) for r in rows)
            # This process finished every query of a new verification itself: nothing else can be open.
            alone = plan.complete and len(known.outcomes) == len(plan.updates)
            if batch and (alone or not await work.open_sends(session, job.verification_id)):
                # Outcomes in hand are the whole truth only then, and if no ticket is being followed meanwhile.
                pending = any(o.status == DepartmentStatus.PENDING for o in known.outcomes.values())
                whole = alone and not pending
                published = await self.publisher.publish_in(
                    session, job, known.outcomes if whole else None, before=events, locked_version=locked_version
                )
                final = known.final(published) if whole else None
            else:
                await self._audit.append_many(session, events)
        observe_stage("store", began)
        self.signals.notify(job.verification_id, final)


@dataclass(slots=True)
class _Known:
    """What one fan-out knows of its verification: each department's outcome, and (a new verification's)
    each department's stored progress."""

    outcomes: dict[str, SourceOutcome]
    progress: dict[str, StoredProgress]

    def final(self, published: Published) -> FinalState | None:
        """The verification's state as the transaction that published ``published`` stored it, if every
        department's progress is known here."""
        if published.state != VerificationState.COMPLETED or set(self.progress) != set(self.outcomes):
            return None
        departments = tuple(self.progress[d] for d in sorted(self.progress))
        return FinalState(published.state, published.at, published.version, departments)


# How long the first outcome of a batch waits for the others: departments asked together tend to answer
# within a millisecond or two of each other, and one transaction for all of them costs far less than two.
COALESCE_SECONDS = 0.004


async def _coalesced(settled: asyncio.Queue[Settled | str], remaining: int) -> list[Settled | str]:
    """The next batch of outcomes: the first to come, and those that come within :data:`COALESCE_SECONDS`
    of it (at once when all ``remaining`` are in)."""
    batch = [await settled.get()]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(COALESCE_SECONDS):
            while len(batch) < remaining:
                batch.append(await settled.get())
    while not settled.empty() and len(batch) < remaining:
        batch.append(settled.get_nowait())
    return batch
