"""Sending one department's query within its deadline: consent decided right before it leaves, a revocation
calls back queries still waiting, and a ticket's answer is awaited until the deadline."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Mapping

from connectors.base import (
    Connector,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
)
from consent import scrub
from verifier.config import Settings
from verifier.pipeline.answers import CALLED_BACK, NOT_SENT, POLLING_STOPPED, Outcome, checked
from verifier.pipeline.consent import ConsentGate
from verifier.pipeline.plan import Job
from verifier.vocabulary import DepartmentStatus

__all__ = ["Sender"]

_UNAVAILABLE, _NOT_QUERIED = DepartmentStatus.UNAVAILABLE, DepartmentStatus.NOT_QUERIED


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Sender:
    """Sends queries to departments and follows their tickets until the department's deadline."""

    def __init__(self, connectors: Mapping[str, Connector], settings: Settings, gate: ConsentGate) -> None:
        """Send through ``connectors`` (shared with the service: replacing one there replaces it here)."""
        self._connectors = connectors
        self._settings = settings
        self._gate = gate
        # Queries on their way to departments, by the authorizations of their verification, and what each asks.
        self._sending: dict[tuple[str, ...], set[asyncio.Future[DepartmentAnswer | Ticket]]] = {}
        self._asking: dict[asyncio.Future[DepartmentAnswer | Ticket], _Asking] = {}

    async def ask(
        self, job: Job, department: str, query: DepartmentQuery, *, confirmed_at: int | None = None
    ) -> Outcome:
        """Send one query and wait (within the department's deadline) for an answer or a ticket's answer.

        Consent is decided again right before the query leaves and before every poll: a member whose
        authorization ended since the plan is never asked about, and polling stops when one ends.
        ``confirmed_at``: the consent epoch at which the commit just made confirmed the plan's decision; it
        stands for the first departure (a query called back and sent again is decided again).
        """
        progress = _Progress(decided_at=confirmed_at)
        try:
            async with asyncio.timeout(self._settings.deadline(department)):
                return await self._ask_within(job, department, query, progress)
        except TimeoutError:
            if progress.ticket is not None:
                return Outcome(
                    DepartmentStatus.PENDING,
                    "accepted; the answer comes later",
                    ticket=progress.ticket,
                    withdrawn=progress.withdrawn,
                )
            detail = f"no answer within {self._settings.deadline(department):g} s"
            return Outcome(_UNAVAILABLE, detail, withdrawn=progress.withdrawn)
        except DepartmentUnavailable as exc:
            return Outcome(_UNAVAILABLE, scrub(exc.reason), withdrawn=progress.withdrawn)
        except DepartmentRefused as exc:
            return Outcome(_UNAVAILABLE, f"refused: {scrub(exc.reason)}", withdrawn=progress.withdrawn)

    async def _ask_within(self, job: Job, department: str, query: DepartmentQuery, progress: _Progress) -> Outcome:
        """The body of :meth:`ask`, inside its deadline; ``progress`` keeps what the deadline's handler needs."""
        connector = self._connectors[department]
        planned = query.id_numbers
        called_back = False
        while True:
            allowed: tuple[str, ...]
            ended: tuple[str, ...]
            if progress.decided_at is not None:
                allowed, ended, epoch = planned, (), progress.decided_at
                progress.decided_at = None
            else:
                allowed, ended, epoch = await self._gate.decided_now(job, department, planned)
            progress.withdrawn = tuple(n for n in planned if n in ended)
            if not allowed:
                return Outcome(_NOT_QUERIED, CALLED_BACK if called_back else NOT_SENT, withdrawn=progress.withdrawn)
            query = dataclasses.replace(query, id_numbers=allowed)
            reply = await self._send_unless_withdrawn(job, department, connector, query, epoch)
            if reply is not None:
                break
            called_back = True
            # A revocation in this process called the query back (see withdraw): decide again.
        while isinstance(reply, Ticket):
            progress.ticket = reply
            wait = (reply.ready_after - _now()).total_seconds()
            await asyncio.sleep(min(max(wait, 0.05), self._settings.poll_interval_seconds))
            _, ended = await self._gate.allowed_now(job, department, query.id_numbers)
            if ended:
                return Outcome(_NOT_QUERIED, POLLING_STOPPED, withdrawn=(*progress.withdrawn, *query.id_numbers))
            reply = await connector.poll(reply)
        outcome = checked(self._settings.catalogue[department], query.id_numbers, reply)
        return dataclasses.replace(outcome, withdrawn=progress.withdrawn)

    async def _send_unless_withdrawn(
        self, job: Job, department: str, connector: Connector, query: DepartmentQuery, epoch: int
    ) -> DepartmentAnswer | Ticket | None:
        """Send ``query`` (its consent decided at ``epoch``); ``None`` when a revocation called it back while it
        waited (then it was not sent, or its answer is not wanted): queries wait for a department's rate limit,
        a revocation may not."""
        sending = asyncio.ensure_future(connector.query(query))
        self._sending.setdefault(job.authorization_names, set()).add(sending)
        self._asking[sending] = _Asking(job, department, query.id_numbers, epoch)
        try:
            return await sending
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if sending.cancelled() and (task is None or not task.cancelling()):
                return None
            raise
        finally:
            del self._asking[sending]
            self._sending[job.authorization_names].discard(sending)
            if not self._sending[job.authorization_names]:
                del self._sending[job.authorization_names]

    def withdraw(self, authorization_name: str) -> None:
        """An authorization was revoked here: call back its queries still waiting to be sent."""
        for names, sending in list(self._sending.items()):
            if authorization_name in names:
                for future in sending:
                    future.cancel()

    def sending(self) -> bool:
        """Whether any query is on its way (waiting for a department's limits, or for its answer)."""
        return bool(self._asking)

    def decided_before(self, epoch: int) -> bool:
        """Whether a query on its way had its consent decided before the consent epoch ``epoch``."""
        return any(asking.epoch < epoch for asking in self._asking.values())

    async def recheck(self, epoch: int) -> int:
        """Consent changed somewhere else (another process revoked an authorization or a key; the epoch is now
        ``epoch``): decide it again for every query on its way that was decided before, and call back each one
        that asks about a member withdrawn since — it is decided again and sent for the others (see
        :meth:`ask`). Returns how many were called back."""
        stale = [(future, asking) for future, asking in self._asking.items() if asking.epoch < epoch]
        # At once: the decisions about one verification share one read.
        return sum(await asyncio.gather(*(self._recheck_one(future, asking) for future, asking in stale)))

    async def _recheck_one(self, future: asyncio.Future[DepartmentAnswer | Ticket], asking: _Asking) -> int:
        """Decide one query's consent again; call it back (1) if a member it asks about was withdrawn."""
        if future.done():
            return 0
        _, ended, decided = await self._gate.decided_now(asking.job, asking.department, asking.ids)
        if future.done():
            return 0
        if ended:
            future.cancel()
            return 1
        asking.epoch = decided
        return 0


@dataclasses.dataclass(slots=True)
class _Asking:
    """A query on its way: whose, to which department, about whom, and the consent epoch it was decided at."""

    job: Job
    department: str
    ids: tuple[str, ...]
    epoch: int


@dataclasses.dataclass(slots=True)
class _Progress:
    """How far one :meth:`Sender.ask` got: the last ticket handed out, members withdrawn before sending,
    the epoch at which the first departure's consent was decided (and confirmed) already."""

    ticket: Ticket | None = None
    withdrawn: tuple[str, ...] = ()
    # The first departure's consent was decided (and confirmed) at this consent epoch already.
    decided_at: int | None = None
