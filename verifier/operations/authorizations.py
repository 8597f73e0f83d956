"""The authorizations resource: register a signed consent, read it, list a member's, revoke one.

Everything is checked before anything is written; each change commits with its audit event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Collection, Sequence
from enum import StrEnum

from audit import AuditEvent, AuditLog
from connectors.departments import DEFAULT_DEPARTMENTS
from consent import (
    AuthorizationError,
    Envelope,
    RegisteredAuthorization,
    SignatureError,
    check_authorization,
    china_today,
    envelope_from_json,
    envelope_to_json,
    keyids_to_look_up,
)
from consent.check import CheckedAuthorization
from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.operations._names import (
    COUNTER,
    MAX_PAGE_SIZE,
    NOBODY,
    Caller,
    check_request_id,
    id_from,
    refused_for_scope,
)
from verifier.page_tokens import PageTokens
from verifier.pipeline.consent import AuthorizationReader, envelope_of
from verifier.request import RequestError, identity_filter, revocation_reason
from verifier.storage import authorizations as stored
from verifier.storage.db import Database
from verifier.storage.models import AuthorizationRow

__all__ = ["AuthorizationState", "Authorizations", "state_of"]

DEFAULT_DEPARTMENT_IDS = tuple(d.id for d in DEFAULT_DEPARTMENTS)


class AuthorizationState(StrEnum):
    """An authorization's state as the API shows it (interfaces.md)."""

    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


def state_of(auth: RegisteredAuthorization, today: dt.date) -> AuthorizationState:
    """Revoked, else expired after its last valid day (China time), else active."""
    if auth.revoked_at:
        return AuthorizationState.REVOKED
    return AuthorizationState.EXPIRED if auth.payload.valid_until < today else AuthorizationState.ACTIVE


