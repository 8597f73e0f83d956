"""Issue 13 (input): every method of every service, enumerated from the service descriptors, fed hostile
messages and raw bodies over real gRPC on SQLite and PostgreSQL.

Whatever comes back must not be ``UNKNOWN`` (nor ``INTERNAL``: the net for bugs must not be what catches them),
no status message or detail may carry SQL or a traceback, and no full identity number may be echoed.

The examples are drawn by hypothesis (derandomized, so a run is repeatable) and sent by the test itself: the
calls are async, the drawing is not. ``HEDUI_FUZZ_EXAMPLES=500`` runs the larger, ``slow`` variant.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status
from harness import Harness, example_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hedui.v1 import audit_pb2, consent_pb2, verification_pb2

pytestmark = pytest.mark.integration

DEFAULT_EXAMPLES = 4  # per method: the whole suite stays well under a minute on both databases
SERVICES = (
    consent_pb2.DESCRIPTOR.services_by_name["ConsentService"],
    verification_pb2.DESCRIPTOR.services_by_name["VerificationService"],
    audit_pb2.DESCRIPTOR.services_by_name["AuditService"],
    health_pb2.DESCRIPTOR.services_by_name["Health"],
)
IDENTITY_NUMBERS = [m["id_number"] for m in example_request()["members"]]
# An 18-character identity number standing on its own (the masked form has asterisks inside).
FULL_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
LEAKS = ("SQL", "Traceback", 'File "', "StatementError", "sqlalchemy", "asyncpg", "psycopg", "sqlite3")


@dataclass(frozen=True)
class Method:
    """One RPC: its path, request class and whether it streams its response."""

    path: str
    request: type[Any]
    streaming: bool
    client_streaming: bool

    def __str__(self) -> str:
        return self.path


def methods() -> list[Method]:
    """Every method of every served service, from the descriptors (client-streaming ones are left out: none)."""
    found = []
    for service in SERVICES:
        for method in service.methods:
            assert isinstance(method, MethodDescriptor)
            found.append(
                Method(
                    f"/{service.full_name}/{method.name}",
                    message_factory.GetMessageClass(method.input_type),
                    method.server_streaming,
                    method.client_streaming,
                )
            )
    return found


METHODS = [m for m in methods() if not m.client_streaming]


def test_every_method_is_fuzzed() -> None:
    names = {m.path for m in METHODS}
    assert (
        "/hedui.v1.ConsentService/RegisterAuthorization" in names and "/hedui.v1.AuditService/ExportAuditLog" in names
    )
    assert len(names) == sum(len(s.methods) for s in SERVICES)


# --- hostile values ---------------------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00b",
            "\x1b[31m",
            "\u202e1234",
            "'; DROP TABLE authorizations; --",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2026-13-45",
            "verifications/../x",
            "authorizations/" + "a" * 70,
            "verifications/x/reports/latest",
            "verifications/x/reports/99999999999",
            "*",
            "tax",
            "ASSESSMENT",
            "RECHECK",
            "application/json",
            "application/vnd.hedui.authorization+json; version=1",
            "5",
            "7b7d",
            "x" * 5000,
            *IDENTITY_NUMBERS,
            f"key {IDENTITY_NUMBERS[0]}",
        ]
    ),
)
HOSTILE_BYTES = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"", b"[" * 100_000, b"{}", b'{"members": []}', b"\xff\xfe", b"null"]),
)
INTEGERS = {
    FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
}


def _value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    """A hostile value of one field's type."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_of(field.message_type, depth + 1)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values] + [999])
    if field.type == FieldDescriptor.TYPE_BYTES:
        return HOSTILE_BYTES
    if field.type == FieldDescriptor.TYPE_STRING:
        return HOSTILE_TEXT
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type in INTEGERS:
        return INTEGERS[field.type]
    return st.floats(allow_nan=False)


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, depth: int) -> Any:
    message = message_factory.GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if field.message_type is not None and depth >= 3:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            continue
        if not draw(st.booleans()):
            continue
        if field.is_repeated:
            values = draw(st.lists(_value(field, depth), max_size=3))
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                for value in values:
                    getattr(message, field.name).add().CopyFrom(value)
            else:
                getattr(message, field.name).extend(values)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(message, field.name).CopyFrom(draw(_value(field, depth)))
        else:
            setattr(message, field.name, draw(_value(field, depth)))
    return message


def message_of(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Any]:
    """Messages of ``descriptor``'s type with every field hostile or unset."""
    return _message(descriptor, depth)


def drawn(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples of ``strategy``, drawn through hypothesis (repeatable: derandomized)."""
    found: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        found.append(example)

    collect()
    return found[:count]


# --- what may come back -----------------------------------------------------------------------------------


def _texts(error: grpc.aio.AioRpcError) -> Iterator[str]:
    yield error.details() or ""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return
    yield status.message
    for item in status.details:
        if item.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            item.Unpack(bad)
            for violation in bad.field_violations:
                yield violation.field
                yield violation.description
        elif item.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            item.Unpack(info)
            yield info.reason


def check_refusal(error: grpc.aio.AioRpcError, what: str) -> None:
    """A refusal that is specific and says nothing it must not."""
    assert error.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (what, error.details())
    for text in _texts(error):
        assert not any(leak in text for leak in LEAKS), (what, text)
        assert not FULL_ID.search(text), (what, text)


async def call(h: Harness, method: Method, body: bytes) -> None:
    """Send ``body`` (serialized already) to ``method``; check what comes back."""
    try:
        async with asyncio.timeout(15):
            if method.streaming:
                stream = h.channel.unary_stream(method.path)(body, metadata=h.metadata)
                try:
                    async for _ in stream:
                        break  # one response is enough: a watch would go on
                finally:
                    stream.cancel()  # else it holds one of the connection's streams until collected
            else:
                await h.channel.unary_unary(method.path)(body, metadata=h.metadata)
    except grpc.aio.AioRpcError as error:
        check_refusal(error, method.path)


async def fuzz(h: Harness, examples: int) -> None:
    for method in METHODS:
        for message in drawn(message_of(method.request.DESCRIPTOR), examples):
            await call(h, method, message.SerializeToString())
        for raw in drawn(st.binary(min_size=1, max_size=256), max(2, examples // 2)):
            await call(h, method, raw)


async def test_every_method_survives_hostile_messages_and_raw_bodies(harness: Harness) -> None:
    await fuzz(harness, DEFAULT_EXAMPLES)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("HEDUI_FUZZ_EXAMPLES"), reason="set HEDUI_FUZZ_EXAMPLES=500 to fuzz longer")
async def test_every_method_survives_many_hostile_messages(harness: Harness) -> None:
    await fuzz(harness, int(os.environ["HEDUI_FUZZ_EXAMPLES"]))
