"""Is a department healthy: Sahamati's rule for financial information providers, over the last 30 minutes.

GOOD when more than 95 % of the calls succeeded and the median latency is under 5 s; BAD otherwise;
UNKNOWN without a call in the window. A call is one request that reached the department (a query or a poll,
each retry counted); it failed when the department was unavailable, answered what it may not, or did not
answer in time — a refusal is an answer. Calls are counted in one-minute buckets (calls, failures, latencies in
fixed buckets), so memory stays the same at a county's load and a province's; the median is known to the
bucket (it is under 5 s exactly when more than half the calls took under 5 s).

:class:`HealthBook` keeps every department's window; its clock is injectable, so tests move time instead of
sleeping. :data:`HEALTH` is the process's book, fed by :class:`connectors.metrics.DepartmentMetrics` and
exposed as ``hedui_department_health{department,status}``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["HEALTH", "DepartmentHealth", "HealthBook", "HealthReading", "HealthRule", "judge"]

# Upper bounds (seconds) of the latency buckets; the last one is everything slower.
LATENCY_BOUNDS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, float("inf"))
_FAST: Final = LATENCY_BOUNDS.index(5.0)  # buckets below this index took under 5 s


class DepartmentHealth(StrEnum):
    """A department's health over the window."""

    GOOD = "GOOD"
    BAD = "BAD"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class HealthRule:
    """Sahamati's thresholds: the window, the success ratio to exceed, the median latency to stay under."""

    window_seconds: float = 30 * 60.0
    min_success: float = 0.95
    max_median_seconds: float = 5.0


def judge(calls: int, failures: int, under_median_bound: int, rule: HealthRule = HealthRule()) -> DepartmentHealth:
    """The rule: UNKNOWN without calls; GOOD when successes exceed ``min_success`` of the calls and more than half
    took under ``max_median_seconds`` (``under_median_bound`` of them), so the median is under it; else BAD."""
    if calls <= 0:
        return DepartmentHealth.UNKNOWN
    succeeded = (calls - failures) / calls > rule.min_success
    fast = 2 * under_median_bound > calls
    return DepartmentHealth.GOOD if succeeded and fast else DepartmentHealth.BAD


@dataclass(frozen=True, slots=True)
class HealthReading:
    """One department's window: its status, the calls, the failures, the median's bucket (upper bound, seconds)."""

    department: str
    status: DepartmentHealth
    calls: int
    failures: int
    median_at_most_seconds: float | None

    @property
    def success_ratio(self) -> float | None:
        """Successful calls over calls (``None`` without calls)."""
        return (self.calls - self.failures) / self.calls if self.calls else None


@dataclass(slots=True)
class _Minute:
    """One minute's counts."""

    minute: int
    calls: int = 0
    failures: int = 0
    latencies: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS))


class _Window:
    """One department's minutes, the oldest dropped once outside the window."""

    def __init__(self) -> None:
        self.minutes: deque[_Minute] = deque()
        # The last reading and the minute it was judged in; None once a call changed the counts since.
        self.reading: tuple[int, HealthReading] | None = None

    def bucket(self, minute: int, keep: int) -> _Minute:
        """The bucket of ``minute`` (made if new); buckets older than ``keep`` minutes go."""
        if not self.minutes or self.minutes[-1].minute != minute:
            self.minutes.append(_Minute(minute))
        while self.minutes and self.minutes[0].minute <= minute - keep:
            self.minutes.popleft()
        return self.minutes[-1]


