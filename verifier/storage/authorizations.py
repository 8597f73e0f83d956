"""Every SQL statement about stored authorizations and the index of the members they name."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import func, or_, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from verifier.storage import core
from verifier.storage.models import (
    AuthorizationMemberRow,
    AuthorizationRow,
    AuthorizationSubjectRow,
    ConsentEpochRow,
)
from verifier.storage.sealing import ready, sealer_of  # issue 17: the blind index, keyed digests, sealed payloads

__all__ = [
    "add",
    "bump_consent_epoch",
    "by_ids",
    "by_payload_digest",
    "by_request_id",
    "consent_epoch",
    "count_signed_with_key_since",
    "get",
    "ids_naming",
    "member_ids",
    "payload_digest_forms",
]


async def by_request_id(session: AsyncSession, commissioned_by: str, request_id: str) -> AuthorizationRow | None:
    """The authorization ``commissioned_by`` registered under ``request_id`` (a retried call), if any: a key is
    its organisation's (issue 13)."""
    return await session.scalar(
        select(AuthorizationRow).where(
            AuthorizationRow.commissioned_by == commissioned_by, AuthorizationRow.request_id == request_id
        )
    )


async def by_payload_digest(session: AsyncSession, digest: str) -> AuthorizationRow | None:
    """The authorization whose payload has this SHA-256 (an envelope is registered once; issue 17: stored as a
    keyed hash of it where the database is sealed, which is no confirmation oracle)."""
    stored = await payload_digest_forms(session, digest)
    return await session.scalar(select(AuthorizationRow).where(AuthorizationRow.payload_sha256.in_(stored)))


async def payload_digest_forms(session: AsyncSession, digest: str) -> list[str]:
    """What ``payload_sha256`` holds for a payload of SHA-256 ``digest``: the keyed hash where the database is
    sealed (issue 17), and the plain digest of a row stored before revision 0012 (or unsealed)."""
    sealer = sealer_of(session)
    stored = [digest]
    if sealer is not None and await ready(session, sealer, write=False):
        stored.append(sealer.index("payload sha256:" + digest))
    return stored


async def add(session: AsyncSession, row: AuthorizationRow, member_ids: Sequence[str]) -> None:
    """Store a new authorization and index the members it names, in the caller's transaction (issue 17: by the
    blind index, the payload and certificates sealed, where the database is sealed)."""
    row.certificate_keyids = _certificate_keyids(row.certificates_json or "[]")
    sealer = sealer_of(session)
    if sealer is not None:
        await ready(session, sealer, write=True)
    session.add(row)
    await session.flush()
    for id_number in member_ids:
        if sealer is None:
            session.add(AuthorizationMemberRow(authorization_id=row.id, id_number=id_number))
        else:
            session.add(AuthorizationSubjectRow(authorization_id=row.id, id_index=sealer.index(id_number)))


def _certificate_keyids(certificates_json: str) -> str:
    """The key ids that signed the member-key certificates (DSSE JSON envelopes), as a JSON list."""
    found: list[str] = []
    for envelope in json.loads(certificates_json):
        for signature in envelope.get("signatures", []):
            if signature.get("keyid") not in found:
                found.append(signature.get("keyid"))
    return json.dumps(found)


async def get(session: AsyncSession, authorization_id: str, *, for_update: bool = False) -> AuthorizationRow | None:
    """One authorization by id; ``for_update`` locks its row until the transaction ends."""
    return await session.get(AuthorizationRow, authorization_id, with_for_update=for_update or None)


async def by_ids(session: AsyncSession, ids: Sequence[str], *, share_lock: bool = False) -> dict[str, AuthorizationRow]:
    """Authorizations by id (missing ones are left out); ``share_lock`` share-locks them (PostgreSQL),
    so a revocation cannot commit before the caller's transaction does."""
    query = select(AuthorizationRow).where(AuthorizationRow.id.in_(list(ids)))
    if share_lock:
        query = query.with_for_update(read=True)
    return {row.id: row for row in await session.scalars(query)}


async def member_ids(session: AsyncSession, authorization_id: str) -> list[str]:
    """The identity numbers an authorization names (issue 17: read from its signed payload, opened; the index
    holds keyed hashes only)."""
    found = await session.scalars(
        select(AuthorizationMemberRow.id_number).where(AuthorizationMemberRow.authorization_id == authorization_id)
    )
    legacy = list(found.all())
    row = await session.get(AuthorizationRow, authorization_id) if sealer_of(session) is not None else None
    if legacy or row is None:
        return legacy
    members = json.loads(bytes(row.payload)).get("members", [])
    return [str(m["id_number"]) for m in members if isinstance(m, dict) and "id_number" in m]


async def ids_naming(session: AsyncSession, id_number: str) -> list[str]:
    """The ids of every authorization that names ``id_number``: by its blind index (issue 17), and in the legacy
    index of plain numbers (rows from before revision 0012 that ``hedui db seal`` has not moved yet)."""
    sealer = sealer_of(session)
    legacy = select(AuthorizationMemberRow.authorization_id).where(AuthorizationMemberRow.id_number == id_number)
    if sealer is None or not await ready(session, sealer, write=False):
        return list((await session.scalars(legacy)).all())
    blind = select(AuthorizationSubjectRow.authorization_id).where(
        AuthorizationSubjectRow.id_index == sealer.index(id_number)
    )
    return sorted(set((await session.scalars(union(blind, legacy))).all()))


async def count_signed_with_key_since(session: AsyncSession, keyid: str, since: dt.datetime) -> int:
    """How many authorizations registered from ``since`` on carry a signature or certificate of ``keyid``."""
    affected = await session.scalar(
        select(func.count())
        .select_from(AuthorizationRow)
        .where(
            AuthorizationRow.registered_at >= since,
            or_(
                AuthorizationRow.signatures_json.contains(f'"{keyid}"'),
                AuthorizationRow.certificate_keyids.contains(f'"{keyid}"'),  # issue 17: certificates are sealed
            ),
        )
    )
    return int(affected or 0)


_EPOCH = select(ConsentEpochRow.value).where(ConsentEpochRow.id == 1)
_EPOCH_SHARED = _EPOCH.with_for_update(read=True)


async def consent_epoch(session: AsyncSession, *, share_lock: bool = False) -> int:
    """How many consent changes (revocations) there have been; ``share_lock`` share-locks the counter
    (PostgreSQL), so a revocation cannot commit before the caller's transaction does."""
    return int(await core.scalar(session, _EPOCH_SHARED if share_lock else _EPOCH) or 0)


async def bump_consent_epoch(session: AsyncSession) -> None:
    """Count one consent change (an authorization or a key revoked), in the revoking transaction."""
    await session.execute(
        update(ConsentEpochRow).where(ConsentEpochRow.id == 1).values(value=ConsentEpochRow.value + 1)
    )
