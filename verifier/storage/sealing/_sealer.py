"""The sealer: data keys unwrapped once and kept in memory, so sealing and opening a cell costs no SQL statement.

Which key seals what: ``rows`` keys seal requests, reports and authorizations (never destroyed); ``answers`` keys
seal department answers, one per month of writing (China time), destroyed by retention; the one ``index`` key makes
the blind index (keyed hashes of identity numbers) and the keyed payload digests.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from cryptography.exceptions import InvalidTag

from consent.identity import CHINA_TIME
from consent.suite import Aead, CryptoSuite
from verifier.errors import Reason, ServiceError
from verifier.storage.sealing._cells import CellFormatError, cell_aad, cell_key_id, is_sealed, parse_cell, seal_cell
from verifier.storage.sealing._providers import KeyProvider, MasterKeyMissing

__all__ = ["CellExpired", "CellUnreadable", "DataKey", "Purpose", "Sealer", "month_of"]


class Purpose(StrEnum):
    """What a data key seals."""

    ROWS = "rows"
    ANSWERS = "answers"
    INDEX = "index"


_WRAP_AAD: Final = b"hedui data key v1\0"

REMEMBERED_TABLES: Final = frozenset({"reports"})
"""Tables whose cells the sealer remembers opened: a report is read again soon after it is written (GetReport
after the watch, the printed view), and opening one costs a base64 decoding of tens of kilobytes. Its key is a
``rows`` key, never destroyed, so a remembered report cannot outlive a crypto-shredding."""

REMEMBERED_CELLS: Final = 256
"""Cells remembered opened per process (the least recently used leave first)."""


def month_of(at: dt.datetime) -> str:
    """The period (``YYYY-MM``, China time) an instant falls in."""
    return at.astimezone(CHINA_TIME).strftime("%Y-%m")


class CellUnreadable(ServiceError):
    """A sealed cell that does not open: edited, moved to another row, or sealed under a key this process lacks."""

    def __init__(self, where: str, why: str, key_id: str | None = None, *, missing: bool = False) -> None:
        """The cell ``where`` (``table.column`` of a row) and why it does not open; ``missing``: for want of its key
        (not known here, or its master key not at hand), not because the cell is wrong."""
        super().__init__(Reason.SEALED_CELL_UNREADABLE, f"{where}: the sealed cell does not open: {why}")
        self.key_id = key_id
        self.missing = missing


class CellExpired(ServiceError):
    """A department answer whose data key retention destroyed (crypto-shredded)."""

    def __init__(self, where: str, key_id: str) -> None:
        """The cell ``where`` and the destroyed key that sealed it."""
        super().__init__(
            Reason.ANSWER_EXPIRED, f"{where}: the department answer was deleted at the end of its retention period"
        )
        self.key_id = key_id


@dataclass(slots=True)
class DataKey:
    """A row of ``data_keys``: the key id every cell it seals names, what it seals, its period and generation, the
    master key that wraps it and the wrapped key (``None`` once destroyed)."""

    id: str
    purpose: Purpose
    period: str
    generation: int
    suite: CryptoSuite
    kek_id: str
    wrapped: bytes | None

    def wrap_aad(self) -> bytes:
        """What the wrapped key is bound to: a wrapped key cannot be relabelled as another period's or purpose's."""
        return _WRAP_AAD + "\0".join((self.id, self.purpose, self.period, self.suite)).encode()


class Sealer:
    """Seals and opens cells under the data keys it was given (see :mod:`verifier.storage.sealing`)."""

    def __init__(self, provider: KeyProvider, suite: CryptoSuite) -> None:
        """No keys yet: :meth:`learn` them (``verifier.storage.sealing.load_keys``)."""
        self.provider = provider
        self.suite = suite
        self._keys: dict[str, DataKey] = {}
        self._plain: dict[str, bytes] = {}
        self._aeads: dict[str, Aead] = {}  # built once per key
        # (table, column, row) -> (the stored cell, its text): a cell read back byte for byte as it was sealed or
        # opened here holds that text (the cell is authenticated, its nonce random: an edit is another string).
        self._opened: collections.OrderedDict[tuple[str, str, str], tuple[str, str]] = collections.OrderedDict()

    def learn(self, keys: Iterable[DataKey]) -> None:
        """Take (or update) these keys; a live one is unwrapped now, a destroyed one forgotten."""
        for key in keys:
            self._keys[key.id] = key
            if key.wrapped is None:
                self._plain.pop(key.id, None)
                self._aeads.pop(key.id, None)
            elif key.id not in self._plain:
                try:
                    self._plain[key.id] = self.provider.unwrap(key.kek_id, key.wrapped, key.wrap_aad())
                except (MasterKeyMissing, InvalidTag):
                    continue  # its cells are refused as unreadable (the master key is not this provider's)

    def usable(self, key_id: str) -> bool:
        """Whether this key is unwrapped here (it can seal and open)."""
        return key_id in self._plain

    def knows(self, key_id: str) -> bool:
        """Whether this key (live or destroyed) is known."""
        return key_id in self._keys

    @property
    def keys(self) -> list[DataKey]:
        """Every key known."""
        return list(self._keys.values())

    def writing_key(self, purpose: Purpose, at: dt.datetime) -> DataKey:
        """The key that seals ``purpose`` now: the newest generation of this month's, one of this sealer's suite
        first (after a switch of suite), else the newest live key of an earlier month (the daily upkeep makes next
        month's in advance)."""
        month = month_of(at)
        live = [k for k in self._keys.values() if k.purpose is purpose and k.id in self._plain and k.period <= month]
        if not live:
            raise LookupError(f"no live {purpose} data key: the sealer was not started")
        return max(live, key=lambda k: (k.period, k.suite is self.suite, k.generation))

    def seal(self, purpose: Purpose, where: tuple[str, str, str], text: str, at: dt.datetime) -> str:
        """``text`` sealed for the cell ``where`` (table, column, row key) under ``purpose``'s key of ``at``."""
        key = self.writing_key(purpose, at)
        sealed = seal_cell(key.suite, key.id, self._aead(key.id, self._plain[key.id]), where, text.encode("utf-8"))
        self._remember(where, sealed, text)
        return sealed

    def _remember(self, where: tuple[str, str, str], stored: str, text: str) -> None:
        """Keep a cell of a :data:`REMEMBERED_TABLES` table with its text (bounded by :data:`REMEMBERED_CELLS`)."""
        if where[0] in REMEMBERED_TABLES:
            self._opened[where] = (stored, text)
            self._opened.move_to_end(where)
            if len(self._opened) > REMEMBERED_CELLS:
                self._opened.popitem(last=False)

    def key_of(self, stored: str) -> str | None:
        """The key id a sealed cell names (``None``: legacy plaintext, or not a cell)."""
        return cell_key_id(stored) if is_sealed(stored) else None

    def open(self, where: tuple[str, str, str], stored: str) -> str:
        """The text a cell holds (legacy plaintext as it is). ``CellUnreadable`` / ``CellExpired`` otherwise."""
        if not is_sealed(stored):
            return stored
        known = self._opened.get(where)
        if known is not None and known[0] == stored and cell_key_id(stored) in self._plain:
            self._opened.move_to_end(where)
            return known[1]
        name = f"{where[0]}.{where[1]} of {where[2]}"
        try:
            cell = parse_cell(stored)
        except CellFormatError as exc:
            raise CellUnreadable(name, f"{exc} (edited)") from None
        key = self._keys.get(cell.key_id)
        if key is None:
            raise CellUnreadable(name, f"data key {cell.key_id} is unknown", cell.key_id, missing=True)
        dek = self._plain.get(key.id)
        if dek is None and key.wrapped is None:
            raise CellExpired(name, key.id)
        if dek is None:
            raise CellUnreadable(
                name, f"the master key {key.kek_id} of data key {key.id} is not available", key.id, missing=True
            )
        if key.suite is not cell.suite:
            raise CellUnreadable(name, "its suite is not its key's (edited)", key.id)
        try:
            plain = self._aead(key.id, dek).decrypt(cell.nonce, cell.body, cell_aad(cell.header, *where))
        except InvalidTag:
            raise CellUnreadable(name, "it was edited or moved from another row") from None
        try:
            text = plain.decode("utf-8")
        except UnicodeDecodeError:
            raise CellUnreadable(name, "it holds no text") from None
        self._remember(where, stored, text)
        return text

    def _aead(self, key_id: str, dek: bytes) -> Aead:
        aead = self._aeads.get(key_id)
        if aead is None:
            aead = self._aeads[key_id] = self._keys[key_id].suite.aead(dek)
        return aead

    def index(self, value: str) -> str:
        """The blind index of ``value`` (an identity number, a payload digest): the keyed hash, hex."""
        live = [k for k in self._keys.values() if k.purpose is Purpose.INDEX and k.id in self._plain]
        if not live:
            raise LookupError("no index key: the sealer was not started")
        key = min(live, key=lambda k: k.generation)  # never rotated (docs/sealing.md): recomputing it is a migration
        return key.suite.keyed_hash(self._plain[key.id], b"hedui blind index v1\0" + value.encode("utf-8")).hex()
