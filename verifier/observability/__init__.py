"""What an operator watches: metrics, health, readiness, call logs and tracing.

- :class:`CallObserver`, the gRPC server interceptor: go-grpc-prometheus metrics, the ``x-request-id``,
  one log line per call;
- :func:`observe_stage`: how long each stage of a verification takes (called by the pipeline);
- :class:`Readiness`: database reachable, audit log appending, migrations current — ``/readyz`` and gRPC health;
- :class:`OperatorEndpoint`: ``/metrics``, ``/healthz``, ``/readyz`` on ``metrics_listen``;
- :class:`TilesEndpoint`: the audit log as C2SP tlog-tiles on ``tiles_listen``;
- :func:`enable_reflection`: server reflection v1 and v1alpha;
- :func:`configure_logging`: JSON lines, or text on a terminal.
"""

from __future__ import annotations

from verifier.observability._calls import REQUEST_ID_METADATA, CallObserver, current_request_id, preregister
from verifier.observability._health import Check, Readiness, ReadinessReport
from verifier.observability._http import OperatorEndpoint, TilesEndpoint
from verifier.observability._logging import JsonFormatter, TextFormatter, configure_logging
from verifier.observability._reflection import REFLECTION_SERVICES, enable_reflection
from verifier.observability._scrape import refresh_scraped
from verifier.observability._stages import STAGES, observe_stage

__all__ = [
    "REFLECTION_SERVICES",
    "REQUEST_ID_METADATA",
    "STAGES",
    "CallObserver",
    "Check",
    "JsonFormatter",
    "OperatorEndpoint",
    "Readiness",
    "ReadinessReport",
    "TextFormatter",
    "TilesEndpoint",
    "configure_logging",
    "current_request_id",
    "enable_reflection",
    "observe_stage",
    "preregister",
    "refresh_scraped",
]
