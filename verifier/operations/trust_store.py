"""The trust store resource: organisations' public keys — add, list, rotate, revoke.

Every change commits with its audit event. What the times mean (see consent.check): a signature is
judged at the time hedui received it, so a rotated-out key keeps the authorizations registered before
its end, and a revocation — which may take effect from an earlier moment, when the key is believed to
have been stolen — takes the signatures registered from then on with it, including authorizations
already stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent, AuditLog
from audit.events import JsonValue
from consent import TrustedKey
from consent.envelope import key_id_for, load_public_key
from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.operations._names import NOBODY, Caller
from verifier.request import RequestError, revocation_reason
from verifier.storage import authorizations as stored_authorizations
from verifier.storage import trust_store as stored
from verifier.storage.db import Database
from verifier.storage.models import TrustedKeyRow

__all__ = ["CLOCK_SKEW", "KeyEntry", "KeyState", "TrustStore", "check_organisation", "trusted_keys"]

CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_ORGANISATION = 200


class KeyState(StrEnum):
    """A trusted key's state at a moment (as ``hedui keys list`` prints it)."""

    VALID = "valid"
    NOT_YET_VALID = "not yet valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A key in the trust store with its whole lifecycle."""

    keyid: str
    organisation: str
    not_before: dt.datetime
    not_after: dt.datetime | None
    revoked_at: dt.datetime | None
    revoke_reason: str | None
    replaces: str | None
    note: str

    def state(self, at: dt.datetime) -> KeyState:
        """Revoked from its revocation on, else not yet valid, expired, or valid at ``at``."""
        if self.revoked_at is not None and at >= self.revoked_at:
            return KeyState.REVOKED
        if at < self.not_before:
            return KeyState.NOT_YET_VALID
        if self.not_after is not None and at >= self.not_after:
            return KeyState.EXPIRED
        return KeyState.VALID


def _entry(row: TrustedKeyRow) -> KeyEntry:
    return KeyEntry(
        row.keyid,
        row.organisation,
        row.not_before,
        row.not_after,
        row.revoked_at,
        row.revoke_reason,
        row.replaces,
        row.note,
    )


def check_organisation(organisation: str) -> str:
    """An organisation's name as stored: trimmed, 1 to 200 printable characters."""
    value = organisation.strip()
    if not value or len(value) > MAX_ORGANISATION or any(ord(c) < 32 for c in value):
        raise ServiceError.invalid([FieldViolation("organisation", f"1 to {MAX_ORGANISATION} printable characters")])
    return value


def _keyid_of(public_key_pem: bytes) -> str:
    """The key id of a PEM public key (Ed25519 or ECDSA P-256), or INVALID_REQUEST naming ``public_key``."""
    try:
        return key_id_for(load_public_key(public_key_pem))
    except ValueError as exc:
        raise ServiceError.invalid([FieldViolation("public_key", str(exc))]) from None


async def trusted_keys(db: Database, keyids: Sequence[str]) -> dict[str, TrustedKey]:
    """The trust store's keys of these ids, whatever their state, read without a service (``consent verify --db``)."""
    async with db.sessions() as session:
        rows = await stored.by_ids(session, keyids)
    return {
        r.keyid: TrustedKey(r.keyid, r.organisation, r.public_key_pem, r.not_before, r.not_after, r.revoked_at)
        for r in rows
    }


def _key_row(
    keyid: str,
    organisation: str,
    public_key_pem: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime | None,
    note: str,
    *,
    replaces: str | None = None,
) -> TrustedKeyRow:
    """The stored row of a key trusted from ``not_before`` (``replaces``: the key a rotation ends)."""
    return TrustedKeyRow(
        keyid=keyid,
        organisation=organisation,
        public_key_pem=public_key_pem,
        not_before=not_before,
        not_after=not_after,
        note=note,
        replaces=replaces,
    )


def _key_added(caller: Caller, keyid: str, organisation: str) -> AuditEvent:
    """The TRUSTED_KEY_ADDED entry."""
    return AuditEvent(
        kind="TRUSTED_KEY_ADDED",
        operator=caller.operator,
        client=caller.client,
        details={"keyid": keyid, "organisation": organisation},
    )


