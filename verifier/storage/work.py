"""Every SQL statement about durable work: department queries as steps that a process leases, renews and finishes.

A step is claimed by setting its lease (``leased_by`` until ``lease_until``); PostgreSQL claims with
``FOR UPDATE SKIP LOCKED``, so replicas on one database never claim the same step at once, and SQLite's
single writer does the same. A lease that is not renewed lapses and any process may claim the step;
finishing is conditional on still holding the lease, so of two processes that both sent a query (by its
idempotency key) only one stores the outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from verifier.storage import core
from verifier.storage.models import ConsentEpochRow, WorkStepRow
from verifier.vocabulary import StepPhase

__all__ = [
    "ADOPT",
    "Claimed",
    "Finish",
    "add",
    "adopt",
    "anything_due",
    "claim",
    "finish",
    "finish_done_with_consent_epoch",
    "open_sends",
    "release",
    "renew",
]

_LIVE = (StepPhase.SEND, StepPhase.POLL)
# Queries left querying (sent, outcome unknown) or pending without a step (an earlier version's): they become steps.
ADOPT = (
    "INSERT INTO work_steps (key, verification_id, department, phase, query_id, due_at, attempts) "
    "SELECT r.verification_id || '.' || r.department || '.1', r.verification_id, r.department, "
    "CASE WHEN r.status = 'pending' THEN 'poll' ELSE 'send' END, "
    "r.verification_id || '.' || r.department || '.1', r.updated_at, 0 "
    "FROM department_results r "
    "WHERE (r.status = 'querying' OR (r.status = 'pending' AND r.ticket_id IS NOT NULL)) "
    "AND NOT EXISTS (SELECT 1 FROM work_steps w "
    "WHERE w.verification_id = r.verification_id AND w.department = r.department)"
)


_STEPS = cast(Table, WorkStepRow.__table__)
_INSERT_STEPS = insert(_STEPS)
# Built once (SQLAlchemy then neither builds nor keys it per call): finish the held steps of a round.
_FINISH = (
    update(_STEPS)
    .where(
        _STEPS.c.key.in_(bindparam("b_keys", expanding=True)),
        _STEPS.c.leased_by == bindparam("b_worker"),
        _STEPS.c.phase.in_([str(p) for p in _LIVE]),
    )
    .values(phase=bindparam("b_phase"), due_at=bindparam("b_due_at"), leased_by=None, lease_until=None)
    .returning(_STEPS.c.key)
)
# The same, returning the consent epoch with each key (a scalar subquery): SQLite's storing transaction reads it so,
# not in a statement of its own.
_FINISH_WITH_EPOCH = _FINISH.returning(
    select(ConsentEpochRow.value).where(ConsentEpochRow.id == 1).scalar_subquery().label("consent_epoch")
)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A step this process now holds: which query of which verification, and what is to be done with it."""

    key: str
    verification_id: str
    department: str
    phase: StepPhase
    query_id: str


@dataclass(frozen=True, slots=True)
class Finish:
    """How a held step ends this round: done, or polled again from ``due_at`` (by whoever claims it then)."""

    key: str
    phase: StepPhase
    due_at: dt.datetime


