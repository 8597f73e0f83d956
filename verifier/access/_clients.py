"""The API's clients (issue 13): a certificate's public key mapped to a name, an organisation and roles.

``hedui clients add|list|revoke`` call :class:`Clients`; the interceptor (:mod:`verifier.access._interceptor`)
asks :meth:`Clients.identify` on every call, answered from memory for :data:`CACHE_SECONDS` so a call costs no
statement: a revocation made in this process counts at once, one made by another (``hedui clients revoke``
beside a running server) within that time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from typing import Final

from cryptography.x509.oid import NameOID

from audit import AuditEvent, AuditLog
from connectors.tls import CertificateError, load_certificates, public_key_sha256
from verifier.access._certificates import client_certificate_problem, validity_problem
from verifier.access._transport import DEVELOPMENT_CLIENT
from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.operations import Caller
from verifier.operations.trust_store import check_organisation
from verifier.organisations import Role, parse_roles
from verifier.storage import clients as stored
from verifier.storage.db import Database
from verifier.storage.models import ClientRow

__all__ = ["CACHE_SECONDS", "CLIENT_NAME", "Client", "Clients"]

CACHE_SECONDS: Final = 2.0
CLIENT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CACHE_LIMIT: Final = 10_000
_KEY_HASH: Final = re.compile(r"[0-9A-Fa-f]{64}")
_LABEL_LENGTH: Final = 200  # audit_entries.client: every entry names its client as name@organisation


@dataclass(frozen=True, slots=True)
class Client:
    """A client as the interceptor and ``hedui clients list`` see it."""

    key_sha256: str
    name: str
    organisation: str
    roles: frozenset[Role]
    not_after: dt.datetime
    added_at: dt.datetime
    note: str = ""
    revoked_at: dt.datetime | None = None
    revoke_reason: str | None = None

    @property
    def label(self) -> str:
        """How audit entries name it: ``name@organisation``."""
        return f"{self.name}@{self.organisation}"


def _client(row: ClientRow) -> Client:
    """A stored row as a :class:`Client`."""
    return Client(
        row.key_sha256,
        row.name,
        row.organisation,
        frozenset(Role(r) for r in json.loads(row.roles_json)),
        row.not_after,
        row.added_at,
        row.note,
        row.revoked_at,
        row.revoke_reason,
    )


def _certificate(pem: bytes) -> tuple[str, str, dt.datetime]:
    """(key hash, common name, expiry) of a client certificate PEM; INVALID_REQUEST naming ``certificate`` when
    it is none, or no client's (a CA's, not for clientAuth: review S5), or expired or not yet valid."""
    try:
        certificate = load_certificates(pem)[0]
        key = public_key_sha256(pem)
    except CertificateError as exc:
        raise ServiceError.invalid([FieldViolation("certificate", str(exc))]) from None
    problem = client_certificate_problem(certificate, ()) or validity_problem(certificate, dt.datetime.now(dt.UTC))
    if problem is not None:
        raise ServiceError.invalid([FieldViolation("certificate", f"the certificate {problem}")])
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return key, str(names[0].value) if names else "", certificate.not_valid_after_utc


class Clients:
    """Add, list, revoke and identify the API's clients; each change commits with its audit entry."""

    def __init__(self, db: Database, audit: AuditLog) -> None:
        """Clients in ``db``; each change is an ``audit`` entry."""
        self._db = db
        self._audit = audit
        self._known: dict[str, tuple[float, Client | None]] = {}

    async def add(
        self,
        certificate_pem: bytes,
        organisation: str,
        roles: list[str] | tuple[str, ...],
        *,
        name: str = "",
        note: str = "",
        caller: Caller | None = None,
    ) -> Client:
        """Know a client certificate's key as ``name`` (default: its common name) of ``organisation``."""
        key, common_name, not_after = _certificate(certificate_pem)
        organisation = check_organisation(organisation)
        try:
            granted = parse_roles(roles)
        except ValueError as exc:
            raise ServiceError.invalid([FieldViolation("roles", str(exc))]) from None
        name = name or common_name
        if not CLIENT_NAME.fullmatch(name):
            raise ServiceError.invalid([FieldViolation("name", "1 to 64 letters, digits, '.', '_' or '-'")])
        if len(name) + 1 + len(organisation) > _LABEL_LENGTH:  # review 13: the audit log's client column
            raise ServiceError.invalid(
                [FieldViolation("name", f"name@organisation must fit the audit log's {_LABEL_LENGTH} characters")]
            )
        if _KEY_HASH.fullmatch(name):  # review N6: revoke finds a client by name or key hash; never both at once
            raise ServiceError.invalid([FieldViolation("name", "must not be 64 hex digits (a certificate key's hash)")])
        at = dt.datetime.now(dt.UTC)
        row = ClientRow(
            key_sha256=key,
            name=name,
            organisation=organisation,
            roles_json=json.dumps(sorted(granted)),
            certificate_pem=certificate_pem,
            not_after=not_after,
            added_at=at,
            note=note[:500],
        )
        async with self._db.write() as session:
            if await stored.find(session, key) is not None or await stored.find(session, name) is not None:
                raise ServiceError(Reason.CLIENT_EXISTS, f"a client with this certificate key or name {name!r} exists")
            stored.add(session, row)
            await self._audit.append(session, _changed("CLIENT_ADDED", _client(row), caller))
        self._known.pop(key, None)
        return _client(row)

    async def ensure_development(self, certificate_pem: bytes, organisation: str) -> bool:
        """The development CA's admin client, with every role, known unless it is already (whether it was added)."""
        key, _, _ = _certificate(certificate_pem)
        async with self._db.sessions() as session:
            if await stored.by_key(session, key) is not None:
                return False
        name = DEVELOPMENT_CLIENT
        async with self._db.sessions() as session:
            if await stored.find(session, name) is not None:  # an earlier development CA's (made anew): numbered
                name = f"{DEVELOPMENT_CLIENT}-{key[:8]}"
        note = "the development CA's admin client (hedui serve without [tls])"
        await self.add(certificate_pem, organisation, [r.value for r in Role], name=name, note=note)
        return True

    async def list(self, organisation: str = "") -> list[Client]:
        """Every client (revoked ones too), by organisation and name."""
        async with self._db.sessions() as session:
            return [_client(row) for row in await stored.listing(session, organisation)]

    async def revoke(self, key_or_name: str, reason: str, caller: Caller | None = None) -> Client:
        """Refuse a client from now on (its key hash or name); revoking twice is CLIENT_REVOKED."""
        reason = " ".join(reason.split())[:500]
        if not reason:
            raise ServiceError.invalid([FieldViolation("reason", "say why the client is revoked")])
        async with self._db.write() as session:
            row = await stored.find(session, key_or_name, for_update=True)
            if row is None:
                raise ServiceError.not_found(f"clients/{key_or_name}")
            if row.revoked_at is not None:
                raise ServiceError(Reason.CLIENT_ALREADY_REVOKED, f"client {row.name} was revoked already")
            row.revoked_at, row.revoke_reason = dt.datetime.now(dt.UTC), reason
            await self._audit.append(session, _changed("CLIENT_REVOKED", _client(row), caller, reason=reason))
        self._known.pop(row.key_sha256, None)
        return _client(row)

    async def identify(self, key_sha256: str) -> Client | None:
        """The client of a certificate key (revoked ones too: the caller refuses them), from memory when fresh."""
        now = time.monotonic()
        known = self._known.get(key_sha256)
        if known is not None and now - known[0] < CACHE_SECONDS:
            return known[1]
        async with self._db.sessions() as session:
            row = await stored.by_key(session, key_sha256)
        if len(self._known) >= _CACHE_LIMIT:
            self._known.clear()
        found = None if row is None else _client(row)
        self._known[key_sha256] = (now, found)
        return found


def _changed(kind: str, client: Client, caller: Caller | None, *, reason: str = "") -> AuditEvent:
    """The CLIENT_ADDED or CLIENT_REVOKED entry."""
    details: dict[str, str | list[str]] = {
        "client": client.name,
        "organisation": client.organisation,
        "key_sha256": client.key_sha256,
        "roles": sorted(client.roles),
    }
    if reason:
        details["reason"] = reason
    return AuditEvent(
        kind=kind,
        operator=caller.operator if caller else "",
        client=caller.client if caller else "",
        details=details,
    )
