"""Who may call what (issue 13): client certificates, organisations and roles, and the one interceptor.

docs/access.md is the operator's guide: the roles and the methods each may call, the development CA, how a
case system gets a certificate, and which read paths are public and why.
"""

from verifier.access._clients import CACHE_SECONDS, Client, Clients
from verifier.access._interceptor import AccessControl, current_client
from verifier.access._methods import HEDUI_SERVICES, METHOD_ROLES, OPEN_SERVICES
from verifier.access._refusals import RefusedCalls
from verifier.access._transport import (
    DEVELOPMENT_CLIENT,
    ClientTransport,
    DevelopmentCa,
    ServerTransport,
    TransportError,
    client_transport,
    is_loopback,
    server_transport,
)
from verifier.organisations import Role, area_of, covers, parse_roles

__all__ = [
    "CACHE_SECONDS",
    "DEVELOPMENT_CLIENT",
    "HEDUI_SERVICES",
    "METHOD_ROLES",
    "OPEN_SERVICES",
    "AccessControl",
    "Client",
    "ClientTransport",
    "Clients",
    "DevelopmentCa",
    "RefusedCalls",
    "Role",
    "ServerTransport",
    "TransportError",
    "area_of",
    "client_transport",
    "covers",
    "current_client",
    "is_loopback",
    "parse_roles",
    "server_transport",
]
