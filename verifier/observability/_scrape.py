"""The series read when Prometheus scrapes: verifications by state, the audit log's size and lags, the pool.

Read from the database once per scrape (two small statements on indexed columns and the short integration
queue) and from the connection pool's counters — never on a verification's path.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.pool import QueuePool

from audit.checkpoint import Checkpoint, parse_note
from audit.log import audit_entries, audit_pending, audit_tree_heads
from audit.witness import Witness
from verifier.storage.db import Database
from verifier.storage.models import VerificationRow
from verifier.vocabulary import VerificationState

__all__ = ["refresh_scraped"]

log = logging.getLogger("hedui.metrics")
VERIFICATIONS = Gauge("hedui_verifications", "Verifications in the database, by state", ["state"])
AUDIT_ENTRIES = Gauge("hedui_audit_log_entries", "Entries appended to the audit log")
TREE_SIZE = Gauge("hedui_audit_tree_size", "Entries integrated into the audit log's Merkle tree under a signed head")
LAG_ENTRIES = Gauge("hedui_audit_integration_lag_entries", "Audit entries appended but not yet under a signed head")
LAG_SECONDS = Gauge(
    "hedui_audit_integration_lag_seconds", "Age of the oldest audit entry not yet under a signed head (0: none)"
)
WITNESS_LAG = Gauge(
    "hedui_audit_witness_lag_entries", "Entries of the signed tree a witness has not cosigned yet", ["witness"]
)
POOL = Gauge("hedui_database_pool_connections", "Database connections of this process, by state", ["state"])
POOL_LIMIT = Gauge("hedui_database_pool_limit_connections", "Most connections the pool opens (size + overflow)")
DATABASE_UP = Gauge("hedui_scrape_database_up", "1 if the last scrape read the database, 0 if it failed")


def _pool(db: Database) -> None:
    """The pool's connections in use and idle, and its limit."""
    pool = db.engine.sync_engine.pool
    if isinstance(pool, QueuePool):
        POOL.labels("in_use").set(pool.checkedout())
        POOL.labels("idle").set(pool.checkedin())
        POOL_LIMIT.set(pool.size() + max(pool._max_overflow, 0))


async def _database(db: Database) -> int:
    """Verifications by state and the log's figures; returns the signed tree size."""
    async with db.sessions() as session:
        states = dict((await session.execute(select(VerificationRow.state, func.count()).group_by("state"))).all())
        # One statement, so one snapshot: read apart, an integration committed between the reads showed
        # every entry integrated (no queue) under no signed head.
        queued = audit_pending.join(audit_entries, audit_pending.c.seq == audit_entries.c.seq)
        entries, size, pending, oldest = (
            await session.execute(
                select(
                    select(func.max(audit_entries.c.seq)).scalar_subquery(),
                    select(func.max(audit_tree_heads.c.tree_size)).scalar_subquery(),
                    select(func.count()).select_from(queued).scalar_subquery(),
                    select(func.min(audit_entries.c.recorded_at)).select_from(queued).scalar_subquery(),
                )
            )
        ).one()
    for state in VerificationState:
        VERIFICATIONS.labels(state.value).set(states.get(state.value, 0))
    AUDIT_ENTRIES.set(entries or 0)
    TREE_SIZE.set(size or 0)
    LAG_ENTRIES.set(pending)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    LAG_SECONDS.set(max((dt.datetime.now(dt.UTC) - oldest).total_seconds(), 0.0) if oldest is not None else 0.0)
    return int(size or 0)


async def _witnesses(witnesses: Sequence[Witness], origin: str, size: int) -> None:
    """How far each witness is behind the signed tree."""
    for witness in witnesses:
        name = str(getattr(witness, "name", type(witness).__name__))
        note = await witness.latest(origin)
        cosigned = Checkpoint.parse_body(parse_note(note)[0]).size if note else 0
        WITNESS_LAG.labels(name).set(max(size - cosigned, 0))


async def refresh_scraped(db: Database, log_: Any) -> None:
    """Bring the scraped series up to date (a database that fails leaves them as they were, and says so)."""
    _pool(db)
    try:
        size = await _database(db)
        await _witnesses(log_.witnesses, log_.origin, size)
    except Exception as exc:
        DATABASE_UP.set(0)
        log.warning("metrics: reading the database failed: %s", type(exc).__name__)
        return
    DATABASE_UP.set(1)
