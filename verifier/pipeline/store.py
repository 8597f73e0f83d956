"""Storing: departments' outcomes written with their audit events, consent decided again in the same
transaction (authorizations share-locked on PostgreSQL), so a revocation that commits first is seen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditLog
from verifier.pipeline.answers import Settled, stored_rows
from verifier.pipeline.consent import ConsentGate
from verifier.pipeline.plan import Job
from verifier.storage import verifications as stored_verifications

__all__ = ["AnswerStore"]


class AnswerStore:
    """Keeps departments' outcomes, each with its audit event, in the caller's transaction."""

    def __init__(self, audit: AuditLog, gate: ConsentGate) -> None:
        """Append audit events to ``audit``; decide consent with ``gate``."""
        self._audit = audit
        self._gate = gate

    async def keep(self, session: AsyncSession, job: Job, items: Sequence[Settled]) -> list[Settled]:
        """Decide consent again for each outcome, then store what remains; returns the outcomes as stored."""
        kept = [await self._gate.before_store(session, job, item) for item in items]
        rows, events = stored_rows(job.verification_id, kept, dt.datetime.now(dt.UTC))
        await stored_verifications.update_results(session, rows)
        await self._audit.append_many(session, events)
        return kept
