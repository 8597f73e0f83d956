"""Personal data sealed at rest (issue 17, docs/sealing.md): envelope encryption of cells with a blind index.

Cells holding identity numbers, names, department answers, reports and tickets are sealed with AES-256-GCM or
SM4-GCM (:class:`consent.suite.CryptoSuite`) under data keys kept in ``data_keys``, each wrapped by a master key of a
:class:`KeyProvider` (a file for development; a KMS or HSM through an entry point). The :class:`Sealer` holds the
unwrapped data keys in memory and is reachable from every session of a database (``session.info``), so the storage
functions keep their signatures and a verification adds no statement. Look-ups by identity number go through a
keyed hash (:meth:`Sealer.index`). What a row holds is untrusted: a cell that does not open is refused
(``DATA_LOSS``, ``SEALED_CELL_UNREADABLE``), a cell whose key retention destroyed is ``ANSWER_EXPIRED``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from verifier.storage.sealing._cells import PREFIX, is_sealed
from verifier.storage.sealing._columns import SEALED, SEALER, open_rows, open_value, row_key, seal_values, sealer_of
from verifier.storage.sealing._keys import Rotation, destroy_key, keep_keys, learn_unknown, load_keys, ready, rotate
from verifier.storage.sealing._legacy import seal_legacy
from verifier.storage.sealing._orm import register
from verifier.storage.sealing._providers import (
    ENTRY_POINT_GROUP,
    FileKeyProvider,
    KeyProvider,
    MasterKeyMissing,
    MemoryKeyProvider,
    provider_for,
)
from verifier.storage.sealing._retention import expired_keys, shred_expired
from verifier.storage.sealing._sealer import CellExpired, CellUnreadable, DataKey, Purpose, Sealer, month_of
from verifier.storage.sealing._upkeep import Retention, keep_up, rotate_data_keys, run_retention

if TYPE_CHECKING:
    from verifier.config import Settings
    from verifier.storage.db import Database

__all__ = [
    "ENTRY_POINT_GROUP",
    "PREFIX",
    "SEALED",
    "SEALER",
    "CellExpired",
    "CellUnreadable",
    "DataKey",
    "FileKeyProvider",
    "KeyProvider",
    "MasterKeyMissing",
    "MemoryKeyProvider",
    "Purpose",
    "Retention",
    "Rotation",
    "Sealer",
    "audit_opener",
    "destroy_key",
    "expired_keys",
    "install",
    "is_sealed",
    "keep_keys",
    "keep_up",
    "learn_unknown",
    "load_keys",
    "month_of",
    "open_rows",
    "open_value",
    "provider_for",
    "ready",
    "rotate",
    "rotate_data_keys",
    "row_key",
    "run_retention",
    "seal_legacy",
    "seal_values",
    "sealer_for",
    "sealer_of",
    "shred_expired",
    "start_sealing",
]

register()


def install(db: Database, sealer: Sealer | None) -> None:
    """Every session ``db`` opens from now on seals and opens cells with ``sealer`` (``None``: no more)."""
    info: dict[str, Any] = db.session_info
    if sealer is None:
        info.pop(SEALER, None)
    else:
        info[SEALER] = sealer


def sealer_for(settings: Settings, *, create: bool = True) -> Sealer | None:
    """The sealer of ``settings``, without keys yet; ``None`` when sealing is off (benches only). ``create=False``
    (read-only tools): no master key is created."""
    if not settings.sealing:
        return None
    return Sealer(provider_for(settings, create=create), settings.crypto_suite)


async def start_sealing(db: Database, sealer: Sealer | None, *, create: bool = True) -> None:
    """Every data key of ``db`` loaded into ``sealer`` (one statement); with ``create``, the keys the service needs
    made first (the index key, this month's and next month's rows and answers keys)."""
    if sealer is None:
        return
    if create:
        await keep_keys(db.write, sealer, dt.datetime.now(dt.UTC))
    else:
        async with db.sessions() as session:
            await load_keys(session, sealer)


def audit_opener(sealer: Sealer | None) -> Any:
    """The :class:`audit.bound.CellOpener` of ``sealer`` (``hedui audit verify --db``): a destroyed key is
    ``CellKeyDestroyed`` (expired, if the log records its destruction), a key not at hand ``LookupError`` (not
    checked), a cell that does not open ``ValueError`` (edited)."""
    from audit.bound import CellKeyDestroyed
    from verifier.storage.sealing._columns import open_one

    def opener(table: str, column: str, row: str, stored: Any) -> Any:
        try:
            return open_one(sealer, table, column, row, stored)
        except CellExpired as exc:
            raise CellKeyDestroyed(exc.message, exc.key_id) from None
        except CellUnreadable as exc:
            raise (LookupError if exc.missing else ValueError)(exc.message) from None

    return opener
