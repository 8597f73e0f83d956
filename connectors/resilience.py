"""Resilience around a department connector: retries, a circuit breaker, rate and concurrency limits.

Departments are slow, down, or strict about load. :class:`ResilientConnector` wraps any
:class:`~connectors.base.Connector` so that hedui retries only transient failures (exponential
backoff with jitter, :func:`backoff`, by ``tenacity``), fails fast while a department is down or hangs and finds out
on its own when it is back (a circuit breaker), and never sends more than the department said it
takes: queries and identity numbers per second in *any* one-second window — both admitted together,
under one lock and with one timestamp (:class:`CallLimiter`) — and calls at once. Limits follow the
department's current ``describe()``: a remote department learns its own on its first answer, even
if it was unreachable when hedui started.

:class:`SharedBatches` goes one step further for departments that allow it: identity numbers of
concurrent verifications travel in one call. A call carries at most :func:`effective_batch_size`
identity numbers, and only of callers still waiting when the limits let it go.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from connectors.base import (
    Connector,
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
)
from connectors.departments import Department
from connectors.metrics import DepartmentMetrics
from connectors.records import AnswersWith, records_about
from connectors.wire import description_problems

__all__ = [
    "BreakerState",
    "CallLimiter",
    "CircuitBreaker",
    "ResiliencePolicy",
    "ResilientConnector",
    "SharedBatches",
    "WindowLimiter",
    "backoff",
    "effective_batch_size",
]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Reply = DepartmentAnswer | Ticket


def effective_batch_size(description: ConnectorDescription) -> int:
    """Identity numbers one call may carry: ``max_batch_size``, and no more than ``max_identities_per_second``.

    A call of more identity numbers than the department takes in a second could never be sent
    without breaking its identity limit, so the smaller of the two limits applies.
    """
    size = description.max_batch_size
    if description.max_identities_per_second > 0:
        size = min(size, description.max_identities_per_second)
    return max(1, size)


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
    """A circuit breaker's state, as the ``hedui_department_breaker_state`` gauge shows it."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """Opens after ``failures`` failures in a row; after ``reset_seconds`` lets one trial through.

    A failure is a transient :class:`DepartmentUnavailable`, or a call cut off (timed out or
    cancelled) after it was sent: a department that never answers opens the breaker like one that
    answers "unavailable". While the breaker is open, calls fail at once with a
    :class:`DepartmentUnavailable` that is not transient, so that no retry waits for it.
    """

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
                raise DepartmentUnavailable(
                    self.department, "circuit open: the department failed repeatedly", transient=False
                )
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.HALF_OPEN:
            if self._trial_running:
                raise DepartmentUnavailable(
                    self.department, "circuit half-open: a trial call is under way", transient=False
                )
            self._trial_running = True

    def succeeded(self) -> None:
        """A call answered: the breaker closes, the failure count starts again."""
        self._failures = 0
        self._trial_running = False
        self.state = BreakerState.CLOSED

    def failed(self) -> None:
        """A call failed: one more in a row; enough of them open the breaker."""
        self._trial_running = False
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or self._failures >= self._failures_to_open:
            self.state = BreakerState.OPEN
            self._opened_at = self._clock()

    def released(self) -> None:
        """A call ended without telling anything about the department (refused, or cut off before it was sent)."""
        self._trial_running = False
        if self.state is BreakerState.HALF_OPEN:
            self.state = BreakerState.OPEN


@dataclass(eq=False, slots=True)
class Grant:
    """Units let into a window at ``at``; given back with :meth:`CallLimiter.release` if nothing was sent."""

    at: float
    units: list[int]


class _SlidingLog:
    """At most ``limits[i]`` units of kind ``i`` in any window of ``window`` seconds; 0: no limit for that kind.

    A sliding log: exact, first come first served (a caller waits holding the lock). All kinds are
    checked and recorded together, with one timestamp.
    """

    def __init__(self, limits: Sequence[int], window: float, clock: Clock) -> None:
        self._limits = list(limits)
        self._window = window
        self._clock = clock
        self._sent: collections.deque[Grant] = collections.deque()
        self._used = [0] * len(self._limits)
        self._lock = asyncio.Lock()

    def _configure(self, limits: Sequence[int]) -> None:
        """New limits, the same log: what was sent still counts against them."""
        self._limits = list(limits)

    def _too_many(self, units: Sequence[int]) -> str | None:
        for limit, n in zip(self._limits, units, strict=True):
            if limit and n > limit:
                return f"{n} units exceed the limit of {limit} per window"
        return None

    async def _acquire(self, units: Sequence[int]) -> Grant:
        problem = self._too_many(units)
        if problem:
            raise ValueError(problem)
        async with self._lock:
            while True:
                problem = self._too_many(units)  # the limits may have changed while waiting
                if problem:
                    raise ValueError(problem)
                now = self._clock()
                while self._sent and self._sent[0].at <= now - self._window:
                    old = self._sent.popleft()
                    self._used = [u - n for u, n in zip(self._used, old.units, strict=True)]
                wait = self._wait(units, now)
                if wait is None:
                    grant = Grant(now, list(units))
                    self._sent.append(grant)
                    self._used = [u + n for u, n in zip(self._used, units, strict=True)]
                    return grant
                await asyncio.sleep(max(wait, 0.001))

    def _wait(self, units: Sequence[int], now: float) -> float | None:
        """Seconds until every kind has room for ``units`` (as the log stands), or None if it has now."""
        until: float | None = None
        for kind, (limit, n) in enumerate(zip(self._limits, units, strict=True)):
            if not limit or self._used[kind] + n <= limit:
                continue
            # Wait until enough of the oldest sends leave the window.
            freed = limit - self._used[kind]
            for grant in self._sent:
                freed += grant.units[kind]
                if freed >= n:
                    until = grant.at if until is None else max(until, grant.at)
                    break
        return None if until is None else until + self._window - now

    def _release(self, grant: Grant, units: Sequence[int] | None = None) -> None:
        """Give back a grant (``units`` None) or the part of it above ``units``: nothing, or less, was sent."""
        keep = [0] * len(grant.units) if units is None else [min(a, b) for a, b in zip(grant.units, units, strict=True)]
        if grant in self._sent:
            self._used = [u - (g - k) for u, g, k in zip(self._used, grant.units, keep, strict=True)]
            if units is None:
                self._sent.remove(grant)
        grant.units = keep


class WindowLimiter(_SlidingLog):
    """At most ``limit`` units in any window of ``window`` seconds (a sliding log, exact, first come first served)."""

    def __init__(self, limit: int, window: float = 1.0, clock: Clock = time.monotonic) -> None:
        if limit <= 0:
            raise ValueError("limit must be positive")
        super().__init__([limit], window, clock)
        self.limit = limit

    async def acquire(self, units: int) -> None:
        """Wait until ``units`` more fit the window, then record them."""
        await self._acquire([units])


class CallLimiter(_SlidingLog):
    """A department's rate limits: ``queries`` calls and ``identities`` identity numbers in any window.

    Both are admitted atomically: one lock, both windows checked, both recorded with the same
    timestamp — a call never holds an identity slot while it waits for a query slot (which would let
    the department see more identity numbers in one of its seconds than it takes). ``identities`` 0:
    only the query rate limits.
    """

    def __init__(self, queries: int, identities: int = 0, window: float = 1.0, clock: Clock = time.monotonic) -> None:
        _check_limits(queries, identities)
        super().__init__([queries, identities], window, clock)

    @property
    def limits(self) -> tuple[int, int]:
        """(queries, identities) per window."""
        return self._limits[0], self._limits[1]

    def configure(self, queries: int, identities: int = 0) -> None:
        """New limits; calls already let in still count against them."""
        _check_limits(queries, identities)
        self._configure([queries, identities])

    async def acquire(self, identities: int) -> Grant:
        """Wait until one call of ``identities`` identity numbers fits both windows; record it."""
        return await self._acquire([1, identities])

    def release(self, grant: Grant, identities: int | None = None) -> None:
        """Nothing was sent after all (``identities`` None), or only ``identities`` numbers: give back the rest."""
        self._release(grant, None if identities is None else [1, identities])


def _check_limits(queries: int, identities: int) -> None:
    if queries <= 0 or identities < 0:
        raise ValueError("the query limit must be positive and the identity limit not negative")


class _Gate:
    """At most ``limit`` holders at once, first come first served; the limit can change while in use."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._inside = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def resize(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._inside < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._inside += 1  # handed over to the waiter
                waiter.set_result(None)

    async def __aenter__(self) -> None:
        if self._inside < self.limit and not self._waiters:
            self._inside += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._exit()  # the place was handed over just before the cancellation: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit()

    def _exit(self) -> None:
        self._inside -= 1
        self._wake()


