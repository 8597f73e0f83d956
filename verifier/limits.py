"""Issue 13 (input): every bound the service puts on what a caller sends, in one table, and the server's own.

The checks live where the values are read (``verifier/request.py``, ``consent/``, the operations); this module
gathers their constants into :data:`INPUT_LIMITS`, the table docs/api.md shows under "Input limits" (a test keeps
the two equal, so the documentation cannot drift from the code).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from prometheus_client import Counter

from consent import authorization as payload
from consent import check, envelope
from consent.text import UNPRINTABLE_CATEGORIES
from verifier import request
from verifier.errors import Reason
from verifier.interceptors import Handler, WrapsEachMethod
from verifier.operations import _names
from verifier.operations.audit_queries import MAX_AUDIT_PAGE_SIZE
from verifier.page_tokens import MAX_PAGE_TOKEN

__all__ = [
    "CLIENT_OPTIONS",
    "INPUT_LIMITS",
    "ONE_LINE",
    "InputLimit",
    "UndecodableBodies",
    "limits_table",
    "server_arguments",
]

ONE_LINE: Final = "one line: no " + "/".join(sorted(UNPRINTABLE_CATEGORIES))


@dataclass(frozen=True, slots=True)
class InputLimit:
    """One row of the table: the field (as a field violation names it), its bound, the characters allowed."""

    field: str
    bound: str
    characters: str = ""


INPUT_LIMITS: Final = (
    InputLimit(
        "envelope.payload",
        f"{check.MAX_PAYLOAD_BYTES} bytes; nesting depth {payload.MAX_JSON_DEPTH}",
        "UTF-8 JSON object",
    ),
    InputLimit("envelope.payload_type", "exactly the authorization payload type", ""),
    InputLimit("envelope.signatures", f"1 to {envelope.MAX_SIGNATURES} signatures; one verified per key id", ""),
    InputLimit("envelope.signatures[i].keyid", f"{envelope.MAX_KEYID} characters", "printable ASCII, no space"),
    InputLimit("envelope.signatures[i].sig", f"{envelope.MAX_SIGNATURE_BYTES} bytes", ""),
    InputLimit(
        "member_key_certificates",
        f"{check.MAX_CERTIFICATES} certificates of {check.MAX_CERTIFICATE_BYTES} bytes each",
        "UTF-8 JSON object",
    ),
    InputLimit("envelope.payload.commissioned_by", f"{payload.MAX_ORGANISATION} characters", ONE_LINE),
    InputLimit("envelope.payload.members", f"{payload.MAX_AUTHORIZED_MEMBERS} members", ""),
    InputLimit("envelope.payload.members[i].name", f"{payload.MAX_MEMBER_NAME} characters", ONE_LINE),
    InputLimit("envelope.payload.departments", f"{payload.MAX_DEPARTMENTS} departments", "department ids or *"),
    InputLimit(
        "envelope.payload.evidence",
        f"{payload.MAX_EVIDENCE_ENTRIES} entries; keys {payload.MAX_EVIDENCE_KEY}, values "
        f"{payload.MAX_EVIDENCE_VALUE} characters",
        ONE_LINE,
    ),
    InputLimit(
        "envelope.payload.valid_from, envelope.payload.valid_until",
        f"{payload.EARLIEST_DATE} to {payload.LATEST_DATE}",
        "YYYY-MM-DD",
    ),
    InputLimit("envelope.payload.signed_at", "an instant that exists in UTC", "RFC 3339 with offset"),
    InputLimit("request_id", f"{_names.MAX_REQUEST_ID} characters", "no NUL"),
    InputLimit("request.members", f"{request.MAX_MEMBERS} members", ""),
    InputLimit("request.members[i].name", f"{request.MAX_NAME} characters", ONE_LINE),
    InputLimit("request.deductions", f"{request.MAX_DEDUCTIONS} deductions", ""),
    InputLimit("request.deductions[i].evidence", f"{request.MAX_EVIDENCE} characters", ONE_LINE),
    InputLimit(
        "request.commissioned_by, request.area, request.purpose, request.members[i].relation",
        f"{request.MAX_TEXT} characters",
        ONE_LINE,
    ),
    InputLimit("request.household_address, request.case_number", f"{request.MAX_PRINTED_TEXT} characters", ONE_LINE),
    InputLimit("request.policy", f"{request.MAX_POLICY} characters", ONE_LINE),
    InputLimit("request.application_date", f"{request.EARLIEST_APPLICATION} to tomorrow (China time)", "YYYY-MM-DD"),
    InputLimit("authorizations", f"{request.MAX_AUTHORIZATIONS} authorizations", "resource names"),
    InputLimit("reason", f"{request.MAX_REASON} characters", "no NUL"),
    InputLimit("member_id_number, subject_id_number", "18 characters", "17 digits then a digit or X"),
    InputLimit(
        "commissioned_by, verification, operator, department (list filters)",
        f"{request.MAX_FILTER} characters",
        ONE_LINE,
    ),
    InputLimit(
        "since, until", f"{request.EARLIEST_INSTANT:%Y} to {request.LATEST_INSTANT.year - 1}", "RFC 3339 with offset"
    ),
    InputLimit("page_size", f"{_names.MAX_PAGE_SIZE} ({MAX_AUDIT_PAGE_SIZE} for ListAuditEvents); larger is cut", ""),
    InputLimit(
        "page_token",
        f"{MAX_PAGE_TOKEN} characters; only a token the service issued for the same list and filters",
        "base64url",
    ),
    InputLimit("request", "a valid protobuf message of the method's request type", ""),
)
"""The bounds, in the order docs/api.md lists them."""


def limits_table() -> str:
    """:data:`INPUT_LIMITS` as the Markdown table of docs/api.md."""
    rows = ["| field | at most | characters |", "| --- | --- | --- |"]
    rows += [f"| `{row.field}` | {row.bound} | {row.characters or '—'} |" for row in INPUT_LIMITS]
    return "\n".join(rows)


# --- the server: undecodable bodies, message sizes, streams (issue 13) -----------------------------------

UNDECODABLE = Counter(
    "hedui_undecodable_requests",
    "Requests whose body was not a valid protobuf message of the method's request type (refused INVALID_ARGUMENT).",
    ["grpc_service", "grpc_method"],
)
# One log line at most this often for undecodable bodies; the lines between are counted in the next one.
UNDECODABLE_LOG_SECONDS: Final = 60.0
_log = logging.getLogger("hedui.api")


class _Undecodable:
    """What the guarded deserializer hands on for a body that is not a message of the method's type."""

    __slots__ = ()


