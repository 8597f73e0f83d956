"""Every SQL statement about stored authorizations and the index of the members they name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from verifier.storage.models import AuthorizationMemberRow, AuthorizationRow, ConsentEpochRow

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
    """The authorization whose payload has this SHA-256 (an envelope is registered once)."""
    return await session.scalar(select(AuthorizationRow).where(AuthorizationRow.payload_sha256 == digest))


async def add(session: AsyncSession, row: AuthorizationRow, member_ids: Sequence[str]) -> None:
    """Store a new authorization and index the members it names, in the caller's transaction."""
    session.add(row)
    await session.flush()
    for id_number in member_ids:
        session.add(AuthorizationMemberRow(authorization_id=row.id, id_number=id_number))


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
    """The identity numbers an authorization names."""
    found = await session.scalars(
        select(AuthorizationMemberRow.id_number).where(AuthorizationMemberRow.authorization_id == authorization_id)
    )
    return list(found.all())


async def ids_naming(session: AsyncSession, id_number: str) -> list[str]:
    """The ids of every authorization that names ``id_number``."""
    found = await session.scalars(
        select(AuthorizationMemberRow.authorization_id).where(AuthorizationMemberRow.id_number == id_number)
    )
    return list(found.all())


async def count_signed_with_key_since(session: AsyncSession, keyid: str, since: dt.datetime) -> int:
    """How many authorizations registered from ``since`` on carry a signature or certificate of ``keyid``."""
    affected = await session.scalar(
        select(func.count())
        .select_from(AuthorizationRow)
        .where(
            AuthorizationRow.registered_at >= since,
            or_(
                AuthorizationRow.signatures_json.contains(f'"{keyid}"'),
                AuthorizationRow.certificates_json.contains(f'"{keyid}"'),
            ),
        )
    )
    return int(affected or 0)


_EPOCH = select(ConsentEpochRow.value).where(ConsentEpochRow.id == 1)
_EPOCH_SHARED = _EPOCH.with_for_update(read=True)


async def consent_epoch(session: AsyncSession, *, share_lock: bool = False) -> int:
    """How many consent changes (revocations) there have been; ``share_lock`` share-locks the counter
    (PostgreSQL), so a revocation cannot commit before the caller's transaction does."""
    return int(await session.scalar(_EPOCH_SHARED if share_lock else _EPOCH) or 0)


async def bump_consent_epoch(session: AsyncSession) -> None:
    """Count one consent change (an authorization or a key revoked), in the revoking transaction."""
    await session.execute(
        update(ConsentEpochRow).where(ConsentEpochRow.id == 1).values(value=ConsentEpochRow.value + 1)
    )