class TrustStore:
    """Organisations' keys that authorizations must be signed with."""

    def __init__(self, db: Database, audit: AuditLog) -> None:
        """Store keys in ``db``; each change is an ``audit`` entry."""
        self._db = db
        self._audit = audit

    async def _refuse_existing(self, session: AsyncSession, keyid: str) -> None:
        """KEY_EXISTS when the key is in the store already."""
        if await stored.get(session, keyid) is not None:
            raise ServiceError(Reason.KEY_EXISTS, f"key {keyid} is already in the trust store")

    async def add(
        self,
        organisation: str,
        public_key_pem: bytes,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        note: str = "",
        caller: Caller = NOBODY,
    ) -> TrustedKey:
        """Trust an organisation's public key (Ed25519 or ECDSA P-256) from ``not_before``."""
        keyid = _keyid_of(public_key_pem)
        since = not_before or dt.datetime.now(dt.UTC)
        async with self._db.write() as session:
            await self._refuse_existing(session, keyid)
            stored.add(session, _key_row(keyid, organisation, public_key_pem, since, not_after, note))
            await self._audit.append(session, _key_added(caller, keyid, organisation))
            await stored_authorizations.bump_consent_epoch(session)
        return TrustedKey(keyid, organisation, public_key_pem, since, not_after)

    async def list(self, organisation: str = "") -> list[KeyEntry]:
        """Every key, oldest first (also revoked and expired ones: they still judge older signatures)."""
        async with self._db.sessions() as session:
            return [_entry(row) for row in await stored.listing(session, organisation)]

    async def rotate(
        self,
        organisation: str,
        public_key_pem: bytes,
        *,
        old_valid_until: dt.datetime,
        old_keyid: str = "",
        note: str = "",
        caller: Caller = NOBODY,
    ) -> tuple[TrustedKey, KeyEntry]:
        """Trust a new key of ``organisation`` from now and end its current key at ``old_valid_until``.

        One transaction: the new key, the old key's end, and their audit events. Without ``old_keyid`` the
        organisation must have exactly one valid key.
        """
        organisation = check_organisation(organisation)
        now = dt.datetime.now(dt.UTC)
        if old_valid_until.tzinfo is None:
            raise ServiceError.invalid([FieldViolation("old_valid_until", "must name its time zone offset")])
        if old_valid_until < now - CLOCK_SKEW:
            raise ServiceError.invalid(
                [FieldViolation("old_valid_until", "is in the past; to stop trusting a key from then, revoke it")]
            )
        keyid = _keyid_of(public_key_pem)
        async with self._db.write() as session:
            await self._refuse_existing(session, keyid)
            old = await self._one_valid_key(session, organisation, old_keyid, now)
            old.not_after = min(old_valid_until, old.not_after) if old.not_after else old_valid_until
            stored.add(session, _key_row(keyid, organisation, public_key_pem, now, None, note, replaces=old.keyid))
            rotated = AuditEvent(
                kind="TRUSTED_KEY_ROTATED",
                operator=caller.operator,
                client=caller.client,
                details={
                    "organisation": organisation,
                    "old_keyid": old.keyid,
                    "new_keyid": keyid,
                    "old_valid_until": old.not_after.isoformat(),
                },
            )
            for event in (_key_added(caller, keyid, organisation), rotated):
                await self._audit.append(session, event)
            await stored_authorizations.bump_consent_epoch(session)
            entry = _entry(old)
        return TrustedKey(keyid, organisation, public_key_pem, now), entry

    @staticmethod
    async def _one_valid_key(
        session: AsyncSession, organisation: str, old_keyid: str, now: dt.datetime
    ) -> TrustedKeyRow:
        """The key a rotation ends (locked): the one valid key, or the valid one named; KEY_NOT_VALID or
        KEY_AMBIGUOUS otherwise."""
        rows = await stored.of_organisation_locked(session, organisation)
        current = [
            r for r in rows if _entry(r).state(now) == KeyState.VALID and (not old_keyid or r.keyid == old_keyid)
        ]
        if not current:
            which = f"key {old_keyid}" if old_keyid else "valid key"
            raise ServiceError.precondition(
                "old_keyid", f"{organisation} has no {which} to rotate", Reason.KEY_NOT_VALID
            )
        if len(current) > 1:
            raise ServiceError.precondition(
                "old_keyid",
                f"{organisation} has {len(current)} valid keys ({', '.join(r.keyid for r in current)}): name one",
                Reason.KEY_AMBIGUOUS,
            )
        return current[0]

    async def revoke(
        self, keyid: str, *, reason: str, at: dt.datetime | None = None, caller: Caller = NOBODY
    ) -> tuple[KeyEntry, int]:
        """Stop trusting ``keyid`` from ``at`` (default now; may be earlier, never later than now).

        Returns the key and how many stored authorizations were registered with a signature or
        certificate of it from ``at`` on (their signatures by this key no longer count).
        """
        try:
            reason = revocation_reason(reason)
        except RequestError as exc:
            raise ServiceError.invalid(exc.violations) from None
        now = dt.datetime.now(dt.UTC)
        at = at or now
        if at.tzinfo is None:
            raise ServiceError.invalid([FieldViolation("at", "must name its time zone offset")])
        if at > now + CLOCK_SKEW:
            raise ServiceError.invalid(
                [FieldViolation("at", "a revocation cannot take effect in the future; rotate the key instead")]
            )
        async with self._db.write() as session:
            row = await stored.get(session, keyid, for_update=True)
            if row is None:
                raise ServiceError.not_found(f"key {keyid}")
            if row.revoked_at is not None:
                raise ServiceError(
                    Reason.KEY_REVOKED,
                    f"key {keyid} was already revoked at {row.revoked_at.isoformat()} "
                    f"({row.revoke_reason or 'no reason'})",
                )
            row.revoked_at = at
            row.revoke_reason = reason
            affected = await stored_authorizations.count_signed_with_key_since(session, keyid, at)
            details: dict[str, JsonValue] = {
                "keyid": keyid,
                "organisation": row.organisation,
                "reason": reason,
                "revoked_at": at.isoformat(),
                "authorizations_affected": affected,
            }
            revoked = AuditEvent(
                kind="TRUSTED_KEY_REVOKED", operator=caller.operator, client=caller.client, details=details
            )
            await self._audit.append(session, revoked)
            await stored_authorizations.bump_consent_epoch(session)
            entry = _entry(row)
        return entry, affected
