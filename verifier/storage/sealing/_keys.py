"""The ``data_keys`` table: the keys loaded at start, made in advance, rotated and destroyed.

The service loads every key in one statement when it starts and makes this month's and next month's keys then and
daily (:func:`keep_keys`), so a verification seals and opens without a statement of its own. A cell naming a key this
process does not know (another replica made it, or ``hedui keys rotate-data-key`` did) costs one statement, once.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from consent.suite import CryptoSuite
from verifier.storage.models import DataKeyRow
from verifier.storage.sealing._sealer import DataKey, Purpose, Sealer, month_of

__all__ = [
    "Rotation",
    "destroy_key",
    "fetch_keys_sync",
    "keep_keys",
    "learn_unknown",
    "load_keys",
    "next_month",
    "ready",
    "rotate",
]


def _key_of(row: Any) -> DataKey:
    return DataKey(
        row.id,
        Purpose(row.purpose),
        row.period,
        row.generation,
        CryptoSuite(row.suite),
        row.kek_id,
        None if row.wrapped is None else bytes(row.wrapped),
    )


_COLUMNS = (
    DataKeyRow.id,
    DataKeyRow.purpose,
    DataKeyRow.period,
    DataKeyRow.generation,
    DataKeyRow.suite,
    DataKeyRow.kek_id,
    DataKeyRow.wrapped,
)


async def load_keys(session: AsyncSession, sealer: Sealer) -> None:
    """Every data key, in one statement."""
    sealer.learn(_key_of(r) for r in (await session.execute(select(*_COLUMNS))).all())


async def learn_unknown(session: AsyncSession, sealer: Sealer, key_ids: Iterable[str | None]) -> None:
    """The keys of ``key_ids`` this process does not know yet (none: no statement)."""
    unknown = sorted({k for k in key_ids if k is not None and not sealer.knows(k)})
    if unknown:
        query = select(*_COLUMNS).where(DataKeyRow.id.in_(unknown))
        sealer.learn(_key_of(r) for r in (await session.execute(query)).all())


def fetch_keys_sync(connection: Connection, sealer: Sealer, key_ids: Iterable[str]) -> None:
    """:func:`learn_unknown` for the ORM's loading hooks, which run synchronously."""
    unknown = sorted({k for k in key_ids if not sealer.knows(k)})
    if unknown:
        query = select(*_COLUMNS).where(DataKeyRow.id.in_(unknown))
        sealer.learn(_key_of(r) for r in connection.execute(query).all())


def next_month(period: str) -> str:
    """The period after ``period`` (``YYYY-MM``)."""
    year, month = (int(p) for p in period.split("-"))
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def _new_key(sealer: Sealer, purpose: Purpose, period: str, generation: int, at: dt.datetime) -> DataKeyRow:
    key = DataKey(secrets.token_hex(8), purpose, period, generation, sealer.suite, sealer.provider.current(), None)
    key.wrapped = sealer.provider.wrap(key.kek_id, os.urandom(sealer.suite.dek_bytes), key.wrap_aad())
    return DataKeyRow(
        id=key.id,
        purpose=str(purpose),
        period=period,
        generation=generation,
        suite=str(key.suite),
        kek_id=key.kek_id,
        wrapped=key.wrapped,
        created_at=at,
    )


def _own(sealer: Sealer, key: DataKey) -> bool:
    """Whether ``key`` serves ``sealer`` for writing: of its suite (after a switch of suite, the keys made before it
    are replaced for new writes), or the index key of any suite (never replaced: docs/sealing.md)."""
    return key.purpose is Purpose.INDEX or key.suite is sealer.suite


def _next_generation(sealer: Sealer, purpose: Purpose, period: str) -> int:
    """The generation a new key of ``purpose`` and ``period`` takes (one more than the newest known)."""
    return max((k.generation + 1 for k in sealer.keys if k.purpose is purpose and k.period == period), default=0)


def _missing(sealer: Sealer, at: dt.datetime) -> list[tuple[Purpose, str]]:
    """The keys the service needs and lacks: the index key, this month's and next month's rows and answers keys (of
    the sealer's suite)."""
    have = {(k.purpose, k.period) for k in sealer.keys if _own(sealer, k)}
    month = month_of(at)
    wanted = [(Purpose.INDEX, "")] + [
        (p, m) for p in (Purpose.ROWS, Purpose.ANSWERS) for m in (month, next_month(month))
    ]
    return [w for w in wanted if w not in have]


