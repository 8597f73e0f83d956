"""The trust store's lifecycle: list, rotate and revoke organisations' keys (``hedui keys ...``).

Adding a key is :meth:`verifier.service.HeduiService.add_trusted_key`. Every change commits with its
audit event. What the times mean (see consent.check): a signature is judged at the time hedui received
it, so a rotated-out key keeps the authorizations registered before its end, and a revocation — which
may take effect from an earlier moment, when the key is believed to have been stolen — takes the
signatures registered from then on with it, including authorizations already stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from audit import AuditEvent
from consent import TrustedKey
from consent.envelope import key_id_for, load_public_key
from verifier.errors import ServiceError
from verifier.request import FieldViolation, RequestError, revocation_reason
from verifier.service import Caller, HeduiService
from verifier.storage.models import AuthorizationRow, TrustedKeyRow

__all__ = [
    "CLOCK_SKEW",
    "KeyEntry",
    "check_organisation",
    "list_trusted_keys",
    "revoke_trusted_key",
    "rotate_trusted_key",
]

CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_ORGANISATION = 200
_NOBODY = Caller()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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

    def state(self, at: dt.datetime) -> str:
        if self.revoked_at is not None and at >= self.revoked_at:
            return "revoked"
        if at < self.not_before:
            return "not yet valid"
        if self.not_after is not None and at >= self.not_after:
            return "expired"
        return "valid"


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
    value = organisation.strip()
    if not value or len(value) > MAX_ORGANISATION or any(ord(c) < 32 for c in value):
        raise ServiceError.invalid([FieldViolation("organisation", f"1 to {MAX_ORGANISATION} printable characters")])
    return value


def _check_reason(reason: str) -> str:
    try:
        return revocation_reason(reason)
    except RequestError as exc:
        raise ServiceError.invalid(exc.violations) from None


async def list_trusted_keys(service: HeduiService, organisation: str = "") -> list[KeyEntry]:
    """Every key, oldest first (also revoked and expired ones: they still judge older signatures)."""
    query = select(TrustedKeyRow).order_by(TrustedKeyRow.organisation, TrustedKeyRow.not_before, TrustedKeyRow.keyid)
    if organisation:
        query = query.where(TrustedKeyRow.organisation == organisation)
    async with service.db.sessions() as session:
        return [_entry(row) for row in await session.scalars(query)]


async def rotate_trusted_key(
    service: HeduiService,
    organisation: str,
    public_key_pem: bytes,
    *,
    old_valid_until: dt.datetime,
    old_keyid: str = "",
    note: str = "",
    caller: Caller = _NOBODY,
) -> tuple[TrustedKey, KeyEntry]:
    """Trust a new key of ``organisation`` from now and end its current key at ``old_valid_until``.

    One transaction: the new key, the old key's end, and their audit events. Without ``old_keyid`` the
    organisation must have exactly one valid key.
    """
    organisation = check_organisation(organisation)
    now = _now()
    if old_valid_until.tzinfo is None:
        raise ServiceError.invalid([FieldViolation("old_valid_until", "must name its time zone offset")])
    if old_valid_until < now - CLOCK_SKEW:
        raise ServiceError.invalid(
            [FieldViolation("old_valid_until", "is in the past; to stop trusting a key from then, revoke it")]
        )
    try:
        keyid = key_id_for(load_public_key(public_key_pem))
    except ValueError as exc:
        raise ServiceError.invalid([FieldViolation("public_key", str(exc))]) from None
    async with service.db.write() as session:
        if await session.get(TrustedKeyRow, keyid) is not None:
            raise ServiceError("ALREADY_EXISTS", "KEY_EXISTS", f"key {keyid} is already in the trust store")
        rows = list(
            await session.scalars(
                select(TrustedKeyRow).where(TrustedKeyRow.organisation == organisation).with_for_update()
            )
        )
        current = [r for r in rows if _entry(r).state(now) == "valid" and (not old_keyid or r.keyid == old_keyid)]
        if not current:
            which = f"key {old_keyid}" if old_keyid else "valid key"
            raise ServiceError.precondition("old_keyid", f"{organisation} has no {which} to rotate", "KEY_NOT_VALID")
        if len(current) > 1:
            raise ServiceError.precondition(
                "old_keyid",
                f"{organisation} has {len(current)} valid keys ({', '.join(r.keyid for r in current)}): name one",
                "KEY_AMBIGUOUS",
            )
        old = current[0]
        old.not_after = min(old_valid_until, old.not_after) if old.not_after else old_valid_until
        session.add(
            TrustedKeyRow(
                keyid=keyid,
                organisation=organisation,
                public_key_pem=public_key_pem,
                not_before=now,
                not_after=None,
                note=note,
                replaces=old.keyid,
            )
        )
        for event in (
            AuditEvent(
                kind="TRUSTED_KEY_ADDED",
                operator=caller.operator,
                client=caller.client,
                details={"keyid": keyid, "organisation": organisation},
            ),
            AuditEvent(
                kind="TRUSTED_KEY_ROTATED",
                operator=caller.operator,
                client=caller.client,
                details={
                    "organisation": organisation,
                    "old_keyid": old.keyid,
                    "new_keyid": keyid,
                    "old_valid_until": old.not_after.isoformat(),
                },
            ),
        ):
            await service.audit.append(session, event)
        entry = _entry(old)
    return TrustedKey(keyid, organisation, public_key_pem, now), entry


async def revoke_trusted_key(
    service: HeduiService,
    keyid: str,
    *,
    reason: str,
    at: dt.datetime | None = None,
    caller: Caller = _NOBODY,
) -> tuple[KeyEntry, int]:
    """Stop trusting ``keyid`` from ``at`` (default now; may be earlier, never later than now).

    Returns the key and how many stored authorizations were registered with a signature or
    certificate of it from ``at`` on (their signatures by this key no longer count).
    """
    reason = _check_reason(reason)
    now = _now()
    at = at or now
    if at.tzinfo is None:
        raise ServiceError.invalid([FieldViolation("at", "must name its time zone offset")])
    if at > now + CLOCK_SKEW:
        raise ServiceError.invalid(
            [FieldViolation("at", "a revocation cannot take effect in the future; rotate the key instead")]
        )
    async with service.db.write() as session:
        row = await session.get(TrustedKeyRow, keyid, with_for_update=True)
        if row is None:
            raise ServiceError.not_found(f"key {keyid}")
        if row.revoked_at is not None:
            raise ServiceError(
                "FAILED_PRECONDITION",
                "KEY_REVOKED",
                f"key {keyid} was already revoked at {row.revoked_at.isoformat()} ({row.revoke_reason or 'no reason'})",
            )
        row.revoked_at = at
        row.revoke_reason = reason
        affected = await session.scalar(
            select(func.count())
            .select_from(AuthorizationRow)
            .where(
                AuthorizationRow.registered_at >= at,
                or_(
                    AuthorizationRow.signatures_json.contains(f'"{keyid}"'),
                    AuthorizationRow.certificates_json.contains(f'"{keyid}"'),
                ),
            )
        )
        await service.audit.append(
            session,
            AuditEvent(
                kind="TRUSTED_KEY_REVOKED",
                operator=caller.operator,
                client=caller.client,
                details={
                    "keyid": keyid,
                    "organisation": row.organisation,
                    "reason": reason,
                    "revoked_at": at.isoformat(),
                    "authorizations_affected": int(affected or 0),
                },
            ),
        )
        entry = _entry(row)
    return entry, int(affected or 0)
