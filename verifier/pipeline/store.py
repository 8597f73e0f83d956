"""Storing: departments' outcomes written with their audit events and the end of their durable steps, consent
decided again in the same transaction (the consent epoch share-locked on PostgreSQL), so a revocation that
commits first is seen.

An outcome is stored only if this process still holds its step: a process that lost its lease (paused
past it) while another took the query over discards what it got, so each query has one stored outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent, AuditLog
from verifier.pipeline.answers import Settled, stored_rows
from verifier.pipeline.consent import ConsentGate
from verifier.pipeline.plan import Job, query_key
from verifier.storage import verifications as stored_verifications
from verifier.storage import work
from verifier.vocabulary import DepartmentStatus, StepPhase

__all__ = ["AnswerStore", "key_of"]


def key_of(job: Job, item: Settled) -> str:
    """The idempotency key (durable step) of an outcome."""
    return item.key or query_key(job.verification_id, item.department)


class AnswerStore:
    """Keeps departments' outcomes, each with its audit event, in the caller's transaction."""

    def __init__(self, audit: AuditLog, gate: ConsentGate, worker: str, poll_interval: float) -> None:
        """Append audit events to ``audit``; decide consent with ``gate``; finish steps held by ``worker``
        (a pending outcome's step is next due ``poll_interval`` seconds on)."""
        self._audit = audit
        self._gate = gate
        self._worker = worker
        self._poll_interval = poll_interval

    async def keep(self, session: AsyncSession, job: Job, items: Sequence[Settled]) -> list[Settled]:
        """Decide consent again, finish the steps still held, then store what remains with its audit entries;
        returns the outcomes as stored (those of steps another process took over are left out)."""
        kept, events, _, _ = await self.keep_unaudited(session, job, items)
        await self._audit.append_many(session, events)
        return kept

    async def keep_unaudited(
        self, session: AsyncSession, job: Job, items: Sequence[Settled]
    ) -> tuple[list[Settled], list[tuple[AuditEvent, Sequence[str]]], list[dict[str, object]], int | None]:
        """:meth:`keep`, leaving the audit entries to the caller, who appends them in this transaction (with
        the report they complete, in one statement); also returns the result rows as written, and (PostgreSQL) the
        verification's latest report version as locked (``None`` on SQLite). Locks the verification first, so
        concurrent storers of one verification serialise (and the last one sees it is the last)."""
        # PostgreSQL: the verification locked and the consent epoch share-locked in one statement, which also reads
        # the latest report version (a report published in this transaction takes the next one without a read).
        locked = await stored_verifications.lock_with_consent_epoch_and_version(session, job.verification_id)
        epoch, version = (None, None) if locked is None else locked
        now = dt.datetime.now(dt.UTC)
        if epoch is None and session.get_bind().dialect.name == "sqlite" and not any(_polled(i) for i in items):
            # SQLite (its writers take turns; no row locks): every step ends done, whatever consent now decides about
            # the outcomes, so the steps are finished first and the same statement reads the consent epoch.
            mine, epoch = await work.finish_done_with_consent_epoch(
                session, self._worker, [key_of(job, item) for item in items], now
            )
            items = [item for item in items if key_of(job, item) in mine]
            kept = await self._gate.before_store(session, job, items, epoch=epoch) if items else []
        else:
            kept = await self._gate.before_store(session, job, items, epoch=epoch)
            if epoch is None:
                await stored_verifications.lock(session, job.verification_id)
            ends = [work.Finish(key_of(job, item), *self._next(item, now)) for item in kept]
            mine = await work.finish(session, self._worker, ends)
            kept = [item for item in kept if key_of(job, item) in mine]
        rows, events = stored_rows(job.verification_id, kept, now)
        await stored_verifications.update_results(session, rows)
        return kept, events, rows, version

    def _next(self, item: Settled, now: dt.datetime) -> tuple[StepPhase, dt.datetime]:
        """Done, or (pending on a ticket) polled again one poll interval on."""
        if not _polled(item):
            return StepPhase.DONE, now
        return StepPhase.POLL, now + dt.timedelta(seconds=self._poll_interval)


def _polled(item: Settled) -> bool:
    """Whether the outcome is pending on a ticket (its step is polled again), before consent is decided again: a
    decision can only take members out of an outcome, never give it a ticket."""
    return item.outcome.status == DepartmentStatus.PENDING and item.outcome.ticket is not None
