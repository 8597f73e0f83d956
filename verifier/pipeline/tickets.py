"""Following a pending answer: each due poll step (claimed by whichever process has room) polls its ticket
once — consent decided again before it — and settles the answer, or is due again a poll interval later;
the pending deadline ends it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Mapping

from connectors.base import Connector, DepartmentRefused, DepartmentUnavailable, Ticket
from connectors.metrics import DepartmentMetrics
from consent import scrub
from verifier.config import Settings
from verifier.pipeline.answers import POLLING_STOPPED, Outcome, Settled, checked
from verifier.pipeline.consent import ConsentGate
from verifier.pipeline.plan import Job, Scope
from verifier.pipeline.publish import Publisher
from verifier.pipeline.signals import VerificationSignals
from verifier.pipeline.store import AnswerStore
from verifier.pipeline.writes import Writes
from verifier.storage import verifications as stored_verifications
from verifier.storage import work
from verifier.storage.db import Database
from verifier.storage.models import DepartmentResultRow
from verifier.vocabulary import DepartmentStatus, StepPhase

__all__ = ["TicketPoller"]

log = logging.getLogger("hedui.pipeline")

_UNAVAILABLE = DepartmentStatus.UNAVAILABLE


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Again(Exception):
    """Not settled by this poll: due again a poll interval later."""


class TicketPoller:
    """Polls the ticket of one pending answer per claimed poll step."""

    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        settings: Settings,
        gate: ConsentGate,
        parts: tuple[AnswerStore, Publisher, VerificationSignals],
        worker: str,
        writes: Writes | None = None,
    ) -> None:
        """Poll through ``connectors``; store with the answer store, publish, then signal watchers; the steps
        are held by ``worker``; transactions run through ``writes`` (to their end, whatever happens)."""
        self._db = db
        self._connectors = connectors
        self._settings = settings
        self._gate = gate
        self._store, self._publisher, self._signals = parts
        self._worker = worker
        self._writes = writes or Writes()

    async def poll_step(self, job: Job, step: work.Claimed) -> None:
        """One poll of a claimed step's ticket: settled (stored, published), or due again later."""
        async with self._db.sessions() as session:
            result = await stored_verifications.result(session, job.verification_id, step.department)
        if result is None or result.status != DepartmentStatus.PENDING or result.ticket_id is None:
            await self._finish(step, StepPhase.DONE, _now())  # nothing to poll any more
            return
        metrics = DepartmentMetrics.for_department(step.department)
        metrics.pending(1)
        try:
            outcome = await self._round(job, step.department, result)
        except _Again:
            due = _now() + dt.timedelta(seconds=self._settings.poll_interval_seconds)
            await self._finish(step, StepPhase.POLL, due)
            return
        finally:
            metrics.pending(-1)
        await self._settle(job, step, result, outcome)

    async def _round(self, job: Job, department: str, result: DepartmentResultRow) -> Outcome:
        """Consent, the pending deadline, then one poll; raises :class:`_Again` when nothing is settled."""
        asked = tuple(json.loads(result.queried_json))
        _, ended = await self._gate.allowed_now(job, department, asked)
        if ended:
            return Outcome(DepartmentStatus.NOT_QUERIED, POLLING_STOPPED, withdrawn=asked)
        if (_now() - result.updated_at).total_seconds() > self._settings.pending_deadline_seconds:
            return Outcome(_UNAVAILABLE, "no answer before the pending deadline")
        assert result.ticket_id is not None
        if department not in self._connectors:  # the configuration no longer has it: nobody to poll
            return Outcome(_UNAVAILABLE, "the department is no longer configured; its pending answer cannot be polled")
        ticket = Ticket(department, result.ticket_id, result.ticket_ready_after or _now())
        try:
            async with asyncio.timeout(self._settings.deadline(department)):  # not wait_for: see docs/architecture.md
                reply = await self._connectors[department].poll(ticket)
        except TimeoutError:
            raise _Again from None
        except DepartmentUnavailable as exc:
            if exc.transient:
                raise _Again from None
            return Outcome(_UNAVAILABLE, scrub(exc.reason))
        except DepartmentRefused as exc:
            return Outcome(_UNAVAILABLE, f"refused: {scrub(exc.reason)}")
        except Exception:  # a connector's own bug: the ticket still stands; polled again, until the pending deadline
            log.exception("connector %s failed polling a ticket; polled again later", department)
            raise _Again from None
        if isinstance(reply, Ticket):
            await self._renew(job.verification_id, department, reply)
            raise _Again
        return checked(self._settings.catalogue[department], asked, reply)

    async def _settle(self, job: Job, step: work.Claimed, result: DepartmentResultRow, outcome: Outcome) -> None:
        """Store the settled outcome (consent decided again in the same transaction) and publish, unless
        queries of the verification are still being asked (the last of them publishes)."""
        asked = tuple(json.loads(result.queried_json))
        not_queried = tuple(json.loads(result.not_queried_json))
        scope = Scope(job.operator, job.client, job.verification_id, ",".join(job.authorization_names), step.department)
        item = Settled(step.department, asked, outcome, scope, not_queried, key=step.key)

        async def store() -> None:
            """The storing transaction."""
            async with self._db.write() as session:
                kept = await self._store.keep(session, job, [item])
                if kept and not await work.open_sends(session, job.verification_id):
                    await self._publisher.publish_in(session, job)

        await self._writes.run(store)
        self._signals.notify(job.verification_id)

    async def _finish(self, step: work.Claimed, phase: StepPhase, due: dt.datetime) -> None:
        """End this round of the step without an outcome: done, or due again at ``due``."""
        await self._writes.run(lambda: self._write(work.finish, self._worker, [work.Finish(step.key, phase, due)]))

    async def _renew(self, verification_id: str, department: str, ticket: Ticket) -> None:
        """A department that is not ready may hand out a new ticket or a new time: keep what it said."""
        renew = stored_verifications.renew_ticket
        args = (verification_id, department, ticket.ticket_id, ticket.ready_after)
        await self._writes.run(lambda: self._write(renew, *args))

    async def _write(self, statement: Callable[..., Awaitable[object]], *args: object) -> None:
        """One storage function in a write transaction of its own."""
        async with self._db.write() as session:
            await statement(session, *args)
