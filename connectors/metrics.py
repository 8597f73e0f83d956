"""Per-department metrics (Prometheus): queries, errors by kind, latency, breaker state, pending tickets; and
each call fed to the department's health window (connectors/health.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

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
class _Children:
    """One department's metric children: ``labels()`` looked up once, not on every call."""

    queries: Any
    identities: Any
    retries: Any
    latency: Any
    breaker: Any
    pending: Any
    errors: dict[str, Any]

    @classmethod
    def of(cls, department: str) -> _Children:
        """The children labelled ``department`` (the error children by kind, as they come)."""
        return cls(
            _QUERIES.labels(department),
            _IDENTITIES.labels(department),
            _RETRIES.labels(department),
            _LATENCY.labels(department),
            _BREAKER.labels(department),
            _PENDING.labels(department),
            {},
        )


@dataclass(frozen=True, slots=True)
class DepartmentMetrics:
    """The metric children of one department (label values bound once), and the health book its calls go to."""

    department: str
    health: HealthBook = field(default=HEALTH, compare=False)
    _series: _Children = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Bind the department's label values once."""
        object.__setattr__(self, "_series", _Children.of(self.department))

    @classmethod
    @functools.cache
    def for_department(cls, department: str) -> DepartmentMetrics:
        """The metrics of one department (its label on every series)."""
        return cls(department)

    def sent(self, identities: int) -> None:
        """A call sent, about ``identities`` identity numbers."""
        self._series.queries.inc()
        if identities:
            self._series.identities.inc(identities)

    def error(self, kind: str) -> None:
        """A failed call, by kind (unavailable, refused, invalid_answer, breaker_open, timeout_or_cancelled)."""
        errors = self._series.errors
        child = errors.get(kind)
        if child is None:
            child = errors[kind] = _ERRORS.labels(self.department, kind)
        child.inc()
        if kind in _CALL_FAILURES:
            self.health.failed(self.department)

    def retried(self) -> None:
        """A transient failure tried again."""
        self._series.retries.inc()

    def latency(self, seconds: float) -> None:
        """How long one call took, in seconds."""
        self._series.latency.observe(seconds)
        self.health.called(self.department, seconds)

    def breaker(self, state: int) -> None:
        """The circuit breaker's state (0 closed, 1 half-open, 2 open)."""
        self._series.breaker.set(int(state))

    def pending(self, delta: int) -> None:
        """Tickets waiting for their answer, up or down by ``delta``."""
        self._series.pending.inc(delta)