_UNDECODABLE: Final = _Undecodable()


class _RateLimitedLine:
    """One warning per :data:`UNDECODABLE_LOG_SECONDS`, saying how many bodies were refused since the last."""

    def __init__(self) -> None:
        """Nothing logged yet."""
        self._last = -float("inf")
        self._since = 0

    def note(self, method: str) -> None:
        """Count one undecodable body of ``method``; log if the last line is old enough."""
        self._since += 1
        now = time.monotonic()
        if now - self._last >= UNDECODABLE_LOG_SECONDS:
            _log.warning(
                "%d request bodies were not valid protobuf messages (the latest for %s); refused with"
                " INVALID_ARGUMENT (metric hedui_undecodable_requests_total; at most one such line a minute)",
                self._since,
                method,
            )
            self._last, self._since = now, 0


def _refusal_status(method: str) -> grpc.Status:
    """INVALID_ARGUMENT with ErrorInfo (INVALID_REQUEST) and a BadRequest naming the body (``request``)."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=Reason.INVALID_REQUEST, domain="hedui.v1"))
    description = "is not a valid protobuf message of this method's request type"
    bad = any_pb2.Any()
    bad.Pack(
        error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field="request", description=description)]
        )
    )
    message = f"request: {description} ({method})"
    status: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[info, bad])
    )
    return status


def _guarded(method: str, handler: grpc.RpcMethodHandler[Any, Any], line: _RateLimitedLine) -> Any:
    """``handler`` with a deserializer that never raises and a behaviour that refuses what it could not read."""
    parse = handler.request_deserializer
    service, _, name = method.lstrip("/").rpartition("/")

    def deserialize(raw: bytes) -> Any:
        try:
            return parse(raw) if parse is not None else raw
        except Exception:  # DecodeError, or anything a broken body makes the parser raise
            UNDECODABLE.labels(service, name).inc()
            line.note(method)
            return _UNDECODABLE

    async def refuse(context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort_with_status(_refusal_status(method))

    options = {"request_deserializer": deserialize, "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        unary: Any = handler.unary_unary

        async def unary_call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if request is _UNDECODABLE:
                await refuse(context)
            try:
                return await unary(request, context)
            except NotImplementedError:  # a stock servicer's method left out (grpc_health's List): not UNKNOWN
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented")
                raise

        return grpc.unary_unary_rpc_method_handler(unary_call, **options)
    if handler.unary_stream is not None:
        streaming: Any = handler.unary_stream

        async def stream_call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            if request is _UNDECODABLE:
                await refuse(context)
            responses = streaming(request, context)
            if inspect.isawaitable(responses):  # a coroutine writing with context.write (grpc_health's Watch)
                await responses
                return
            async for response in responses:
                yield response

        return grpc.unary_stream_rpc_method_handler(stream_call, **options)
    return handler  # client-streaming methods read their own messages: hedui serves none


class UndecodableBodies(WrapsEachMethod):
    """A body that is not a message of the method's request type is ``INVALID_ARGUMENT`` (field ``request``),
    counted in ``hedui_undecodable_requests_total`` and logged at most once a minute — not gRPC's ``UNKNOWN``
    with a traceback per request."""

    def __init__(self) -> None:
        """No method seen yet."""
        super().__init__()
        self._line = _RateLimitedLine()

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The method's handler, its undecodable bodies refused."""
        guarded: Handler = _guarded(method, handler, self._line)
        return guarded


