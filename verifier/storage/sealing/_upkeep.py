"""The keys' upkeep, each change recorded in the audit log in its own transaction: a data-key rotation
(``hedui keys rotate-data-key``), retention (``hedui retention run``, and daily in the service) and next month's keys.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from audit import AuditEvent, AuditLog
from audit.events import JsonValue
from verifier.storage.sealing._keys import Rotation, keep_keys, rotate
from verifier.storage.sealing._retention import shred_expired
from verifier.storage.sealing._sealer import DataKey, Sealer

__all__ = ["keep_up", "rotate_data_keys", "run_retention"]

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


async def run_retention(
    begin: Any,
    sealer: Sealer,
    audit: AuditLog,
    months: int,
    *,
    operator: str,
    client: str,
    at: dt.datetime | None = None,
) -> list[DataKey]:
    """Destroy the answers keys past retention at ``at`` (default now), one ``DATA_KEY_DESTROYED`` entry each, in one
    transaction."""
    async with begin() as session:
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
    return destroyed


async def keep_up(begin: Any, sealer: Sealer, audit: AuditLog, months: int) -> None:
    """The service's daily upkeep: next month's keys made, every key learnt anew, retention run."""
    await keep_keys(begin, sealer, dt.datetime.now(dt.UTC))
    destroyed = await run_retention(begin, sealer, audit, months, operator="hedui-retention", client="service")
    for key in destroyed:
        log.info("department answers of %s crypto-shredded (data key %s destroyed)", key.period, key.id)
