"""Every gRPC call observed once, in a server interceptor: the go-grpc-prometheus metrics, the request id, one log line.

The interceptor wraps each method's handler once (cached by method), so a call pays two clock reads, a few
counter increments, a metadata scan for ``x-request-id`` and one log record — no allocation of handlers.
"""

from __future__ import annotations

import contextvars
import inspect
import itertools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, Final

import grpc
from google.protobuf import descriptor_pool
from prometheus_client import Counter, Histogram

from verifier.interceptors import Handler, WrapsEachMethod

__all__ = [
    "REQUEST_ID_METADATA",
    "CallObserver",
    "current_request_id",
    "preregister",
]

REQUEST_ID_METADATA: Final = "x-request-id"
# A request id a client sends is kept if it is this plain (else one is made): it goes into logs and trailers.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")

# The names and labels of go-grpc-prometheus, so existing dashboards and alerts work unchanged.
STARTED = Counter(
    "grpc_server_started", "Total number of RPCs started on the server.", ["grpc_type", "grpc_service", "grpc_method"]
)
HANDLED = Counter(
    "grpc_server_handled",
    "Total number of RPCs completed on the server, regardless of success or failure.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_CODES: Final = tuple(code.name for code in grpc.StatusCode)
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("hedui_request_id", default="")
log = logging.getLogger("hedui.call")


# A request id made here: this process's random half and a counter (32 hex digits; no system call per call).
_PROCESS_PART: Final = os.urandom(8).hex()
_counter = itertools.count(1)


def _new_request_id() -> str:
    """A request id unique across processes (random per process) and within one (counted)."""
    return f"{_PROCESS_PART}{next(_counter) & 0xFFFFFFFFFFFFFFFF:016x}"


# An identity number inside a request id (a case system using the applicant's number as its id) is logged masked.
# (18 characters standing on their own: not a run of digits inside a longer id, such as a generated hex id's.)
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def _loggable(request_id: str) -> str:
    """The request id as it may be logged: any identity number in it masked (first 6, last 4)."""
    return _ID_NUMBER.sub(lambda m: f"{m[0][:6]}********{m[0][-4:]}", request_id)


def current_request_id() -> str:
    """The request id of the gRPC call this code runs for ("" outside a call)."""
    return _request_id.get()


def _kind(handler: grpc.RpcMethodHandler[Any, Any]) -> str:
    """The go-grpc-prometheus ``grpc_type`` of a handler."""
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def _split(method: str) -> tuple[str, str]:
    """``/hedui.v1.AuditService/ListAuditEvents`` → (``hedui.v1.AuditService``, ``ListAuditEvents``)."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service, name


def preregister(services: Iterable[str]) -> None:
    """Create the series of every method of ``services`` (full names in the default descriptor pool) at zero,
    for every code, as go-grpc-prometheus's InitializeMetrics does: a rate over calls that never came is 0."""
    pool = descriptor_pool.Default()
    for service in services:
        for method in pool.FindServiceByName(service).methods:
            streams = (method.client_streaming, method.server_streaming)
            kind = {(False, False): "unary", (True, False): "client_stream", (False, True): "server_stream"}.get(
                streams, "bidi_stream"
            )
            STARTED.labels(kind, service, method.name)
            HANDLING.labels(kind, service, method.name)
            for code in _CODES:
                HANDLED.labels(kind, service, method.name, code)


class _Method:
    """One method's bound metric children and its call log, shared by every call of it."""

    __slots__ = ("handled", "handling", "kind", "method", "service", "started")

    def __init__(self, method: str, kind: str) -> None:
        self.service, self.method = _split(method)
        self.kind = kind
        self.started = STARTED.labels(kind, self.service, self.method)
        self.handling = HANDLING.labels(kind, self.service, self.method)
        self.handled: dict[str, Any] = {}

    def begin(self, context: grpc.aio.ServicerContext[Any, Any]) -> tuple[float, str]:
        """A call starts: count it, take its request id, and return it to the client in the trailers."""
        self.started.inc()
        request_id = ""
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID_METADATA and isinstance(value, str) and _PLAIN_ID.fullmatch(value):
                request_id = value
                break
        request_id = request_id or _new_request_id()
        context.set_trailing_metadata(((REQUEST_ID_METADATA, request_id),))
        _request_id.set(request_id)
        return time.perf_counter(), request_id

    def end(self, context: grpc.aio.ServicerContext[Any, Any], began: float, request_id: str, raised: bool) -> None:
        """A call ends: its code, its latency, its one log line."""
        seconds = time.perf_counter() - began
        code = context.code()
        name = code.name if isinstance(code, grpc.StatusCode) else ("UNKNOWN" if raised else "OK")
        child = self.handled.get(name)
        if child is None:
            child = self.handled[name] = HANDLED.labels(self.kind, self.service, self.method, name)
        child.inc()
        self.handling.observe(seconds)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s/%s %s %.1f ms",
                self.service,
                self.method,
                name,
                seconds * 1000,
                extra={
                    "grpc_service": self.service,
                    "grpc_method": self.method,
                    "grpc_code": name,
                    "duration_ms": round(seconds * 1000, 3),
                    "client": str(context.peer()),
                    "request_id": _loggable(request_id),
                },
            )


def _unary(observed: _Method, behavior: Any) -> Any:
    """A unary-response behaviour, observed."""

    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        began, request_id = observed.begin(context)
        raised = True
        try:
            result = await behavior(request, context)
            raised = False
            return result
        finally:
            observed.end(context, began, request_id, raised)

    return call


def _streaming(observed: _Method, behavior: Any) -> Any:
    """A streaming-response behaviour (an async generator), observed."""

    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        began, request_id = observed.begin(context)
        raised = True
        try:
            responses = behavior(request, context)
            if inspect.isawaitable(responses):  # a coroutine writing with context.write (grpc_health's Watch)
                await responses
            else:
                async for response in responses:
                    yield response
            raised = False
        finally:
            observed.end(context, began, request_id, raised)

    return call


def _observed(method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """The handler with its behaviour wrapped (request deserialisation and the rest unchanged)."""
    observed = _Method(method, _kind(handler))
    options = {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_unary(observed, handler.unary_unary), **options)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_unary(observed, handler.stream_unary), **options)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_streaming(observed, handler.unary_stream), **options)
    return grpc.stream_stream_rpc_method_handler(_streaming(observed, handler.stream_stream), **options)


class CallObserver(WrapsEachMethod):
    """The server interceptor: metrics, request id and a log line for every call of every service."""

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The method's observed handler."""
        return _observed(method, handler)
