"""Server reflection in v1 and v1alpha; OpenTelemetry spans when tracing is on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2
from harness import Harness, example_sandbox, running_service

from hedui.v1 import verification_pb2
from verifier.observability.tracing import enable_tracing

pytestmark = pytest.mark.integration
HEDUI_SERVICES = {"hedui.v1.ConsentService", "hedui.v1.VerificationService", "hedui.v1.AuditService"}


async def _ask(harness: Harness, version: str, request: reflection_pb2.ServerReflectionRequest) -> Any:
    """One reflection request over the named protocol version (v1's messages are v1alpha's, field for field)."""
    call = harness.channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    replies = [reply async for reply in call(iter([request]), timeout=10)]
    assert len(replies) == 1
    return replies[0]


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_lists_and_describes_the_services(harness: Harness, version: str) -> None:
    listed = await _ask(harness, version, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {service.name for service in listed.list_services_response.service}
    assert HEDUI_SERVICES | {"grpc.health.v1.Health"} <= names
    assert {"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= names
    for symbol in ("hedui.v1.VerificationService", f"grpc.reflection.{version}.ServerReflection"):
        found = await _ask(harness, version, reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol))
        files = [
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in found.file_descriptor_response.file_descriptor_proto
        ]
        assert any(symbol.rpartition(".")[2] in {s.name for s in f.service} for f in files), symbol


async def test_tracing_makes_one_server_span_per_call(tmp_path: Path) -> None:
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    provider = enable_tracing(exporter)
    try:
        async with running_service(f"sqlite:///{tmp_path}/hedui.db", example_sandbox()) as h:
            with pytest.raises(grpc.aio.AioRpcError):
                await h.verifications.GetVerification(
                    verification_pb2.GetVerificationRequest(name="verifications/none"), metadata=h.metadata
                )
    finally:
        GrpcAioInstrumentorServer().uninstrument()
        provider.shutdown()
    spans = [span for span in exporter.get_finished_spans() if span.name.endswith("GetVerification")]
    assert [span.name for span in spans] == ["/hedui.v1.VerificationService/GetVerification"]
    attributes = spans[0].attributes or {}
    assert spans[0].kind is SpanKind.SERVER
    assert (attributes["rpc.service"], attributes["rpc.method"]) == ("hedui.v1.VerificationService", "GetVerification")
