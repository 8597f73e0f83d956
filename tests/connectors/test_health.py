"""Department health by Sahamati's rule: GOOD (>95 % of calls succeed, median < 5 s over 30 minutes), BAD, UNKNOWN."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from connectors.base import ConnectorDescription, DepartmentAnswer, DepartmentQuery, DepartmentUnavailable, Ticket
from connectors.health import DepartmentHealth, HealthBook, _HealthCollector, judge
from connectors.metrics import DepartmentMetrics
from connectors.resilience import ResiliencePolicy, ResilientConnector

GOOD, BAD, UNKNOWN = DepartmentHealth.GOOD, DepartmentHealth.BAD, DepartmentHealth.UNKNOWN


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("calls", "failures", "fast", "expected"),
    [
        (0, 0, 0, UNKNOWN),
        (100, 4, 100, GOOD),  # 96 % succeed
        (100, 5, 100, BAD),  # exactly 95 % is not more than 95 %
        (20, 10, 20, BAD),  # half fail
        (100, 0, 51, GOOD),  # 51 of 100 under 5 s: the median is under 5 s
        (100, 0, 50, BAD),  # half under 5 s, half over: the median is not under 5 s
        (1, 0, 1, GOOD),
    ],
)
def test_the_rule(calls: int, failures: int, fast: int, expected: DepartmentHealth) -> None:
    assert judge(calls, failures, fast) is expected


def test_slow_calls_make_a_department_bad_even_when_all_succeed() -> None:
    clock = Clock()
    book = HealthBook(clock=clock)
    for seconds in (6.0, 6.0, 0.1):
        book.called("banks", seconds)
    reading = book.reading("banks")
    assert (reading.status, reading.calls, reading.failures, reading.median_at_most_seconds) == (BAD, 3, 0, 10.0)
    assert book.reading("police").status is UNKNOWN


@dataclass
class HalfFailing:
    """A tax department whose every other call fails (an answer it may not give: not retried)."""

    failing: bool = True
    calls: int = 0

    def describe(self) -> ConnectorDescription:
        return ConnectorDescription("tax", ("income",))

    async def query(self, q: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.calls += 1
        if self.failing and self.calls % 2:
            raise DepartmentUnavailable("tax", "malformed answer", transient=False)
        return DepartmentAnswer("tax", (), dt.datetime.now(dt.UTC))

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        raise AssertionError("no tickets")


async def _ask(connector: ResilientConnector, times: int) -> None:
    """``times`` queries, each failure swallowed."""
    for n in range(times):
        query = DepartmentQuery(f"q{n}", ("533401197803120118",), "authorizations/a", "ASSESSMENT", f"k{n}")
        with contextlib.suppress(DepartmentUnavailable):
            await connector.query(query)


async def test_a_department_failing_half_its_calls_is_bad_then_good_again() -> None:
    clock = Clock()
    book = HealthBook(clock=clock)
    department = HalfFailing()
    connector = ResilientConnector(department, ResiliencePolicy(), DepartmentMetrics("tax", health=book))
    assert book.reading("tax").status is UNKNOWN
    await _ask(connector, 20)
    reading = book.reading("tax")
    assert (reading.status, reading.calls, reading.failures, reading.success_ratio) == (BAD, 20, 10, 0.5)
    department.failing = False
    clock.now += 10 * 60  # ten minutes on, all well: the failures are still in the window
    await _ask(connector, 100)
    assert book.reading("tax").status is BAD  # 110 of 120 succeeded: 91.7 %, not above 95 %
    clock.now += 21 * 60  # 31 minutes after the failures: they left the 30-minute window
    reading = book.reading("tax")
    assert (reading.status, reading.calls, reading.failures) == (GOOD, 100, 0)


def test_the_health_series() -> None:
    clock = Clock()
    book = HealthBook(clock=clock)
    book.called("tax", 0.2)
    book.failed("tax")
    book.called("tax", 0.3)
    registry = CollectorRegistry()
    registry.register(_HealthCollector(book))
    text = generate_latest(registry).decode()
    assert 'hedui_department_health{department="tax",status="BAD"} 1.0' in text
    assert 'hedui_department_health{department="tax",status="GOOD"} 0.0' in text
    assert 'hedui_department_window_calls{department="tax"} 2.0' in text
    assert 'hedui_department_window_success_ratio{department="tax"} 0.5' in text