def _transient(exc: BaseException) -> bool:
    """A failure worth another attempt (the department said so, or the call never reached it)."""
    return isinstance(exc, DepartmentUnavailable) and exc.transient


def backoff(policy: ResiliencePolicy, attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1 for the first): exponential with jitter, capped —
    ``min(max, initial × 2^(attempt-1) + uniform(0, initial))``, the strategy of Google's retry guidance (that of
    tenacity's ``wait_exponential_jitter``), written out so that the policy's figures are the whole rule."""
    initial = policy.backoff_initial_seconds
    try:
        wait = initial * 2.0 ** (attempt - 1) + random.uniform(0, initial)
    except OverflowError:
        wait = policy.backoff_max_seconds
    return max(0.0, min(wait, policy.backoff_max_seconds))


class _Withdrawn(Exception):
    """Nothing to send any more: everyone the call was for has gone (see :meth:`ResilientConnector.query_admitted`)."""


Prepare = Callable[[], tuple[Awaitable[Reply], int] | None]


class ResilientConnector:
    """A connector that keeps to the department's limits and retries only what is worth retrying.

    The limits are those of the connector's current ``describe()``: read again before and after
    every call (connectors cache their description, so this is cheap), and applied at once when
    they change — e.g. a remote department that was unreachable when hedui started and answers its
    description with its first call. A description that breaks the contract is not applied (the
    previous one stays, with a warning in the log); one that does at construction is a ``ValueError``.
    """

    def __init__(
        self,
        inner: Connector,
        policy: ResiliencePolicy = ResiliencePolicy(),
        metrics: DepartmentMetrics | None = None,
        *,
        breaker_clock: Clock = time.monotonic,
    ) -> None:
        self.inner = inner
        self.policy = policy
        description = inner.describe()
        problems = description_problems(description)
        if problems:
            raise ValueError(f"{description.department} connector: invalid description: {'; '.join(problems)}")
        self._description = description
        self._refused: ConnectorDescription | None = None
        self.department = description.department
        self.breaker = CircuitBreaker(
            description.department, policy.breaker_failures, policy.breaker_reset_seconds, breaker_clock
        )
        self._limits = CallLimiter(
            description.max_queries_per_second,
            description.max_identities_per_second,
            1.0 + policy.window_margin_seconds,
        )
        self._concurrency = _Gate(description.max_concurrent_queries)
        self.metrics = metrics or DepartmentMetrics.for_department(description.department)
        self.metrics.breaker(self.breaker.state)

    def describe(self) -> ConnectorDescription:
        """The inner connector's current description (its last valid one)."""
        self._refresh()
        return self._description

    def _refresh(self) -> None:
        """Take up the connector's current description if it changed (and is valid)."""
        current = self.inner.describe()
        if current is self._description or current == self._description or current == self._refused:
            return
        problems = description_problems(current)
        if current.department != self.department:
            problems.append(f"department: was {self.department}, now {current.department!r:.40}")
        if problems:
            self._refused = current
            log.warning("%s: kept the previous limits; its new description is invalid: %s", self.department, problems)
            return
        self._description = current
        self._limits.configure(current.max_queries_per_second, current.max_identities_per_second)
        self._concurrency.resize(current.max_concurrent_queries)

    def _check_size(self, identities: int) -> None:
        size = effective_batch_size(self._description)
        if identities > size:
            d = self._description
            within = f"the batch size of the department ({d.max_batch_size}"
            if size < d.max_batch_size:
                within += f", capped by its limit of {d.max_identities_per_second} identity numbers per second"
            raise DepartmentRefused(self.department, f"{identities} identity numbers exceed {within})")

    async def query(self, query: DepartmentQuery) -> Reply:
        """One query within the limits, retried and guarded by the breaker."""
        self._refresh()
        self._check_size(len(query.id_numbers))
        reply = await self._call(lambda: (self.inner.query(query), len(query.id_numbers)), len(query.id_numbers))
        self._refresh()
        return reply

    async def query_admitted(self, build: Callable[[], DepartmentQuery | None], identities: int) -> Reply | None:
        """Send the query ``build`` makes at the moment the limits let a call go (again on each retry).

        ``identities`` bounds the identity numbers of any query ``build`` makes: the units held while
        waiting. When ``build`` returns ``None`` (everyone the query was for has gone), nothing is
        sent, the units are given back and the result is ``None``. :class:`SharedBatches` builds its
        calls this way, so that a caller cancelled while its call waited is never asked about.
        """
        self._refresh()
        self._check_size(identities)

        def prepare() -> tuple[Awaitable[Reply], int] | None:
            """The query to send now, or ``None`` if its caller has gone."""
            query = build()
            if query is None:
                return None
            if len(query.id_numbers) > identities:
                raise ValueError(f"the query holds {len(query.id_numbers)} identity numbers, more than {identities}")
            return self.inner.query(query), len(query.id_numbers)

        try:
            reply = await self._call(prepare, identities)
        except _Withdrawn:
            return None
        self._refresh()
        return reply

    async def poll(self, ticket: Ticket) -> Reply:
        """Poll a ticket within the limits, retried and guarded by the breaker."""
        self._refresh()
        reply = await self._call(lambda: (self.inner.poll(ticket), 0), 0)
        self._refresh()
        return reply

    async def _call(self, prepare: Prepare, identities: int) -> Reply:
        """Up to ``policy.attempts`` attempts; only a transient failure is tried again, after :func:`backoff`.

        The first attempt runs bare: tenacity's machinery cost ~0.1 ms a department call, and most calls succeed
        at once. After a transient failure tenacity takes over, its first attempt re-raising that failure so its
        schedule (stop, wait, which errors retry) counts it as attempt 1."""
        try:
            return await self._once(prepare, identities)
        except DepartmentUnavailable as exc:
            if not _transient(exc) or self.policy.attempts < 2:
                raise
            first: DepartmentUnavailable | None = exc
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=lambda state: backoff(self.policy, state.attempt_number),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if first is not None:
                    failure, first = first, None
                    raise failure
                self.metrics.retried()
                return await self._once(prepare, identities)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

    async def _once(self, prepare: Prepare, identities: int) -> Reply:
        try:
            self.breaker.before_call()
        except DepartmentUnavailable:
            self.metrics.error("breaker_open")
            raise
        started = 0.0
        try:
            async with self._concurrency:
                try:
                    grant = await self._limits.acquire(identities)
                except ValueError:
                    # The department's limits shrank below this call while it waited.
                    self._check_size(identities)
                    raise
                prepared = prepare()
                if prepared is None:
                    self._limits.release(grant)
                    raise _Withdrawn
                work, sent = prepared
                self._limits.release(grant, sent)
                started = time.perf_counter()
                self.metrics.sent(sent)
                reply = await work
        except _Withdrawn:
            self.breaker.released()
            raise
        except DepartmentUnavailable as exc:
            self.breaker.failed() if exc.transient else self.breaker.released()
            self.metrics.error("unavailable" if exc.transient else "invalid_answer")
            raise
        except DepartmentRefused:
            self.breaker.released()
            self.metrics.error("refused")
            raise
        except (asyncio.CancelledError, TimeoutError):
            # Cut off after it was sent: the department did not answer in time — a failure, so that a
            # department that never answers opens the breaker. Before: it tells nothing.
            self.breaker.failed() if started else self.breaker.released()
            if started:
                self.metrics.error("timeout_or_cancelled")
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