class HealthBook:
    """Every department's window of calls, read by the rule on demand (thread-safe: metrics are scraped from
    another thread than the calls are made on)."""

    def __init__(self, rule: HealthRule = HealthRule(), clock: Callable[[], float] = time.monotonic) -> None:
        """An empty book under ``rule``; ``clock`` gives seconds (monotonic)."""
        self.rule = rule
        self._clock = clock
        self._keep = max(int(rule.window_seconds // 60), 1)
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def _now(self, department: str) -> _Minute:
        """The current minute's bucket of ``department``."""
        window = self._windows.get(department)
        if window is None:
            window = self._windows[department] = _Window()
        window.reading = None  # the caller changes the counts
        return window.bucket(int(self._clock() // 60), self._keep)

    def called(self, department: str, seconds: float) -> None:
        """A call to ``department`` ended after ``seconds`` (whether it succeeded or not)."""
        slot = bisect.bisect_left(LATENCY_BOUNDS, seconds)
        with self._lock:
            bucket = self._now(department)
            bucket.calls += 1
            bucket.latencies[min(slot, len(LATENCY_BOUNDS) - 1)] += 1

    def failed(self, department: str) -> None:
        """A call to ``department`` failed (unavailable, an answer it may not give, no answer in time)."""
        with self._lock:
            self._now(department).failures += 1

    def reading(self, department: str) -> HealthReading:
        """``department``'s window now, judged (once per change of its counts and minute: every verification's
        message shows each department's reading)."""
        with self._lock:
            window = self._windows.get(department)
            minute = int(self._clock() // 60)
            if window is not None and window.reading is not None and window.reading[0] == minute:
                return window.reading[1]
            buckets = [b for b in (window.minutes if window else ()) if b.minute > minute - self._keep]
            calls = sum(b.calls for b in buckets)
            failures = min(sum(b.failures for b in buckets), calls)
            latencies = [sum(b.latencies[i] for b in buckets) for i in range(len(LATENCY_BOUNDS))]
            status = judge(calls, failures, sum(latencies[:_FAST]), self.rule)
            reading = HealthReading(department, status, calls, failures, _median_bound(latencies, calls))
            if window is not None:
                window.reading = (minute, reading)
        return reading

    def departments(self) -> list[str]:
        """The departments called at least once."""
        with self._lock:
            return sorted(self._windows)

    def readings(self) -> Iterator[HealthReading]:
        """Every department's reading."""
        for department in self.departments():
            yield self.reading(department)


def _median_bound(latencies: list[int], calls: int) -> float | None:
    """The upper bound of the bucket holding the median call (``None`` without calls)."""
    if not calls:
        return None
    seen = 0
    for bound, count in zip(LATENCY_BOUNDS, latencies, strict=True):
        seen += count
        if 2 * seen > calls:
            return bound
    return LATENCY_BOUNDS[-1]


class _HealthCollector(Collector):
    """``hedui_department_health{department,status}``: 1 for the status each department has now, 0 for the others;
    and the window's calls and success ratio."""

    def __init__(self, book: HealthBook) -> None:
        self._book = book

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The families, read from the book at scrape time."""
        health = GaugeMetricFamily(
            "hedui_department_health",
            "Sahamati's rule over 30 minutes: GOOD (>95% of calls succeed, median latency < 5 s), BAD, UNKNOWN",
            labels=["department", "status"],
        )
        calls = GaugeMetricFamily(
            "hedui_department_window_calls", "Calls to the department in the health window", labels=["department"]
        )
        ratio = GaugeMetricFamily(
            "hedui_department_window_success_ratio",
            "Share of the window's calls that succeeded",
            labels=["department"],
        )
        median = GaugeMetricFamily(
            "hedui_department_window_median_seconds",
            "Upper bound of the latency bucket holding the window's median call",
            labels=["department"],
        )
        for reading in self._book.readings():
            for status in DepartmentHealth:
                health.add_metric([reading.department, status.value], 1.0 if reading.status is status else 0.0)
            calls.add_metric([reading.department], reading.calls)
            if reading.success_ratio is not None:
                ratio.add_metric([reading.department], reading.success_ratio)
            if reading.median_at_most_seconds is not None:
                median.add_metric([reading.department], reading.median_at_most_seconds)
        yield from (health, calls, ratio, median)


HEALTH: Final = HealthBook()
REGISTRY.register(_HealthCollector(HEALTH))
