"""Resilience around a department connector: retries, a circuit breaker, rate and concurrency limits.

Departments are slow, down, or strict about load. :class:`ResilientConnector` wraps any
:class:`~connectors.base.Connector` so that hedui retries only transient failures (exponential
backoff with jitter, by ``tenacity``), fails fast while a department is down and finds out on its
own when it is back (a circuit breaker), and never sends more than the department said it takes:
queries and identity numbers per second in *any* one-second window, and calls at once.
:class:`SharedBatches` goes one step further for departments that allow it: identity numbers
of concurrent verifications travel in one call.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from connectors.base import (
    Connector,
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
)
from connectors.metrics import DepartmentMetrics
from connectors.records import PersonRecord

__all__ = ["BreakerState", "CircuitBreaker", "ResiliencePolicy", "ResilientConnector", "SharedBatches", "WindowLimiter"]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ResiliencePolicy:
    """How hard to try a department. The department's own deadline bounds all of it (see the fan-out)."""

    attempts: int = 4
    backoff_initial_seconds: float = 0.05
    backoff_max_seconds: float = 2.0
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0
    # Sends are spaced as if a second lasted this much longer, so that network jitter cannot make a
    # department see more than its limit inside one of its own seconds.
    window_margin_seconds: float = 0.02


class BreakerState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """Opens after ``failures`` transient failures in a row; after ``reset_seconds`` lets one trial through."""

    def __init__(self, department: str, failures: int, reset_seconds: float, clock: Clock = time.monotonic) -> None:
        self.department = department
        self._failures_to_open = failures
        self._reset = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False
        self.state = BreakerState.CLOSED

    def before_call(self) -> None:
        """Raise :class:`DepartmentUnavailable` at once while the department is known to be down."""
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._reset:
                raise DepartmentUnavailable(self.department, "circuit open: the department failed repeatedly")
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.HALF_OPEN:
            if self._trial_running:
                raise DepartmentUnavailable(self.department, "circuit half-open: a trial call is under way")
            self._trial_running = True

    def succeeded(self) -> None:
        self._failures = 0
        self._trial_running = False
        self.state = BreakerState.CLOSED

    def failed(self) -> None:
        self._trial_running = False
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or self._failures >= self._failures_to_open:
            self.state = BreakerState.OPEN
            self._opened_at = self._clock()

    def released(self) -> None:
        """A call ended without telling anything about the department (cancelled, refused)."""
        self._trial_running = False
        if self.state is BreakerState.HALF_OPEN:
            self.state = BreakerState.OPEN


class WindowLimiter:
    """At most ``limit`` units in any window of ``window`` seconds (a sliding log, exact, first come first served)."""

    def __init__(self, limit: int, window: float = 1.0, clock: Clock = time.monotonic) -> None:
        if limit <= 0:
            raise ValueError("limit must be positive")
        self.limit = limit
        self._window = window
        self._clock = clock
        self._sent: collections.deque[tuple[float, int]] = collections.deque()
        self._used = 0
        self._lock = asyncio.Lock()

    async def acquire(self, units: int) -> None:
        if units > self.limit:
            raise ValueError(f"{units} units exceed the limit of {self.limit} per window")
        async with self._lock:
            while True:
                now = self._clock()
                while self._sent and self._sent[0][0] <= now - self._window:
                    self._used -= self._sent.popleft()[1]
                if self._used + units <= self.limit:
                    self._sent.append((now, units))
                    self._used += units
                    return
                # Wait until enough of the oldest sends leave the window.
                freed, until = self.limit - self._used, now
                for at, n in self._sent:
                    freed += n
                    until = at
                    if freed >= units:
                        break
                await asyncio.sleep(max(until + self._window - now, 0.001))


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, DepartmentUnavailable) and exc.transient


