"""OpenTelemetry tracing of gRPC calls, off by default (``tracing = true``; the ``tracing`` extra installed).

One server span per call (opentelemetry-instrumentation-grpc's aio server interceptor, added to every
``grpc.aio.server`` made afterwards). Spans go to the OTLP exporter when ``opentelemetry-exporter-otlp`` is
installed (configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables), else to the exporter given, else to
stderr. A module of its own so that nothing imports OpenTelemetry unless tracing is on.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["TracingUnavailable", "enable_tracing"]


class TracingUnavailable(RuntimeError):
    """``tracing = true`` without OpenTelemetry installed."""


def _default_exporter() -> Any:
    """OTLP if its exporter is installed, else the console (stderr)."""
    try:
        otlp = importlib.import_module("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
        return otlp.OTLPSpanExporter()
    except ImportError:
        import sys

        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)


def enable_tracing(exporter: Any = None, *, service_name: str = "hedui") -> Any:
    """Trace every gRPC call of servers made from now on; returns the tracer provider (to flush or shut down)."""
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        raise TracingUnavailable("tracing: OpenTelemetry is not installed (pip install 'hedui[tracing]')") from None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    processor = SimpleSpanProcessor(exporter) if exporter is not None else BatchSpanProcessor(_default_exporter())
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    instrumentor = GrpcAioInstrumentorServer()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    return provider