class Authorizations:
    """Register, read, list and revoke authorizations (consent envelopes)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        reader: AuthorizationReader,
        withdraw: Callable[[str], None],
        departments: Collection[str] = DEFAULT_DEPARTMENT_IDS,
    ) -> None:
        """``withdraw`` calls back the queries still waiting under a revoked authorization; an authorization
        may name only the ``departments`` this service declares (or ``*``)."""
        self._db = db
        self._audit = audit
        self._reader = reader
        self._withdraw = withdraw
        self._departments = tuple(departments)
        self.page_tokens = PageTokens()  # issue 13: the service sets its own (verifier/page_tokens.py)

    async def register(
        self,
        envelope: Envelope,
        *,
        certificates: Sequence[Envelope] = (),
        request_id: str = "",
        caller: Caller = NOBODY,
    ) -> RegisteredAuthorization:
        """Check the envelope's signatures and payload, then store it. Nothing is stored on failure.

        ``certificates`` are member-key certificates for members' own signatures (consent.signers).
        Everything is checked before anything is looked up, replays included: a registered payload sent again
        under another payload type, without a signature that holds, or with a bad payload is refused like a
        new one. A retried ``request_id`` with the same payload, or a valid envelope registered before, returns
        the stored authorization (a replay never revives a revoked one); a ``request_id`` used before for
        another payload is ``REQUEST_ID_REUSED`` (ALREADY_EXISTS).
        """
        return (
            await self.register_with_copy(envelope, certificates=certificates, request_id=request_id, caller=caller)
        )[0]

    async def register_with_copy(
        self,
        envelope: Envelope,
        *,
        certificates: Sequence[Envelope] = (),
        request_id: str = "",
        caller: Caller = NOBODY,
    ) -> tuple[RegisteredAuthorization, Envelope, tuple[Envelope, ...]]:
        """:meth:`register`, with the envelope and certificates as stored (the reply shows those, never what a
        replay sent)."""
        check_request_id(request_id)
        at = dt.datetime.now(dt.UTC)
        certificates = tuple(certificates)
        # The consent epoch before the trust store is read: a key change committing after this read bumps it,
        # so what is judged below is kept under an epoch it cannot outlive.
        async with self._db.sessions() as session:
            epoch = await stored.consent_epoch(session)
        checked = await self._checked(envelope, certificates, at)
        digest = hashlib.sha256(envelope.payload).hexdigest()
        payload, signed_by = checked.payload, [s.keyid for s in checked.signers]
        caller.check_acts_for(payload.commissioned_by, "envelope.payload.commissioned_by")  # issue 13
        # Issue 13 (review M1): looked up only once checked, and within the caller's own organisation.
        existing = await self._already_registered(payload.commissioned_by, request_id, digest)
        if existing is not None:
            caller.check_acts_for(existing.commissioned_by, "envelope.payload.commissioned_by")  # issue 13
            registered = (await self._reader.registered([existing]))[0]
            return registered, _stored_envelope(existing), _stored_certificates(existing)
        row = AuthorizationRow(
            id=uuid.uuid4().hex,
            request_id=request_id or None,
            payload=envelope.payload,
            payload_sha256=digest,
            payload_type=envelope.payload_type,
            signatures_json=json.dumps([{"keyid": s.keyid, "sig": s.sig.hex()} for s in envelope.signatures]),
            signed_by_json=json.dumps(signed_by),
            certificates_json=json.dumps([envelope_to_json(c) for c in certificates]),
            commissioned_by=payload.commissioned_by,
            purpose=payload.purpose,
            registered_at=at,
        )
        async with self._db.write() as session:
            await stored.add(session, row, [m.id_number for m in payload.members])
            await self._audit.append(
                session, _registered_event(row.id, checked, caller), id_numbers=[m.id_number for m in payload.members]
            )
        registered = RegisteredAuthorization(row.id, payload, tuple(signed_by), at, signers=checked.signers)
        self._reader.keep(epoch, registered)  # the verification that follows need not read it back
        return registered, envelope, certificates

    async def _already_registered(self, organisation: str, request_id: str, digest: str) -> AuthorizationRow | None:
        """The authorization a retried call or a replayed (and checked) envelope of ``organisation`` registered
        before, if any; a ``request_id`` of ``organisation`` that registered another payload is refused."""
        async with self._db.sessions() as session:
            existing = await stored.by_request_id(session, organisation, request_id) if request_id else None
            if existing is None:
                return await stored.by_payload_digest(session, digest)
            forms = await stored.payload_digest_forms(session, digest)
        if existing.payload_sha256 not in forms:
            raise ServiceError(
                Reason.REQUEST_ID_REUSED,
                "request_id: was used for another authorization; a retry sends the same payload, a new one a new id",
                [FieldViolation("request_id", "was used for another authorization")],
            )
        return existing

    async def _checked(
        self, envelope: Envelope, certificates: Sequence[Envelope], at: dt.datetime
    ) -> CheckedAuthorization:
        """The envelope checked (its shape before the trust store is read, then its signatures and payload):
        BAD_SIGNATURE or BAD_AUTHORIZATION when it fails."""
        try:
            keyids = keyids_to_look_up(envelope, certificates)
            trust = await self._reader.trusted_keys(keyids)
            return check_authorization(envelope, certificates, trust, at, china_today(), declared=self._departments)
        except SignatureError as exc:
            raise ServiceError(
                Reason.BAD_SIGNATURE, f"{exc.field}: {exc.message}", [FieldViolation(exc.field, exc.message)]
            ) from None
        except AuthorizationError as exc:
            field_name = exc.field if exc.field.startswith("envelope") else f"envelope.payload.{exc.field}"
            raise ServiceError.invalid([FieldViolation(field_name, exc.message)], Reason.BAD_AUTHORIZATION) from None

    async def get(self, name: str, caller: Caller = NOBODY) -> RegisteredAuthorization:
        """One authorization by name, judged against the trust store as it is now (another organisation's, or
        one outside a supervisor's area, is NOT_FOUND: issue 13)."""
        authorization_id = id_from(name, "authorizations", "name")
        found = await self._reader.by_names([authorization_id])
        if not found or not caller.reads(found[0].payload.commissioned_by):
            raise refused_for_scope(ServiceError.not_found(name)) if found else ServiceError.not_found(name)
        return found[0]

    async def by_names(self, names: Sequence[str]) -> list[RegisteredAuthorization]:
        """Authorizations by name, in the order asked; unregistered ones are left out."""
        return await self._reader.by_names(names)

    async def stored_envelope(self, authorization_id: str) -> Envelope:
        """The envelope as it was registered."""
        return _stored_envelope(await self._row(authorization_id))

    async def stored_certificates(self, authorization_id: str) -> list[Envelope]:
        """The member-key certificates registered with the envelope."""
        return list(_stored_certificates(await self._row(authorization_id)))

    async def _row(self, authorization_id: str) -> AuthorizationRow:
        """The stored row, or NOT_FOUND."""
        async with self._db.sessions() as session:
            row = await stored.get(session, authorization_id)
        if row is None:
            raise ServiceError.not_found(f"authorizations/{authorization_id}")
        return row

    async def revoke(self, name: str, reason: str, caller: Caller = NOBODY) -> RegisteredAuthorization:
        """Revoke: queries not yet sent under it are not sent; pending answers stop being polled."""
        authorization_id = id_from(name, "authorizations", "name")
        try:
            reason = revocation_reason(reason)
        except RequestError as exc:
            raise ServiceError.invalid(exc.violations) from None
        async with self._db.write() as session:
            row = await stored.get(session, authorization_id, for_update=True)
            if row is None or not caller.acts_for(row.commissioned_by):  # issue 13: another's is not found
                raise refused_for_scope(ServiceError.not_found(name)) if row else ServiceError.not_found(name)
            if row.revoked_at is None:
                row.revoked_at = dt.datetime.now(dt.UTC)
                row.revoke_reason = reason
                members = await stored.member_ids(session, authorization_id)
                revoked = AuditEvent(
                    kind="AUTHORIZATION_REVOKED",
                    operator=caller.operator,
                    client=caller.client,
                    authorization=authorization_id,
                    details={"reason": reason},
                )
                await self._audit.append(session, revoked, id_numbers=members)
                await stored.bump_consent_epoch(session)
        self._withdraw(f"authorizations/{authorization_id}")
        return (await self._reader.registered([row]))[0]

    async def list(
        self, member_id_number: str, *, page_size: int = 0, page_token: str = "", caller: Caller = NOBODY
    ) -> tuple[list[RegisteredAuthorization], str]:
        """A member's authorizations, oldest first, a page at a time (AIP-158; the token is an offset)."""
        violations = []
        if page_size < 0:
            violations.append(FieldViolation("page_size", "must not be negative"))
        try:
            member = identity_filter(member_id_number, "member_id_number")
        except RequestError as exc:
            member, member_violations = "", exc.violations
        else:
            member_violations = []
        scope = f"authorizations\x00{member}"
        page_token = self.page_tokens.position(page_token, scope)
        if page_token and not COUNTER.fullmatch(page_token):
            violations.append(FieldViolation("page_token", "is not a token this service issued"))
        violations += member_violations
        if violations:
            raise ServiceError.invalid(violations)
        size, start = min(page_size or 20, MAX_PAGE_SIZE), int(page_token or 0)
        async with self._db.sessions() as session:
            ids = await stored.ids_naming(session, member)
        readable = [a for a in await self._reader.by_names(ids) if caller.reads(a.payload.commissioned_by)]  # issue 13
        found = sorted(readable, key=lambda a: (a.registered_at, a.authorization_id))
        page = found[start : start + size]
        return page, self.page_tokens.seal(str(start + size) if start + size < len(found) else "", scope)


def _stored_envelope(row: AuthorizationRow) -> Envelope:
    """The envelope a stored row holds, as it was registered."""
    return envelope_of(row.signatures_json, row.payload, row.payload_type)


def _stored_certificates(row: AuthorizationRow) -> tuple[Envelope, ...]:
    """The member-key certificates a stored row holds."""
    return tuple(envelope_from_json(c) for c in json.loads(row.certificates_json))


def _registered_event(authorization_id: str, checked: CheckedAuthorization, caller: Caller) -> AuditEvent:
    """The AUTHORIZATION_REGISTERED entry: what was consented to and who signed."""
    payload = checked.payload
    return AuditEvent(
        kind="AUTHORIZATION_REGISTERED",
        operator=caller.operator,
        client=caller.client,
        authorization=authorization_id,
        details={
            "commissioned_by": payload.commissioned_by,
            "purpose": payload.purpose,
            "departments": list(payload.departments),
            "valid_from": payload.valid_from.isoformat(),
            "valid_until": payload.valid_until.isoformat(),
            "signed_by": [s.keyid for s in checked.signers],
            "signer_kinds": [s.kind for s in checked.signers],
        },
    )