class ResilientConnector:
    """A connector that keeps to the department's limits and retries only what is worth retrying."""

    def __init__(
        self, inner: Connector, policy: ResiliencePolicy = ResiliencePolicy(), metrics: DepartmentMetrics | None = None
    ) -> None:
        self.inner = inner
        self.policy = policy
        description = inner.describe()
        self._description = description
        self.department = description.department
        self.breaker = CircuitBreaker(description.department, policy.breaker_failures, policy.breaker_reset_seconds)
        window = 1.0 + policy.window_margin_seconds
        self._queries = WindowLimiter(max(1, description.max_queries_per_second), window)
        self._identities = (
            WindowLimiter(description.max_identities_per_second, window)
            if description.max_identities_per_second > 0
            else None
        )
        self._concurrency = asyncio.Semaphore(max(1, description.max_concurrent_queries))
        self.metrics = metrics or DepartmentMetrics.for_department(description.department)
        self.metrics.breaker(self.breaker.state)

    def describe(self) -> ConnectorDescription:
        return self._description

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        if len(query.id_numbers) > self._description.max_batch_size:
            raise DepartmentRefused(
                self.department, f"{len(query.id_numbers)} identity numbers exceed the batch size of the department"
            )
        return await self._call(lambda: self.inner.query(query), len(query.id_numbers))

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        return await self._call(lambda: self.inner.poll(ticket), 0)

    async def _call(
        self, send: Callable[[], Awaitable[DepartmentAnswer | Ticket]], identities: int
    ) -> DepartmentAnswer | Ticket:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait_exponential_jitter(
                multiplier=self.policy.backoff_initial_seconds,
                max=self.policy.backoff_max_seconds,
                jitter=self.policy.backoff_initial_seconds,
            ),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    self.metrics.retried()
                return await self._once(send, identities)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

    async def _once(
        self, send: Callable[[], Awaitable[DepartmentAnswer | Ticket]], identities: int
    ) -> DepartmentAnswer | Ticket:
        try:
            self.breaker.before_call()
        except DepartmentUnavailable:
            self.metrics.error("breaker_open")
            raise
        started = 0.0
        try:
            async with self._concurrency:
                if self._identities is not None and identities:
                    await self._identities.acquire(identities)
                await self._queries.acquire(1)
                started = time.perf_counter()
                self.metrics.sent(identities)
                reply = await send()
        except DepartmentUnavailable as exc:
            self.breaker.failed() if exc.transient else self.breaker.released()
            self.metrics.error("unavailable" if exc.transient else "invalid_answer")
            raise
        except DepartmentRefused:
            self.breaker.released()
            self.metrics.error("refused")
            raise
        except BaseException:
            self.breaker.released()
            if started:
                self.metrics.error("timeout_or_cancelled")
            raise
        finally:
            if started:
                self.metrics.latency(time.perf_counter() - started)
            self.metrics.breaker(self.breaker.state)
        self.breaker.succeeded()
        self.metrics.breaker(self.breaker.state)
        if not isinstance(reply, DepartmentAnswer | Ticket):
            raise DepartmentUnavailable(self.department, f"connector returned {type(reply).__name__}", transient=False)
        return reply


@dataclass(slots=True)
class _Waiting:
    query: DepartmentQuery
    done: asyncio.Future[DepartmentAnswer]


class SharedBatches:
    """Identity numbers of concurrent verifications in one department call, where the department allows it.

    Queries wait in a queue while the department's limits hold the calls back; each call takes as
    many whole queries of one purpose as fit its batch size, and the answer is split back by the
    people each query asked about (police: their whole household registers). Only for departments
    that answer at once; an asynchronous department gets each query as it comes.
    """

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self._description = inner.describe()
        self.department = self._description.department
        self._queue: list[_Waiting] = []
        self._senders = 0
        self._max_senders = max(1, self._description.max_concurrent_queries)
        self.calls = 0

    def describe(self) -> ConnectorDescription:
        return self._description

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        return await self.inner.poll(ticket)

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        if not self._description.shared_batches or len(query.id_numbers) >= self._description.max_batch_size:
            return await self.inner.query(query)
        waiting = _Waiting(query, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._senders < self._max_senders:
            self._senders += 1
            asyncio.get_running_loop().create_task(self._send_batches())
        return await asyncio.shield(waiting.done)

    def _next_batch(self) -> list[_Waiting]:
        purpose = self._queue[0].query.purpose
        batch: list[_Waiting] = []
        size = 0
        rest: list[_Waiting] = []
        for waiting in self._queue:
            n = len(waiting.query.id_numbers)
            if waiting.query.purpose == purpose and size + n <= self._description.max_batch_size:
                batch.append(waiting)
                size += n
            else:
                rest.append(waiting)
        self._queue = rest
        return batch

    async def _send_batches(self) -> None:
        try:
            await asyncio.sleep(0)  # let the queries of this instant join the first call
            while self._queue:
                batch = self._next_batch()
                await self._send(batch)
        finally:
            self._senders -= 1

    async def _send(self, batch: Sequence[_Waiting]) -> None:
        ids = tuple(dict.fromkeys(n for w in batch for n in w.query.id_numbers))
        references = ",".join(dict.fromkeys(w.query.authorization_reference for w in batch))
        shared = DepartmentQuery(
            query_id=f"shared-{uuid.uuid4().hex}",
            id_numbers=ids,
            authorization_reference=references,
            purpose=batch[0].query.purpose,
        )
        self.calls += 1
        try:
            reply = await self.inner.query(shared)
            if isinstance(reply, Ticket):
                raise DepartmentUnavailable(
                    self.department, "the department answered a shared batch with a ticket", transient=False
                )
            if len(_share(reply, ids).records) != len(reply.records):
                raise DepartmentUnavailable(
                    self.department, "answer holds records of people not asked about", transient=False
                )
        except BaseException as exc:
            for waiting in batch:
                if not waiting.done.done():
                    waiting.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for waiting in batch:
            if not waiting.done.done():
                waiting.done.set_result(_share(reply, waiting.query.id_numbers))


def _share(answer: DepartmentAnswer, id_numbers: Sequence[str]) -> DepartmentAnswer:
    """The part of a shared answer about ``id_numbers`` (for police, their household registers)."""
    wanted = set(id_numbers)
    registers = {r.hukou_id for r in answer.records if isinstance(r, PersonRecord) and r.id_number in wanted}
    records = tuple(
        r for r in answer.records if (r.hukou_id in registers if isinstance(r, PersonRecord) else r.subject in wanted)
    )
    return DepartmentAnswer(department=answer.department, records=records, answered_at=answer.answered_at)
