"""Who may call what (issue 13): client certificates, organisations and roles, and the one interceptor.

docs/access.md is the operator's guide: the roles and the methods each may call, the development CA, how a
case system gets a certificate, and which read paths are public and why.
"""

from verifier.access._clients import CACHE_SECONDS, Client, Clients
from verifier.access._roles import Role, area_of, covers, parse_roles

__all__ = ["CACHE_SECONDS", "Client", "Clients", "Role", "area_of", "covers", "parse_roles"]