@dataclass(eq=False, slots=True)
class _Waiting:
    query: DepartmentQuery
    done: asyncio.Future[DepartmentAnswer]
    batch: _Batch | None = None


@dataclass(eq=False, slots=True)
class _Batch:
    members: list[_Waiting]
    ids: tuple[str, ...] = ()
    call: asyncio.Future[Reply | None] | None = None


class SharedBatches:
    """Identity numbers of concurrent verifications in one department call, where the department allows it.

    Queries wait in a queue while the department's limits hold the calls back; each call takes as
    many whole queries of one purpose as fit :func:`effective_batch_size` (of the department's
    current description), and the answer is split back by the people each query asked about
    (police: their whole household registers). Only for departments that answer at once; an
    asynchronous department gets each query as it comes. A call carries its parts' idempotency keys
    joined by commas, in the order of its authorization references (both in the parts' order).

    A query whose caller has gone (cancelled: its deadline passed, its consent was withdrawn) is
    never sent: it leaves the queue, and a call already formed is built again, without it, at the
    moment the limits let it go (over a :class:`ResilientConnector`; any other connector is called
    at once). A call nobody waits for any more is cancelled.

    ``declaration`` is the department's :class:`~connectors.departments.Department`: whether its
    answers hold household-register mates is read from it.
    """

    def __init__(self, inner: Connector, declaration: Department) -> None:
        self.inner = inner
        self.department = inner.describe().department
        if declaration.id != self.department:
            raise ValueError(f"{self.department} connector: declared as {declaration.id!r}")
        self._whose: AnswersWith = declaration
        self._queue: list[_Waiting] = []
        self._senders = 0
        self.calls = 0
        """Calls sent to the department for shared batches."""

    def describe(self) -> ConnectorDescription:
        """The inner connector's description."""
        return self.inner.describe()

    async def poll(self, ticket: Ticket) -> Reply:
        """Poll a ticket (tickets are never shared)."""
        return await self.inner.poll(ticket)

    async def query(self, query: DepartmentQuery) -> Reply:
        """Wait for a shared call with the queries of other verifications, or call at once."""
        description = self.inner.describe()
        if not description.shared_batches or len(query.id_numbers) >= effective_batch_size(description):
            return await self.inner.query(query)
        waiting = _Waiting(query, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._senders < max(1, description.max_concurrent_queries):
            self._senders += 1
            asyncio.get_running_loop().create_task(self._send_batches())
        try:
            return await asyncio.shield(waiting.done)
        except asyncio.CancelledError:
            self._withdraw(waiting)
            raise

    def _withdraw(self, waiting: _Waiting) -> None:
        """The caller has gone: out of the queue, out of any call still to be built; a call nobody awaits ends."""
        waiting.done.cancel()
        if waiting in self._queue:
            self._queue.remove(waiting)
        batch = waiting.batch
        if batch is not None and batch.call is not None and all(w.done.done() for w in batch.members):
            batch.call.cancel()

    def _next_batch(self) -> list[_Waiting]:
        limit = effective_batch_size(self.inner.describe())
        purpose = self._queue[0].query.purpose
        batch: list[_Waiting] = []
        size = 0
        rest: list[_Waiting] = []
        for waiting in self._queue:
            n = len(waiting.query.id_numbers)
            if waiting.query.purpose == purpose and size + n <= limit:
                batch.append(waiting)
                size += n
            elif not batch and n > limit:
                # The limits shrank after it queued: it goes alone, and is refused as too large.
                batch.append(waiting)
                size = limit
            else:
                rest.append(waiting)
        self._queue = rest
        return batch

    async def _send_batches(self) -> None:
        try:
            await asyncio.sleep(0)  # let the queries of this instant join the first call
            while self._queue:
                await self._send(_Batch(self._next_batch()))
        finally:
            self._senders -= 1

    def _build(self, batch: _Batch) -> DepartmentQuery | None:
        """The call for the members still waiting, or None if none is."""
        waiting = [w for w in batch.members if not w.done.done()]
        if not waiting:
            return None
        batch.ids = tuple(dict.fromkeys(n for w in waiting for n in w.query.id_numbers))
        self.calls += 1
        return DepartmentQuery(
            query_id=f"shared-{uuid.uuid4().hex}",
            id_numbers=batch.ids,
            authorization_reference=",".join(dict.fromkeys(w.query.authorization_reference for w in waiting)),
            purpose=waiting[0].query.purpose,
            # The parts' keys, in the parts' order: the department keeps every (key, identity number) of the call.
            idempotency_key=",".join(dict.fromkeys(w.query.idempotency_key for w in waiting)),
        )

    async def _call(self, batch: _Batch) -> Reply | None:
        if isinstance(self.inner, ResilientConnector):
            upper = len({n for w in batch.members for n in w.query.id_numbers})
            return await self.inner.query_admitted(lambda: self._build(batch), upper)
        query = self._build(batch)
        return None if query is None else await self.inner.query(query)

    async def _send(self, batch: _Batch) -> None:
        for waiting in batch.members:
            waiting.batch = batch
        batch.call = call = asyncio.ensure_future(self._call(batch))
        try:
            try:
                reply = await call
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if call.cancelled() and (task is None or not task.cancelling()):
                    return  # every caller of the batch has gone (see _withdraw)
                raise
            if reply is None:
                return  # every caller had gone before the call could be sent
            if isinstance(reply, Ticket):
                raise DepartmentUnavailable(
                    self.department, "the department answered a shared batch with a ticket", transient=False
                )
            if len(_share(self._whose, reply, batch.ids).records) != len(reply.records):
                raise DepartmentUnavailable(
                    self.department, "answer holds records of people not asked about", transient=False
                )
        except BaseException as exc:
            for waiting in batch.members:
                if not waiting.done.done():
                    waiting.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for waiting in batch.members:
            if not waiting.done.done():
                waiting.done.set_result(_share(self._whose, reply, waiting.query.id_numbers))


def _share(department: AnswersWith, answer: DepartmentAnswer, id_numbers: Sequence[str]) -> DepartmentAnswer:
    """The part of a shared answer about ``id_numbers`` (for police, their household registers)."""
    records = records_about(department, answer.records, id_numbers)
    return DepartmentAnswer(department=answer.department, records=records, answered_at=answer.answered_at)
