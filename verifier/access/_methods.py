"""Which roles may call which method: every method of every hedui service, enumerated from the descriptors.

:data:`METHOD_ROLES` is built from the table below and checked against the services' descriptors when this
module is imported: a method added to a proto without a row here stops the import (the server cannot start with
a method nobody decided about), and so does a row naming a method that does not exist. The health and reflection
services stay open to any TLS client (:data:`OPEN_SERVICES`): they say whether the server is up and which
methods it has — what a load balancer and ``grpcurl`` need before they hold a certificate of the client CA —
and nothing of any household. docs/access.md has the table in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from google.protobuf import descriptor_pool

from hedui.v1 import audit_pb2, consent_pb2, verification_pb2  # noqa: F401 - registers the descriptors
from verifier.organisations import Role

__all__ = ["HEDUI_SERVICES", "METHOD_ROLES", "OPEN_SERVICES", "service_methods"]

HEDUI_SERVICES: Final = ("hedui.v1.ConsentService", "hedui.v1.VerificationService", "hedui.v1.AuditService")
OPEN_SERVICES: Final = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
CASE, SUPERVISOR, ADMIN = Role.CASE_SYSTEM, Role.SUPERVISOR, Role.ADMIN
_READERS: Final = frozenset({CASE, SUPERVISOR})
_ANYONE: Final = frozenset(Role)
_TABLE: Final[Mapping[str, Mapping[str, frozenset[Role]]]] = {
    "hedui.v1.ConsentService": {
        "RegisterAuthorization": frozenset({CASE}),
        "GetAuthorization": _READERS,  # a supervisor reads the consent behind its area's reports
        "RevokeAuthorization": frozenset({CASE}),
        "ListAuthorizations": _READERS,
    },
    "hedui.v1.VerificationService": {
        "CreateVerification": frozenset({CASE}),
        "GetVerification": _READERS,
        "WatchVerification": _READERS,
        "GetReport": _READERS,
        "ListVerifications": _READERS,
        "CreateRecheckBatch": frozenset({CASE}),
    },
    "hedui.v1.AuditService": {
        "ListAuditEvents": frozenset({SUPERVISOR}),
        "GetSignedTreeHead": _ANYONE,  # a checkpoint: a size and a root hash, nothing of anyone
        "GetInclusionProof": frozenset({SUPERVISOR}),  # it carries the entry itself
        "GetConsistencyProof": _ANYONE,  # hashes between two checkpoints
        "ExportAuditLog": frozenset({SUPERVISOR}),
    },
}


def service_methods(service: str) -> tuple[str, ...]:
    """The method names of a service in the default descriptor pool."""
    return tuple(m.name for m in descriptor_pool.Default().FindServiceByName(service).methods)


def _method_roles() -> dict[str, frozenset[Role]]:
    """``/service/method`` → the roles that may call it; every method of :data:`HEDUI_SERVICES`, no other."""
    table: dict[str, frozenset[Role]] = {}
    for service in HEDUI_SERVICES:
        declared = set(service_methods(service))
        decided = set(_TABLE.get(service, {}))
        if declared != decided:
            raise RuntimeError(
                f"{service}: methods without roles {sorted(declared - decided)}, roles for no method "
                f"{sorted(decided - declared)} (verifier/access/_methods.py)"
            )
        for method, roles in _TABLE[service].items():
            table[f"/{service}/{method}"] = roles
    return table


METHOD_ROLES: Final = _method_roles()
