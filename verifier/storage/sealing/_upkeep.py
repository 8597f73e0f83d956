"""The keys' upkeep, each change recorded in the audit log in its own transaction: a data-key rotation
(``hedui keys rotate-data-key``), retention (``hedui retention run``, and daily in the service) and next month's keys.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit import AuditEvent, AuditLog
from audit.events import JsonValue
from verifier.storage.sealing._keys import Rotation, keep_keys, rotate
from verifier.storage.sealing._retention import scrub, shred_expired
from verifier.storage.sealing._sealer import DataKey, Sealer

if TYPE_CHECKING:
    from verifier.storage.db import Database

__all__ = ["Retention", "keep_up", "rotate_data_keys", "run_retention"]

log = logging.getLogger("hedui.sealing")


async def rotate_data_keys(begin: Any, sealer: Sealer, audit: AuditLog, *, operator: str, client: str) -> Rotation:
    """A new generation of this month's data keys and every live key re-wrapped under the current master key, with
    its ``DATA_KEYS_ROTATED`` entry, in one transaction of ``begin`` (``Database.write``)."""
    async with begin() as session:
        done = await rotate(session, sealer, dt.datetime.now(dt.UTC))
        details: dict[str, JsonValue] = {
            "new_keys": list(done.new_keys),
            "rewrapped": list(done.rewrapped),
            "kek_id": done.kek_id,
        }
        await audit.append(session, AuditEvent("DATA_KEYS_ROTATED", operator=operator, client=client, details=details))
    return done


@dataclass(frozen=True, slots=True)
class Retention:
    """What a retention run did: the data keys destroyed, and how their old copies were scrubbed (``""``: none
    destroyed, nothing to scrub)."""

    destroyed: list[DataKey]
    scrubbed: str


async def run_retention(
    db: Database,
    sealer: Sealer,
    audit: AuditLog,
    months: int,
    *,
    operator: str,
    client: str,
    at: dt.datetime | None = None,
) -> Retention:
    """Destroy the answers keys past retention at ``at`` (default now), one ``DATA_KEY_DESTROYED`` entry each, in one
    transaction of ``db``; then, if any was destroyed, their old row versions scrubbed from the files (:func:`scrub`:
    SQLite's WAL truncated, PostgreSQL's ``VACUUM FULL data_keys``)."""
    async with db.write() as session:
        destroyed = await shred_expired(session, sealer, months, at or dt.datetime.now(dt.UTC))
        for key in destroyed:
            details: dict[str, JsonValue] = {
                "key_id": key.id,
                "purpose": str(key.purpose),
                "period": key.period,
                "months": months,
            }
            event = AuditEvent("DATA_KEY_DESTROYED", operator=operator, client=client, details=details)
            await audit.append(session, event)
    return Retention(destroyed, await scrub(db.engine) if destroyed else "")


async def keep_up(db: Database, sealer: Sealer, audit: AuditLog, months: int) -> None:
    """The service's daily upkeep: next month's keys made, every key learnt anew, retention run."""
    await keep_keys(db.write, sealer, dt.datetime.now(dt.UTC))
    done = await run_retention(db, sealer, audit, months, operator="hedui-retention", client="service")
    for key in done.destroyed:
        log.info("department answers of %s crypto-shredded (data key %s destroyed)", key.period, key.id)
    if done.destroyed:
        log.info("retention: %s", done.scrubbed)
