"""The audit log's Prometheus metrics: whether writes are stopped, and how many queued rows were refused."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["ENTRIES_REFUSED", "WRITES_STOPPED"]

WRITES_STOPPED = Gauge(
    "hedui_audit_writes_stopped",
    "1 while the audit log cannot sign (the stored log disagrees with the signer's state, or entries waited "
    "longer than audit_integration_bound_seconds) and writes are refused; 0 otherwise",
)
ENTRIES_REFUSED = Counter(
    "hedui_audit_entries_refused",
    "Queued audit rows the integrator refused (no valid MAC, queued again, a copy, no entry): evidence of tampering",
)
