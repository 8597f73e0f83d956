"""Retention: department answers crypto-shredded by destroying their month's data key.

An ``answers`` key of the month M seals the answers stored in M (China time); it is destroyed once the end of M plus
``department_answers_months`` months has passed. The cells stay as they are (no bound row is rewritten): they no
longer open, and a read says so (``ANSWER_EXPIRED``). Reports are sealed under ``rows`` keys, which are never
destroyed, so they stay readable; the audit log holds digests only and stays verifiable.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from verifier.storage.sealing._keys import destroy_key, load_keys, next_month
from verifier.storage.sealing._sealer import DataKey, Purpose, Sealer, month_of

__all__ = ["expired_keys", "shred_expired"]


def _months_after(period: str, months: int) -> str:
    for _ in range(months):
        period = next_month(period)
    return period


def expired_keys(sealer: Sealer, months: int, at: dt.datetime) -> list[DataKey]:
    """The live answers keys whose period ended ``months`` months or more before ``at``'s month began: a key of
    M is kept through M + ``months`` and destroyed from the month after (M = 2026-01, 12 months: from 2027-02)."""
    now = month_of(at)
    return sorted(
        (
            k
            for k in sealer.keys
            if k.purpose is Purpose.ANSWERS and k.wrapped is not None and _months_after(k.period, months) < now
        ),
        key=lambda k: (k.period, k.generation),
    )


async def shred_expired(session: AsyncSession, sealer: Sealer, months: int, at: dt.datetime) -> list[DataKey]:
    """Destroy every expired answers key in the caller's transaction (on SQLite with ``secure_delete``, so the old
    page is overwritten); the keys destroyed. The caller records a ``DATA_KEY_DESTROYED`` entry for each."""
    await load_keys(session, sealer)
    doomed = expired_keys(sealer, months, at)
    if doomed and session.get_bind().dialect.name == "sqlite":
        await session.execute(text("PRAGMA secure_delete = ON"))
    for key in doomed:
        await destroy_key(session, key.id, at)
    await load_keys(session, sealer)
    return doomed
