"""Retention: department answers crypto-shredded by destroying their month's data key.

An ``answers`` key of the month M seals the answers stored in M (China time); it is destroyed once the end of M plus
``department_answers_months`` months has passed. The cells stay as they are (no bound row is rewritten): they no
longer open, and a read says so (``ANSWER_EXPIRED``). Reports are sealed under ``rows`` keys, which are never
destroyed, so they stay readable; the audit log holds digests only and stays verifiable.

After a destruction :func:`scrub` removes the old copy of the wrapped key from the database's files: SQLite's WAL
checkpointed and truncated (the page itself was rewritten with ``secure_delete``), PostgreSQL's ``data_keys``
rewritten by ``VACUUM FULL`` (its dead tuple holds the wrapped key until then). docs/sealing.md says what remains.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from verifier.storage.sealing._keys import destroy_key, load_keys, next_month
from verifier.storage.sealing._sealer import DataKey, Purpose, Sealer, month_of

__all__ = ["expired_keys", "scrub", "shred_expired"]

log = logging.getLogger("hedui.sealing")

# How long VACUUM FULL may wait for its lock on data_keys (a transaction holding it: the next run scrubs).
_LOCK_TIMEOUT = "5s"
# VACUUM FULL keeps a dead row version that a transaction older than its deletion may still see: the scrub first
# waits (at most this long) for the sessions it can see to have no snapshot from before it began.
_OLD_SNAPSHOT_WAIT_SECONDS = 10.0
_OLDER_SNAPSHOTS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_xmin IS NOT NULL "
    "AND age(backend_xmin) >= age(CAST(CAST(CAST(:horizon AS bigint) % 4294967296 AS text) AS xid))"
)


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


async def scrub(engine: AsyncEngine) -> str:
    """After destroying keys: the old row versions holding their wrapped bytes removed from the database's files, as
    far as this connection may; one line saying what was done (and, when not, why and what to run)."""
    if engine.dialect.name == "sqlite":
        return await _scrub_sqlite(engine)
    if engine.dialect.name == "postgresql":
        return await _scrub_postgresql(engine)
    return f"{engine.dialect.name}: old row versions not scrubbed (unsupported database)"  # pragma: no cover


async def _scrub_sqlite(engine: AsyncEngine) -> str:
    """The WAL checkpointed into the file and truncated to nothing: its frames held the page with the wrapped key."""
    async with engine.connect() as connection:
        busy, frames, copied = (await connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))).one()
    if busy:
        log.warning(
            "retention: the SQLite WAL was not truncated (%s of %s frames copied; a reader was busy)", copied, frames
        )
        return "SQLite WAL not truncated (a reader held it): run `PRAGMA wal_checkpoint(TRUNCATE)` when idle"
    return "SQLite WAL checkpointed and truncated"


async def _scrub_postgresql(engine: AsyncEngine) -> str:
    """``VACUUM FULL data_keys`` outside a transaction, waiting at most :data:`_LOCK_TIMEOUT` for its lock; only the
    table's owner (or a superuser) may: the service's own role is told so."""
    owner = text(
        "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass('data_keys')"
    )
    autocommit: Any = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as connection:
        if not (await connection.execute(owner)).scalar():
            log.warning("retention: VACUUM FULL data_keys needs the table's owner; run it as the owner")
            return "PostgreSQL: not the owner of data_keys: run `VACUUM FULL data_keys` as its owner"
        older = await _wait_for_older_snapshots(connection)
        try:
            await connection.exec_driver_sql(f"SET lock_timeout = '{_LOCK_TIMEOUT}'")
            await connection.exec_driver_sql("VACUUM FULL data_keys")
        except DBAPIError as exc:
            log.warning("retention: VACUUM FULL data_keys failed: %s", type(exc.orig).__name__)
            return "PostgreSQL: VACUUM FULL data_keys did not run (its lock was busy): run it again"
        finally:
            await connection.exec_driver_sql("RESET lock_timeout")
    if older:
        log.warning("retention: %d sessions kept snapshots older than the destruction through VACUUM FULL", older)
        return (
            "PostgreSQL: data_keys rewritten (VACUUM FULL), but a transaction older than the destruction was still "
            "open: run `VACUUM FULL data_keys` again when it has ended"
        )
    return "PostgreSQL: data_keys rewritten (VACUUM FULL): no dead row version holds a destroyed key"


async def _wait_for_older_snapshots(connection: Any) -> int:
    """Wait until no session this role can see holds a snapshot from before now (which would keep the destroyed
    keys' old row versions through VACUUM FULL); how many still do after :data:`_OLD_SNAPSHOT_WAIT_SECONDS`.
    Sessions of other roles show no snapshot without ``pg_read_all_stats``."""
    horizon = int((await connection.exec_driver_sql("SELECT txid_current()")).scalar())
    deadline = asyncio.get_running_loop().time() + _OLD_SNAPSHOT_WAIT_SECONDS
    while True:
        older = int((await connection.execute(_OLDER_SNAPSHOTS, {"horizon": horizon})).scalar() or 0)
        if older == 0 or asyncio.get_running_loop().time() >= deadline:
            return older
        await asyncio.sleep(0.05)
