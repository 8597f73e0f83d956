"""The sealed cell: ``hs1.`` + base64url(suite byte || key id (8 bytes) || nonce (12) || ciphertext || tag).

The AEAD's associated data is the 9-byte header and ``hedui sealed cell v1\\0`` + table, column and row key (NUL
separated): a cell copied to another row, column or table does not open. Text without the prefix is a legacy
plaintext cell (JSON never starts with ``h``, nor does a ticket hedui stored), read as it is until ``hedui db seal``
has sealed it.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Final

from consent.suite import Aead, CryptoSuite

__all__ = ["PREFIX", "Cell", "CellFormatError", "cell_aad", "cell_key_id", "is_sealed", "parse_cell", "seal_cell"]

PREFIX: Final = "hs1."
_SUITE_BYTE: Final = {CryptoSuite.STANDARD: 1, CryptoSuite.SM: 2}
_BYTE_SUITE: Final = {b: s for s, b in _SUITE_BYTE.items()}
_HEADER: Final = 9
_NONCE: Final = 12
_TAG: Final = 16


class CellFormatError(ValueError):
    """A cell with the sealed prefix that is no sealed cell (edited)."""


@dataclass(frozen=True, slots=True)
class Cell:
    """A sealed cell taken apart: its suite, the data key that sealed it, its header, nonce and ciphertext."""

    suite: CryptoSuite
    key_id: str
    header: bytes
    nonce: bytes
    body: bytes


def is_sealed(stored: object) -> bool:
    """Whether a stored value is a sealed cell (text, or for a binary column its ASCII bytes)."""
    if isinstance(stored, bytes | bytearray | memoryview):
        return bytes(stored[: len(PREFIX)]) == PREFIX.encode()
    return isinstance(stored, str) and stored.startswith(PREFIX)


def cell_aad(header: bytes, table: str, column: str, row: str) -> bytes:
    """What a cell is bound to: its header and where it is stored."""
    return header + b"hedui sealed cell v1\0" + "\0".join((table, column, row)).encode("utf-8")


def seal_cell(suite: CryptoSuite, key_id: str, aead: Aead, where: tuple[str, str, str], plaintext: bytes) -> str:
    """``plaintext`` sealed with ``aead`` (the data key ``key_id``) for the cell ``where`` (table, column, row key).

    Random 96-bit nonces: at most 2**32 seals per data key (NIST SP 800-38D); keys are monthly, far below that."""
    header = bytes([_SUITE_BYTE[suite]]) + bytes.fromhex(key_id)
    nonce = os.urandom(_NONCE)
    body = aead.encrypt(nonce, plaintext, cell_aad(header, *where))
    return PREFIX + base64.urlsafe_b64encode(header + nonce + body).decode("ascii").rstrip("=")


def cell_key_id(stored: str) -> str | None:
    """The key id a sealed cell names, from its first 12 characters alone (``None``: no sealed cell header)."""
    head = stored[len(PREFIX) : len(PREFIX) + 12]
    try:
        raw = base64.urlsafe_b64decode(head)
    except (binascii.Error, ValueError):
        return None
    return raw[1:_HEADER].hex() if len(raw) == _HEADER and raw[0] in _BYTE_SUITE else None


def parse_cell(stored: str) -> Cell:
    """A sealed cell's parts; ``CellFormatError`` if it is not one."""
    text = stored[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CellFormatError("not base64url") from None
    suite = _BYTE_SUITE.get(raw[0]) if raw else None
    if suite is None or len(raw) < _HEADER + _NONCE + _TAG:
        raise CellFormatError("no sealed cell header")
    return Cell(suite, raw[1:_HEADER].hex(), raw[:_HEADER], raw[_HEADER : _HEADER + _NONCE], raw[_HEADER + _NONCE :])
