"""Following a pending answer: poll its ticket no faster than the poll interval until the answer comes,
the pending deadline passes, or consent ends (decided again before each poll)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
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
from verifier.storage import verifications as stored_verifications
from verifier.storage.db import Database
from verifier.storage.models import DepartmentResultRow
from verifier.vocabulary import DepartmentStatus

__all__ = ["TicketPoller"]

_UNAVAILABLE = DepartmentStatus.UNAVAILABLE


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Again(Exception):
    """Not settled by this poll: wait and poll again."""


class TicketPoller:
    """Polls the tickets of pending answers, one task per (verification, department)."""

    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        settings: Settings,
        gate: ConsentGate,
        parts: tuple[AnswerStore, Publisher, VerificationSignals],
        load_job: Callable[[str], Awaitable[Job]],
    ) -> None:
        """Poll through ``connectors``; store with the answer store, publish, then signal watchers."""
        self._db = db
        self._connectors = connectors
        self._settings = settings
        self._gate = gate
        self._store, self._publisher, self._signals = parts
        self._load_job = load_job

    async def follow(self, verification_id: str, department: str) -> None:
        """Poll a pending answer until it comes, the pending deadline passes, or consent is withdrawn."""
        metrics = DepartmentMetrics.for_department(department)
        metrics.pending(1)
        try:
            await self._poll_until_settled(verification_id, department)
        finally:
            metrics.pending(-1)

    async def _poll_until_settled(self, verification_id: str, department: str) -> None:
        """The loop of :meth:`follow`: one poll per round, stored and published once settled."""
        job = await self._load_job(verification_id)
        pause = 0.0
        while True:
            await asyncio.sleep(pause)
            async with self._db.sessions() as session:
                result = await stored_verifications.result(session, verification_id, department)
            if result is None or result.status != DepartmentStatus.PENDING or result.ticket_id is None:
                return
            # Never faster than the poll interval, whatever the department says about readiness.
            pause = self._settings.poll_interval_seconds
            try:
                outcome = await self._round(job, department, result)
            except _Again:
                continue
            await self._settle(job, department, result, outcome)
            return

    async def _round(self, job: Job, department: str, result: DepartmentResultRow) -> Outcome:
        """Consent, the pending deadline, then one poll; raises :class:`_Again` when nothing is settled."""
        asked = tuple(json.loads(result.queried_json))
        _, ended = await self._gate.allowed_now(job, department, asked)
        if ended:
            return Outcome(DepartmentStatus.NOT_QUERIED, POLLING_STOPPED, withdrawn=asked)
        if (_now() - result.updated_at).total_seconds() > self._settings.pending_deadline_seconds:
            return Outcome(_UNAVAILABLE, "no answer before the pending deadline")
        assert result.ticket_id is not None
        ticket = Ticket(department, result.ticket_id, result.ticket_ready_after or _now())
        wait = (ticket.ready_after - _now()).total_seconds()
        await asyncio.sleep(min(max(wait, 0.0), self._settings.poll_interval_seconds))
        _, ended = await self._gate.allowed_now(job, department, asked)
        if ended:
            raise _Again  # decided at the top of the next round, in one place
        try:
            reply = await asyncio.wait_for(
                self._connectors[department].poll(ticket), self._settings.deadline(department)
            )
        except TimeoutError:
            raise _Again from None
        except DepartmentUnavailable as exc:
            if exc.transient:
                raise _Again from None
            return Outcome(_UNAVAILABLE, scrub(exc.reason))
        except DepartmentRefused as exc:
            return Outcome(_UNAVAILABLE, f"refused: {scrub(exc.reason)}")
        if isinstance(reply, Ticket):
            await self._renew(job.verification_id, department, reply)
            raise _Again
        return checked(self._settings.catalogue[department], asked, reply)

    async def _settle(self, job: Job, department: str, result: DepartmentResultRow, outcome: Outcome) -> None:
        """Store the settled outcome (consent decided again in the same transaction) and publish."""
        asked = tuple(json.loads(result.queried_json))
        not_queried = tuple(json.loads(result.not_queried_json))
        scope = Scope(job.operator, job.client, job.verification_id, ",".join(job.authorization_names), department)
        async with self._db.write() as session:
            await self._store.keep(session, job, [Settled(department, asked, outcome, scope, not_queried)])
            await self._publisher.publish_in(session, job)
        self._signals.notify(job.verification_id)

    async def _renew(self, verification_id: str, department: str, ticket: Ticket) -> None:
        """A department that is not ready may hand out a new ticket or a new time: keep what it said."""
        async with self._db.write() as session:
            await stored_verifications.renew_ticket(
                session, verification_id, department, ticket.ticket_id, ticket.ready_after
            )