# HTTP/2 and gRPC bounds beside the message sizes and keepalive build_server sets (an option it names wins).
SERVER_LIMITS: Final = (
    ("grpc.max_concurrent_streams", 100),  # streams one connection may hold open at once
    ("grpc.http2.max_ping_strikes", 2),  # a client pinging more often than allowed is disconnected
    ("grpc.max_connection_idle_ms", 15 * 60_000),  # an idle connection is closed after 15 minutes
    ("grpc.max_metadata_size", 16 * 1024),  # headers (metadata) of one call, in bytes
)
# What hedui's own clients (``hedui`` commands, the demo, the tests) set on their channels: the server's message
# limit both ways, and keepalive within what the server allows (it refuses pings more often than every 30 s).
CLIENT_OPTIONS: Final = (
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.max_send_message_length", 4 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
)
# Calls being served at once across all connections; beyond it gRPC answers RESOURCE_EXHAUSTED at once.
MAX_CONCURRENT_RPCS: Final = 1024


def server_arguments(
    options: Sequence[tuple[str, Any]], interceptors: Sequence[grpc.aio.ServerInterceptor]
) -> dict[str, Any]:
    """The keyword arguments of ``grpc.aio.server``: ``options`` and ``interceptors`` with issue 13's limits
    added (:data:`SERVER_LIMITS`, :data:`MAX_CONCURRENT_RPCS`; the guard of undecodable bodies innermost, so the
    call observer still counts their refusals)."""
    named = {name for name, _ in options}
    merged = [*options, *((name, value) for name, value in SERVER_LIMITS if name not in named)]
    return {
        "options": merged,
        "interceptors": (*interceptors, UndecodableBodies()),
        "maximum_concurrent_rpcs": MAX_CONCURRENT_RPCS,
    }
