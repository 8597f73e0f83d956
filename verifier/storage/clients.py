"""Every SQL statement about the API's clients (issue 13): add, find by key or name, list."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from verifier.storage.models import ClientRow

__all__ = ["add", "by_key", "find", "listing"]


def add(session: AsyncSession, row: ClientRow) -> None:
    """Store a new client in the caller's transaction."""
    session.add(row)


async def by_key(session: AsyncSession, key_sha256: str) -> ClientRow | None:
    """The client whose certificate key hashes to ``key_sha256``."""
    return await session.get(ClientRow, key_sha256)


async def find(session: AsyncSession, key_or_name: str, *, for_update: bool = False) -> ClientRow | None:
    """A client by its key hash or its name; ``for_update`` locks its row until the transaction ends."""
    query = select(ClientRow).where(or_(ClientRow.key_sha256 == key_or_name, ClientRow.name == key_or_name))
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def listing(session: AsyncSession, organisation: str = "") -> list[ClientRow]:
    """Every client (or one organisation's), by organisation, then name."""
    query = select(ClientRow).order_by(ClientRow.organisation, ClientRow.name)
    if organisation:
        query = query.where(ClientRow.organisation == organisation)
    return list(await session.scalars(query))