async def keep_keys(begin: Any, sealer: Sealer, at: dt.datetime) -> int:
    """Make the keys the service lacks (:func:`_missing`) in one transaction of ``begin`` (``Database.write``) and
    learn every key; how many were made. Another replica making the same keys first is no failure."""
    async with begin() as session:
        await load_keys(session, sealer)
    missing = _missing(sealer, at)
    if not missing:
        return 0
    try:
        async with begin() as session:
            session.add_all([_new_key(sealer, p, m, _next_generation(sealer, p, m), at) for p, m in missing])
    except IntegrityError:
        missing = []
    async with begin() as session:
        await load_keys(session, sealer)
    return len(missing)


async def ready(session: AsyncSession, sealer: Sealer, *, write: bool) -> bool:
    """Whether ``sealer`` can seal (``write``) or index now. A service's sealer was made ready at its start: then
    this is a check in memory. A service that was not started (tools, tests) loads the keys now, and for a write
    makes those it lacks in the caller's transaction (they commit, or vanish, with what they sealed)."""
    now = dt.datetime.now(dt.UTC)
    if not _missing_now(sealer, now):
        return True
    await load_keys(session, sealer)
    missing = _missing_now(sealer, now)
    if missing and write:
        session.add_all([_new_key(sealer, p, m, _next_generation(sealer, p, m), now) for p, m in missing])
        await session.flush()
        await load_keys(session, sealer)
        missing = _missing_now(sealer, now)
    return not missing


def _missing_now(sealer: Sealer, at: dt.datetime) -> list[tuple[Purpose, str]]:
    """The keys needed right now that ``sealer`` cannot use: the index key, this month's rows and answers keys."""
    month = month_of(at)
    usable = {(k.purpose, k.period) for k in sealer.keys if sealer.usable(k.id) and _own(sealer, k)}
    wanted = [(Purpose.INDEX, ""), (Purpose.ROWS, month), (Purpose.ANSWERS, month)]
    return [w for w in wanted if w not in usable]


@dataclass(frozen=True, slots=True)
class Rotation:
    """What ``hedui keys rotate-data-key`` did: the new keys' ids, the keys re-wrapped, the master key now wrapping."""

    new_keys: tuple[str, ...]
    rewrapped: tuple[str, ...]
    kek_id: str


async def rotate(session: AsyncSession, sealer: Sealer, at: dt.datetime) -> Rotation:
    """A new generation of this month's rows and answers keys (new writes use it), and every live key re-wrapped
    under the provider's current master key, in the caller's transaction. Cells are not touched: old keys still open
    them, so a running service reads on (it learns the new keys when it meets them, or at its daily upkeep)."""
    await load_keys(session, sealer)
    if session.get_bind().dialect.name == "sqlite":  # the old wrappings zeroed in the pages (docs/sealing.md)
        await session.execute(text("PRAGMA secure_delete = ON"))
    month = month_of(at)
    added: list[DataKeyRow] = []
    for purpose in (Purpose.ROWS, Purpose.ANSWERS):
        generations = [k.generation for k in sealer.keys if k.purpose is purpose and k.period == month]
        added.append(_new_key(sealer, purpose, month, max(generations, default=-1) + 1, at))
    target = sealer.provider.current()
    rewrapped: list[str] = []
    for key in sealer.keys:
        if key.wrapped is None or key.kek_id == target:
            continue
        dek = sealer.provider.unwrap(key.kek_id, key.wrapped, key.wrap_aad())
        wrapped = sealer.provider.wrap(target, dek, key.wrap_aad())
        await session.execute(update(DataKeyRow).where(DataKeyRow.id == key.id).values(kek_id=target, wrapped=wrapped))
        rewrapped.append(key.id)
    session.add_all(added)
    await session.flush()
    await load_keys(session, sealer)
    return Rotation(tuple(k.id for k in added), tuple(rewrapped), target)


async def destroy_key(session: AsyncSession, key_id: str, at: dt.datetime) -> None:
    """Destroy a data key (crypto-shredding its cells): its wrapped key is gone, its row says when."""
    await session.execute(update(DataKeyRow).where(DataKeyRow.id == key_id).values(wrapped=None, destroyed_at=at))
