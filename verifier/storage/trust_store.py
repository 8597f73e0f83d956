"""Every SQL statement about the trust store: organisations' public keys and their lifecycle."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from verifier.storage.models import TrustedKeyRow

__all__ = ["add", "by_ids", "get", "listing", "of_organisation_locked"]


async def get(session: AsyncSession, keyid: str, *, for_update: bool = False) -> TrustedKeyRow | None:
    """One key by id; ``for_update`` locks its row until the transaction ends."""
    return await session.get(TrustedKeyRow, keyid, with_for_update=for_update or None)


def add(session: AsyncSession, row: TrustedKeyRow) -> None:
    """Store a new key in the caller's transaction."""
    session.add(row)


async def by_ids(session: AsyncSession, keyids: Sequence[str]) -> list[TrustedKeyRow]:
    """The keys with these ids that are in the store (whatever their state)."""
    return list(await session.scalars(select(TrustedKeyRow).where(TrustedKeyRow.keyid.in_(list(keyids)))))


async def listing(session: AsyncSession, organisation: str = "") -> list[TrustedKeyRow]:
    """Every key (or one organisation's), by organisation, then oldest first."""
    query = select(TrustedKeyRow).order_by(TrustedKeyRow.organisation, TrustedKeyRow.not_before, TrustedKeyRow.keyid)
    if organisation:
        query = query.where(TrustedKeyRow.organisation == organisation)
    return list(await session.scalars(query))


async def of_organisation_locked(session: AsyncSession, organisation: str) -> list[TrustedKeyRow]:
    """An organisation's keys, locked until the transaction ends (a rotation picks one of them)."""
    query = select(TrustedKeyRow).where(TrustedKeyRow.organisation == organisation).with_for_update()
    return list(await session.scalars(query))
