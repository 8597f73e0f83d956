"""Server reflection in both versions clients speak: ``grpc.reflection.v1`` (grpcurl, Postman, current tools) and
``grpc.reflection.v1alpha`` (older ones).

grpcio-reflection implements v1alpha only. The v1 protocol is the same messages under another package (the
field numbers are identical), so v1 is served by the same servicer with the v1alpha messages' codecs, and the
v1 file descriptor — v1alpha's renamed — is added to the descriptor pool so a v1 client can describe it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

__all__ = ["REFLECTION_SERVICES", "enable_reflection"]

V1: Final = "grpc.reflection.v1"
V1ALPHA: Final = "grpc.reflection.v1alpha"
REFLECTION_SERVICES: Final = (f"{V1}.ServerReflection", f"{V1ALPHA}.ServerReflection")
_V1_FILE: Final = "grpc/reflection/v1/reflection.proto"


def _renamed(name: str) -> str:
    """A type reference of the v1alpha file as v1 names it."""
    return name.replace(f".{V1ALPHA}.", f".{V1}.")


def _add_v1_descriptor(pool: Any) -> None:
    """Put ``grpc/reflection/v1/reflection.proto`` (v1alpha's, renamed) into ``pool`` once."""
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = _V1_FILE, V1
    proto.options.Clear()
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = _renamed(field.type_name)
    for service in proto.service:
        for method in service.method:
            method.input_type, method.output_type = _renamed(method.input_type), _renamed(method.output_type)
    pool.AddSerializedFile(proto.SerializeToString())


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection v1 and v1alpha on ``server``, listing ``service_names`` and the reflection services."""
    _add_v1_descriptor(descriptor_pool.Default())
    servicer = ReflectionServicer((*service_names, *REFLECTION_SERVICES))
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_SERVICES[0], {"ServerReflectionInfo": v1}),)
    )
