"""The resilience layer: retries of transient failures only, the breaker, limits in any second, shared batches."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from connector_process import new_key
from harness import example_sandbox

from connectors.base import (
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
)
from connectors.departments import DepartmentCatalogue
from connectors.records import PersonRecord, TaxIncomeRecord
from connectors.resilience import (
    BreakerState,
    CallLimiter,
    CircuitBreaker,
    ResiliencePolicy,
    ResilientConnector,
    SharedBatches,
    WindowLimiter,
    backoff,
    effective_batch_size,
)
from connectors.sandbox import SandboxConnector, SandboxDataset

FAST = ResiliencePolicy(backoff_initial_seconds=0.001, backoff_max_seconds=0.005, breaker_reset_seconds=0.2)
APPLICANT, SPOUSE, CHILD = "533401198501010018", "533401198703150026", "533401201005200011"

TAX_DEPARTMENT = DepartmentCatalogue()["tax"]


def query(
    *ids: str, reference: str = "authorizations/a", purpose: str = "ASSESSMENT", key: str | None = None
) -> DepartmentQuery:
    """A query; a new asking (its own idempotency key) unless ``key`` is given."""
    return DepartmentQuery(
        query_id="q",
        id_numbers=ids,
        authorization_reference=reference,
        purpose=purpose,
        idempotency_key=key or new_key(),
    )


@dataclass
class ScriptedDepartment:
    """A department that fails as scripted and remembers when it was called with how many identity numbers."""

    description: ConnectorDescription
    failures: list[BaseException] = field(default_factory=list)
    calls: list[tuple[float, int, str]] = field(default_factory=list)
    records: Sequence[object] = ()
    delay: float = 0.0

    def describe(self) -> ConnectorDescription:
        return self.description

    async def query(self, q: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.calls.append((time.monotonic(), len(q.id_numbers), q.authorization_reference))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        wanted = set(q.id_numbers)
        return DepartmentAnswer(
            self.description.department,
            tuple(r for r in self.records if getattr(r, "subject", None) in wanted),  # type: ignore[misc]
            dt.datetime.now(dt.UTC),
        )

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        raise DepartmentRefused(self.description.department, "no tickets here")


def tax(**limits: int | bool) -> ConnectorDescription:
    return ConnectorDescription("tax", ("income",), **limits)  # type: ignore[arg-type]


async def test_transient_failures_are_retried_until_success() -> None:
    department = ScriptedDepartment(
        tax(), failures=[DepartmentUnavailable("tax", "blip"), DepartmentUnavailable("tax", "blip")]
    )
    answer = await ResilientConnector(department, FAST).query(query(APPLICANT))
    assert isinstance(answer, DepartmentAnswer)
    assert len(department.calls) == 3


async def test_refusals_and_permanent_failures_are_not_retried() -> None:
    for failure in (DepartmentRefused("tax", "no"), DepartmentUnavailable("tax", "bad answer", transient=False)):
        department = ScriptedDepartment(tax(), failures=[failure])
        with pytest.raises(type(failure)):
            await ResilientConnector(department, FAST).query(query(APPLICANT))
        assert len(department.calls) == 1


async def test_retries_stop_after_the_policy_attempts() -> None:
    department = ScriptedDepartment(tax(), failures=[DepartmentUnavailable("tax", "down")] * 10)
    with pytest.raises(DepartmentUnavailable, match="down"):
        await ResilientConnector(department, FAST).query(query(APPLICANT))
    assert len(department.calls) == FAST.attempts


async def test_the_breaker_fails_fast_while_open_and_recovers_on_its_own() -> None:
    department = ScriptedDepartment(tax(), failures=[DepartmentUnavailable("tax", "down")] * 5)
    # The breaker's clock is the test's: "0.5 s later" is a step of the clock, not a sleep on a busy machine.
    now = [1000.0]
    # The default attempts: an open circuit must not be retried like a transient failure.
    connector = ResilientConnector(
        department, ResiliencePolicy(breaker_failures=5, breaker_reset_seconds=0.5), breaker_clock=lambda: now[0]
    )
    for _ in range(2):  # 4 attempts, then 1 more that opens the circuit
        with pytest.raises(DepartmentUnavailable):
            await connector.query(query(APPLICANT))
    assert connector.breaker.state is BreakerState.OPEN
    assert len(department.calls) == 5
    now[0] += 0.49  # still within the reset time
    # From here a retry would wait at least 5 s: failing at once is then unmistakable, however busy the machine.
    connector.policy = dataclasses.replace(connector.policy, backoff_initial_seconds=5.0, backoff_max_seconds=5.0)
    started = time.monotonic()
    with pytest.raises(DepartmentUnavailable, match="circuit open") as caught:
        await connector.query(query(APPLICANT))
    assert time.monotonic() - started < 2.5  # no retry back-off

    assert caught.value.transient is False
    assert len(department.calls) == 5  # the department was not bothered
    now[0] += 0.02  # the reset time has passed
    assert isinstance(await connector.query(query(APPLICANT)), DepartmentAnswer)  # the trial call succeeds
    assert connector.breaker.state is BreakerState.CLOSED
    assert len(department.calls) == 6


async def test_a_department_that_never_answers_opens_the_breaker() -> None:
    department = ScriptedDepartment(tax(), delay=100)
    connector = ResilientConnector(department, ResiliencePolicy(breaker_failures=5))
    for _ in range(5):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await connector.query(query(APPLICANT))
    assert connector.breaker.state is BreakerState.OPEN
    # A retry would now wait at least 5 s: failing at once is unmistakable, however busy the machine.
    connector.policy = dataclasses.replace(connector.policy, backoff_initial_seconds=5.0, backoff_max_seconds=5.0)
    started = time.monotonic()
    with pytest.raises(DepartmentUnavailable, match="circuit open"):
        await connector.query(query(APPLICANT))
    assert time.monotonic() - started < 2.5
    assert len(department.calls) == 5


async def test_a_call_cut_off_before_it_was_sent_tells_nothing_about_the_department() -> None:
    department = ScriptedDepartment(tax(max_queries_per_second=1))
    connector = ResilientConnector(department, ResiliencePolicy(breaker_failures=2))
    await connector.query(query(APPLICANT))
    for _ in range(3):  # each waits for the query rate and is cut off before it is sent
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await connector.query(query(APPLICANT))
    assert connector.breaker.state is BreakerState.CLOSED
    assert len(department.calls) == 1


async def test_a_hanging_department_opens_the_breaker_through_shared_batches_too() -> None:
    department = ScriptedDepartment(tax(shared_batches=True, max_concurrent_queries=2), delay=100)
    shared = SharedBatches(ResilientConnector(department, ResiliencePolicy(breaker_failures=5)), TAX_DEPARTMENT)
    for _ in range(5):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await shared.query(query(APPLICANT))
    await asyncio.sleep(0.01)
    # Nobody waits for those calls any more: they were cut off, and count as failures.
    inner = shared.inner
    assert isinstance(inner, ResilientConnector)
    assert inner.breaker.state is BreakerState.OPEN
    with pytest.raises(DepartmentUnavailable, match="circuit open"):
        async with asyncio.timeout(1):
            await shared.query(query(APPLICANT))
    assert len(department.calls) == 5


def test_a_failed_trial_opens_the_breaker_again() -> None:
    now = [0.0]
    breaker = CircuitBreaker("tax", failures=2, reset_seconds=10, clock=lambda: now[0])
    breaker.failed()
    breaker.failed()
    assert breaker.state is BreakerState.OPEN
    now[0] = 10.5
    breaker.before_call()
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(DepartmentUnavailable, match="half-open"):
        breaker.before_call()  # only one trial at a time
    breaker.failed()
    assert breaker.state is BreakerState.OPEN
    now[0] = 15
    with pytest.raises(DepartmentUnavailable, match="circuit open"):
        breaker.before_call()


async def test_window_limiter_never_lets_more_than_the_limit_into_any_window() -> None:
    limiter = WindowLimiter(10, window=0.2)
    stamps: list[float] = []

    async def take(units: int) -> None:
        await limiter.acquire(units)
        stamps.extend([time.monotonic()] * units)

    started = time.monotonic()
    await asyncio.gather(*(take(n) for n in [3, 4, 2, 5, 1, 3, 4, 2, 3, 3]))  # 30 units
    elapsed = time.monotonic() - started
    assert len(stamps) == 30
    for first in stamps:
        assert sum(1 for t in stamps if first <= t < first + 0.2) <= 10
    # 30 units at 10 per 0.2 s cannot take less than two full windows; one acquire per window (10 windows,
    # 2 s) would be a limiter that wastes its windows. The upper bound leaves a busy machine 0.8 s.
    assert 0.4 <= elapsed < 1.6
    with pytest.raises(ValueError, match="exceed the limit"):
        await limiter.acquire(11)


async def test_identity_rate_limit_holds_for_concurrent_queries() -> None:
    department = ScriptedDepartment(tax(max_identities_per_second=20, max_queries_per_second=100))
    connector = ResilientConnector(department, ResiliencePolicy(window_margin_seconds=0.0))
    await asyncio.gather(*(connector.query(query(APPLICANT, SPOUSE, CHILD)) for _ in range(20)))  # 60 numbers
    times = [(t, n) for t, n, _ in department.calls]
    for start, _ in times:
        assert sum(n for t, n in times if start <= t < start + 1.0) <= 20
    assert times[-1][0] - times[0][0] >= 2.0 - 0.05


def most_in_any_window(calls: Sequence[tuple[float, int, str]], window: float = 1.0) -> tuple[int, int]:
    """(calls, identity numbers) in the busiest window of ``window`` seconds, as the department saw them."""
    busiest = [
        (sum(1 for u, _, _ in calls if t <= u < t + window), sum(n for u, n, _ in calls if t <= u < t + window))
        for t, _, _ in calls
    ]
    return max(c for c, _ in busiest), max(n for _, n in busiest)


async def test_query_and_identity_limits_hold_together_in_every_window() -> None:
    # Both limits bind: 2 queries and 100 identity numbers per second. An identity slot taken while
    # the call then waited for a query slot would let 160 numbers into one second.
    department = ScriptedDepartment(
        tax(max_batch_size=100, max_queries_per_second=2, max_identities_per_second=100, max_concurrent_queries=10)
    )
    connector = ResilientConnector(department, FAST)
    sizes = [10, 10, 10, 10, 60, 100, 100]
    people = [tuple(f"{k}-{i}" for i in range(n)) for k, n in enumerate(sizes)]
    await asyncio.gather(*(connector.query(query(*ids)) for ids in people))
    assert sorted(n for _, n, _ in department.calls) == sorted(sizes)
    calls, identities = most_in_any_window(department.calls)
    assert calls <= 2
    assert identities <= 100


async def test_the_call_limiter_admits_both_kinds_at_once_and_takes_back_what_was_not_sent() -> None:
    now = [0.0]
    limiter = CallLimiter(queries=2, identities=10, window=1.0, clock=lambda: now[0])
    first = await limiter.acquire(8)
    limiter.release(first, 3)  # only 3 of the 8 were sent
    await asyncio.wait_for(limiter.acquire(7), 0.1)  # 3 + 7 = 10
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire(0), 0.05)  # a third query waits for the window, numbers or not
    now[0] = 1.0
    second = await asyncio.wait_for(limiter.acquire(10), 0.1)
    assert second.at == 1.0
    limiter.release(second)  # nothing was sent: its query and numbers are free again
    await asyncio.wait_for(limiter.acquire(10), 0.1)
    with pytest.raises(ValueError, match="exceed the limit"):
        await limiter.acquire(11)


def test_the_effective_batch_size_is_capped_by_the_identity_limit() -> None:
    assert effective_batch_size(tax(max_batch_size=100)) == 100
    assert effective_batch_size(tax(max_batch_size=100, max_identities_per_second=50)) == 50
    assert effective_batch_size(tax(max_batch_size=10, max_identities_per_second=50)) == 10


async def test_an_identity_limit_below_the_batch_size_caps_shared_batches() -> None:
    department = ScriptedDepartment(
        tax(max_batch_size=100, max_identities_per_second=50, max_queries_per_second=100, shared_batches=True)
    )
    shared = SharedBatches(ResilientConnector(department, FAST), TAX_DEPARTMENT)
    answers = await asyncio.gather(
        *(shared.query(query(*(f"{i}-{k}" for k in range(3)), reference=f"a/{i}")) for i in range(20))
    )
    assert all(isinstance(a, DepartmentAnswer) for a in answers)
    assert sum(n for _, n, _ in department.calls) == 60
    assert max(n for _, n, _ in department.calls) <= 50
    assert most_in_any_window(department.calls)[1] <= 50
    with pytest.raises(DepartmentRefused, match=r"51 identity numbers exceed .* 50 identity numbers per second"):
        await shared.query(query(*(f"x-{k}" for k in range(51))))
    assert sum(n for _, n, _ in department.calls) == 60


@dataclass
class LearningDepartment(ScriptedDepartment):
    """Describes itself with default limits until its first answer, like a remote department unreachable at start."""

    learned: ConnectorDescription = field(default_factory=tax)

    def describe(self) -> ConnectorDescription:
        return self.learned if self.calls else self.description


async def test_limits_follow_a_description_that_changes_after_the_first_call() -> None:
    department = LearningDepartment(
        tax(), learned=tax(max_batch_size=2, max_queries_per_second=1, max_concurrent_queries=1, shared_batches=True)
    )
    resilient = ResilientConnector(department, FAST)
    shared = SharedBatches(resilient, TAX_DEPARTMENT)
    assert shared.describe().max_batch_size == 100
    await shared.query(query(APPLICANT, SPOUSE, CHILD))  # the defaults: one call of 3
    assert shared.describe().max_batch_size == 2
    with pytest.raises(DepartmentRefused, match="batch size"):
        await shared.query(query(APPLICANT, SPOUSE, CHILD))
    started = time.monotonic()
    await asyncio.gather(*(shared.query(query(who, reference=f"a/{who}")) for who in (APPLICANT, SPOUSE, CHILD)))
    calls = department.calls[1:]
    assert sorted(n for _, n, _ in calls) == [1, 2]  # shared, in batches of the new size
    assert calls[1][0] - calls[0][0] >= 0.95  # one query per second
    assert time.monotonic() - started >= 0.95


async def test_an_invalid_description_is_refused_and_a_later_invalid_one_ignored() -> None:
    with pytest.raises(ValueError, match="max_batch_size: must be from 1"):
        ResilientConnector(ScriptedDepartment(tax(max_batch_size=0)))
    department = LearningDepartment(tax(max_batch_size=5), learned=tax(max_queries_per_second=-1))
    connector = ResilientConnector(department, FAST)
    await connector.query(query(APPLICANT))
    assert connector.describe().max_batch_size == 5  # kept: the new description breaks the contract


async def test_a_cancelled_caller_is_never_sent() -> None:
    department = ScriptedDepartment(tax(shared_batches=True, max_batch_size=2, max_queries_per_second=1))
    shared = SharedBatches(ResilientConnector(department, FAST), TAX_DEPARTMENT)
    a = asyncio.create_task(shared.query(query("A1", "A2", reference="auth/a")))
    b = asyncio.create_task(shared.query(query("B1", reference="auth/b")))
    c = asyncio.create_task(shared.query(query("C1", reference="auth/c")))
    await asyncio.sleep(0.2)  # A was sent; B and C share the next call, held back by the query rate
    b.cancel()  # B's deadline passed, or its consent was withdrawn
    answers = await asyncio.gather(a, c)
    assert b.cancelled()
    assert [(n, ref) for _, n, ref in department.calls] == [(2, "auth/a"), (1, "auth/c")]
    assert all(isinstance(x, DepartmentAnswer) for x in answers)


async def test_a_cancelled_caller_leaves_the_queue() -> None:
    department = ScriptedDepartment(
        tax(shared_batches=True, max_batch_size=2, max_concurrent_queries=1, max_queries_per_second=100), delay=0.2
    )
    shared = SharedBatches(ResilientConnector(department, FAST), TAX_DEPARTMENT)
    a = asyncio.create_task(shared.query(query("A1", "A2", reference="auth/a")))
    await asyncio.sleep(0.05)  # A is at the department; the one sender is busy
    b = asyncio.create_task(shared.query(query("B1", reference="auth/b")))
    await asyncio.sleep(0.01)
    b.cancel()
    await a
    await asyncio.sleep(0.05)
    assert [ref for _, _, ref in department.calls] == ["auth/a"]


async def test_concurrency_limit_holds() -> None:
    department = ScriptedDepartment(tax(max_concurrent_queries=2, max_queries_per_second=1000), delay=0.05)
    inside = 0
    most = 0
    original = department.query

    async def counting(q: DepartmentQuery) -> DepartmentAnswer | Ticket:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        try:
            return await original(q)
        finally:
            inside -= 1

    department.query = counting  # type: ignore[method-assign]
    connector = ResilientConnector(department, FAST)
    await asyncio.gather(*(connector.query(query(APPLICANT)) for _ in range(8)))
    assert most == 2


async def test_oversized_batches_are_refused_before_anything_is_sent() -> None:
    department = ScriptedDepartment(tax(max_batch_size=2))
    with pytest.raises(DepartmentRefused, match="batch size"):
        await ResilientConnector(department, FAST).query(query(APPLICANT, SPOUSE, CHILD))
    assert department.calls == []


def income(record_id: str, who: str) -> TaxIncomeRecord:
    return TaxIncomeRecord(record_id=record_id, id_number=who, period="2026-01", category="wages", amount_fen=100_000)


async def test_shared_batches_join_concurrent_verifications_and_split_the_answer() -> None:
    records = [income("T1", APPLICANT), income("T2", SPOUSE), income("T3", CHILD)]
    department = ScriptedDepartment(tax(shared_batches=True, max_batch_size=10), records=records)
    shared = SharedBatches(department, TAX_DEPARTMENT)
    answers = await asyncio.gather(
        shared.query(query(APPLICANT, reference="authorizations/a")),
        shared.query(query(SPOUSE, CHILD, reference="authorizations/b")),
    )
    assert len(department.calls) == 1
    assert department.calls[0][1] == 3
    assert department.calls[0][2] == "authorizations/a,authorizations/b"
    assert [r.record_id for r in answers[0].records] == ["T1"]  # type: ignore[union-attr]
    assert [r.record_id for r in answers[1].records] == ["T2", "T3"]  # type: ignore[union-attr]


async def test_shared_batches_respect_batch_size_and_purpose() -> None:
    department = ScriptedDepartment(tax(shared_batches=True, max_batch_size=2))
    shared = SharedBatches(department, TAX_DEPARTMENT)
    await asyncio.gather(
        shared.query(query(APPLICANT)),
        shared.query(query(SPOUSE)),
        shared.query(query(CHILD)),
        shared.query(query(APPLICANT, purpose="RECHECK")),
    )
    assert sorted(n for _, n, _ in department.calls) == [1, 1, 2]


async def test_a_shared_answer_with_strangers_is_rejected_for_everyone_in_it() -> None:
    stranger = "110101199003077777"
    department = ScriptedDepartment(tax(shared_batches=True), records=[income("T9", stranger)])

    async def leaky(q: DepartmentQuery) -> DepartmentAnswer:
        return DepartmentAnswer("tax", (income("T9", stranger),), dt.datetime.now(dt.UTC))

    department.query = leaky  # type: ignore[method-assign]
    shared = SharedBatches(department, TAX_DEPARTMENT)
    results = await asyncio.gather(shared.query(query(APPLICANT)), shared.query(query(SPOUSE)), return_exceptions=True)
    assert all(isinstance(r, DepartmentUnavailable) and "not asked about" in str(r) for r in results)


async def test_police_shares_carry_each_persons_household_register() -> None:
    dataset = SandboxDataset.demo()
    police = SharedBatches(SandboxConnector("police", dataset), DepartmentCatalogue()["police"])
    members = [r for r in dataset.records["police"] if isinstance(r, PersonRecord)]
    first, other = members[0], next(m for m in members if m.hukou_id != members[0].hukou_id)
    a, b = await asyncio.gather(police.query(query(first.id_number)), police.query(query(other.id_number)))
    assert police.calls == 1
    assert {r.hukou_id for r in a.records} == {first.hukou_id}  # type: ignore[union-attr]
    assert {r.hukou_id for r in b.records} == {other.hukou_id}  # type: ignore[union-attr]


# --- idempotency keys of shared calls ---------------------------------------------------------------------


@dataclass
class KeyedDepartment(ScriptedDepartment):
    """Remembers the keys and authorization references of every call."""

    keyed: list[tuple[str, str]] = field(default_factory=list)

    async def query(self, q: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.keyed.append((q.idempotency_key, q.authorization_reference))
        return await super().query(q)


async def test_a_shared_call_carries_its_parts_keys_in_the_order_of_their_references() -> None:
    department = KeyedDepartment(tax(shared_batches=True))
    shared = SharedBatches(ResilientConnector(department, FAST), TAX_DEPARTMENT)
    await asyncio.gather(
        *(shared.query(query(f"p{i}", reference=f"authorizations/a{i}", key=f"v{i}.tax.1")) for i in range(3))
    )
    assert department.keyed == [("v0.tax.1,v1.tax.1,v2.tax.1", "authorizations/a0,authorizations/a1,authorizations/a2")]


async def test_a_part_that_left_before_its_call_leaves_its_key_out() -> None:
    department = KeyedDepartment(tax(shared_batches=True, max_queries_per_second=1))
    shared = SharedBatches(ResilientConnector(department, FAST), TAX_DEPARTMENT)
    await shared.query(query("p0", key="v0.tax.1"))  # uses up this second's call
    staying = asyncio.ensure_future(shared.query(query("p1", reference="authorizations/a1", key="v1.tax.1")))
    leaving = asyncio.ensure_future(shared.query(query("p2", reference="authorizations/a2", key="v2.tax.1")))
    await asyncio.sleep(0.05)  # both wait for the department's next second, in one call to be built
    leaving.cancel()
    await staying
    assert department.keyed[1:] == [("v1.tax.1", "authorizations/a1")]


async def test_a_sandbox_behind_shared_batches_answers_a_part_again_without_a_look_up() -> None:
    sandbox = SandboxConnector("tax", SandboxDataset.from_json(example_sandbox()))
    shared = SharedBatches(ResilientConnector(sandbox, FAST), TAX_DEPARTMENT)
    zhang, li = "533401197803120118", "53340119800605022X"
    first, _ = await asyncio.gather(
        shared.query(query(zhang, reference="authorizations/a1", key="v1.tax.1")),
        shared.query(query(li, reference="authorizations/a2", key="v2.tax.1")),
    )
    assert shared.calls == 1 and sandbox.looked_up == 2
    await asyncio.sleep(0.01)
    # v1 is sent again (hedui did not know whether its first asking arrived): the kept answer, nobody looked up
    again = await sandbox.query(query(zhang, reference="authorizations/a1", key="v1.tax.1"))
    assert again == first
    assert sandbox.looked_up == 2


def test_backoff_doubles_from_the_initial_wait_with_jitter_up_to_its_cap() -> None:
    policy = ResiliencePolicy(backoff_initial_seconds=0.05, backoff_max_seconds=0.3)
    for _ in range(200):
        assert 0.05 <= backoff(policy, 1) <= 0.1
        assert 0.1 <= backoff(policy, 2) <= 0.15
        assert 0.2 <= backoff(policy, 3) <= 0.25
        assert backoff(policy, 4) == 0.3  # 0.4 and more: capped
        assert backoff(policy, 5000) == 0.3  # 2**4999 overflows a float: capped