async def add(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store new steps (already leased by the process that will send them at once), in the caller's transaction."""
    if rows:
        await core.execute(session, _INSERT_STEPS, list(rows))


async def adopt(session: AsyncSession) -> int:
    """Give every query left without a step (an earlier version's, or seeded) a step; returns how many."""
    try:
        async with session.begin_nested():
            result = await session.execute(text(ADOPT))
    except IntegrityError:
        return 0  # another process adopted them first
    return int(getattr(result, "rowcount", 0) or 0)


async def claim(
    session: AsyncSession, worker: str, *, now: dt.datetime, until: dt.datetime, limit: int
) -> list[Claimed]:
    """Lease up to ``limit`` due steps nobody holds (or whose lease lapsed) to ``worker`` until ``until``."""
    w = WorkStepRow
    due = (
        select(w.key)
        .where(w.phase.in_(list(_LIVE)), w.due_at <= now, (w.leased_by.is_(None)) | (w.lease_until < now))
        .order_by(w.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = await session.execute(
        update(w)
        .where(w.key.in_(due.scalar_subquery()))
        .values(leased_by=worker, lease_until=until, attempts=w.attempts + 1)
        .returning(w.key, w.verification_id, w.department, w.phase, w.query_id)
        .execution_options(synchronize_session=False)
    )
    return [Claimed(r.key, r.verification_id, r.department, StepPhase(r.phase), r.query_id) for r in claimed]


async def renew(session: AsyncSession, worker: str, until: dt.datetime, keys: Sequence[str]) -> None:
    """Extend ``worker``'s leases of ``keys`` (its heartbeat: the steps it is working on). Rows another
    transaction has locked (a storer finishing them) are skipped, so the heartbeat never waits for a lock and
    can never deadlock with one."""
    w = WorkStepRow
    held = (
        select(w.key)
        .where(w.key.in_(list(keys)), w.leased_by == worker, w.phase.in_(list(_LIVE)))
        .order_by(w.key)
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        update(w)
        .where(w.key.in_(held.scalar_subquery()))
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )


async def release(
    session: AsyncSession, worker: str, keys: Sequence[str] | None = None, *, due_at: dt.datetime | None = None
) -> None:
    """Give up ``worker``'s leases (all, or of ``keys``): the steps are due for anyone at once, or from
    ``due_at`` (a step whose work failed is not taken up again in a tight loop)."""
    w = WorkStepRow
    query = update(w).where(w.leased_by == worker, w.phase.in_(list(_LIVE)))
    if keys is not None:
        query = query.where(w.key.in_(list(keys)))
    values: dict[str, object] = {"leased_by": None, "lease_until": None}
    if due_at is not None:
        values["due_at"] = due_at
    await session.execute(query.values(values).execution_options(synchronize_session=False))


async def finish(session: AsyncSession, worker: str, ends: Sequence[Finish]) -> set[str]:
    """End this round of held steps, in the transaction that stores their outcomes; returns the keys that were
    still ``worker``'s (an outcome of any other key must not be stored: another process took the step over).
    One statement for each distinct (phase, due) among ``ends`` (usually one: all done)."""
    groups: dict[tuple[StepPhase, dt.datetime], list[str]] = {}
    for end in ends:
        groups.setdefault((end.phase, end.due_at), []).append(end.key)
    mine: set[str] = set()
    for (phase, due_at), keys in groups.items():
        result = await core.execute(
            session, _FINISH, {"b_keys": keys, "b_worker": worker, "b_phase": str(phase), "b_due_at": due_at}
        )
        mine.update(result.scalars())
    return mine


async def finish_done_with_consent_epoch(
    session: AsyncSession, worker: str, keys: Sequence[str], at: dt.datetime
) -> tuple[set[str], int | None]:
    """:func:`finish` for steps that are all done at ``at``, in ONE statement that also reads the consent epoch
    (``authorizations.consent_epoch``, unlocked: for SQLite, whose writers take turns); returns the keys that were
    still ``worker``'s and the epoch (``None`` when none was: no row came back to carry it)."""
    if not keys:
        return set(), None
    parameters = {"b_keys": list(keys), "b_worker": worker, "b_phase": str(StepPhase.DONE), "b_due_at": at}
    rows = (await core.execute(session, _FINISH_WITH_EPOCH, parameters)).all()
    return {r.key for r in rows}, (int(rows[0].consent_epoch or 0) if rows else None)


async def anything_due(session: AsyncSession, now: dt.datetime) -> bool:
    """Whether any step is due or orphaned (a read: the claim's write lock is taken only when one is)."""
    w = WorkStepRow
    found = await session.scalar(
        select(w.key)
        .where(w.phase.in_(list(_LIVE)), w.due_at <= now, (w.leased_by.is_(None)) | (w.lease_until < now))
        .limit(1)
    )
    return found is not None


async def open_sends(session: AsyncSession, verification_id: str) -> int:
    """How many of a verification's queries are still to be sent or answered (not done, not on a ticket)."""
    w = WorkStepRow
    found = await session.scalar(
        select(func.count()).select_from(w).where(w.verification_id == verification_id, w.phase == StepPhase.SEND)
    )
    return int(found or 0)
