"""Per-department metrics (Prometheus): queries, errors by kind, latency, breaker state, pending tickets; and
each call fed to the department's health window (connectors/health.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from connectors.health import HEALTH, HealthBook

__all__ = ["DepartmentMetrics"]

_QUERIES = Counter("hedui_department_queries", "Calls sent to a department (queries and polls)", ["department"])
_IDENTITIES = Counter("hedui_department_identities", "Identity numbers asked about", ["department"])
_ERRORS = Counter(
    "hedui_department_errors",
    "Failed department calls by kind: unavailable, refused, invalid_answer, breaker_open, timeout_or_cancelled",
    ["department", "kind"],
)
_RETRIES = Counter("hedui_department_retries", "Retried calls after a transient failure", ["department"])
_LATENCY = Histogram(
    "hedui_department_call_seconds",
    "Time a department took to answer one call",
    ["department"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
_BREAKER = Gauge("hedui_department_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", ["department"])
_PENDING = Gauge(
    "hedui_department_pending_tickets",
    "Polls of asynchronous answers in progress in this process (the answers still pending are work_steps rows"
    " in phase poll, polled by whichever process claims them)",
    ["department"],
)


# The errors that are a failed call of the department (a refusal is an answer; an open breaker sent nothing).
_CALL_FAILURES = frozenset({"unavailable", "invalid_answer", "timeout_or_cancelled"})


@dataclass(frozen=True, slots=True)
class DepartmentMetrics:
    """The metric children of one department (label values bound once), and the health book its calls go to."""

    department: str
    health: HealthBook = field(default=HEALTH, compare=False)

    @classmethod
    @functools.cache
    def for_department(cls, department: str) -> DepartmentMetrics:
        """The metrics of one department (its label on every series)."""
        return cls(department)

    def sent(self, identities: int) -> None:
        """A call sent, about ``identities`` identity numbers."""
        _QUERIES.labels(self.department).inc()
        if identities:
            _IDENTITIES.labels(self.department).inc(identities)

    def error(self, kind: str) -> None:
        """A failed call, by kind (unavailable, refused, invalid_answer, breaker_open, timeout_or_cancelled)."""
        _ERRORS.labels(self.department, kind).inc()
        if kind in _CALL_FAILURES:
            self.health.failed(self.department)

    def retried(self) -> None:
        """A transient failure tried again."""
        _RETRIES.labels(self.department).inc()

    def latency(self, seconds: float) -> None:
        """How long one call took, in seconds."""
        _LATENCY.labels(self.department).observe(seconds)
        self.health.called(self.department, seconds)

    def breaker(self, state: int) -> None:
        """The circuit breaker's state (0 closed, 1 half-open, 2 open)."""
        _BREAKER.labels(self.department).set(int(state))

    def pending(self, delta: int) -> None:
        """Tickets waiting for their answer, up or down by ``delta``."""
        _PENDING.labels(self.department).inc(delta)
