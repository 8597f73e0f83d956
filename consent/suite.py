"""Which algorithms hedui makes: the international ``standard`` suite or China's commercial ``sm`` suite.

One setting (``crypto_suite``) selects it; GB/T 39786-2021 (= GM/T 0054-2018) is what government systems in China
are assessed against, and it expects the national algorithms (SM2, SM3, SM4). Data sealed at rest names its suite
in every cell, so a database may hold both while it moves from one to the other. SM3 and SM4-GCM come from
``cryptography``, SM2 from :mod:`consent.sm2`; docs/crypto-suites.md says what the suite changes and what it does not.
"""

from __future__ import annotations

import hashlib
import hmac as std_hmac
from enum import StrEnum
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["Aead", "CryptoSuite", "Sm4Gcm"]

_TAG = 16


class Aead(Protocol):
    """An AEAD with ``AESGCM``'s calls: the ciphertext is followed by its 16-byte tag."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """``data`` sealed under ``nonce``, bound to ``associated_data``."""
        ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """``data`` opened; ``InvalidTag`` if it or ``associated_data`` is not what was sealed."""
        ...


class Sm4Gcm:
    """SM4-GCM (GB/T 32907, RFC 8998) through ``cryptography``'s cipher API, with the same bytes as ``AESGCM``:
    ciphertext followed by the 16-byte tag (``cryptography`` has no SM4 AEAD class)."""

    def __init__(self, key: bytes) -> None:
        """A 16-byte SM4 key."""
        if len(key) != 16:
            raise ValueError("an SM4 key is 16 bytes")
        self._key = algorithms.SM4(key)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """``data`` sealed under the 12-byte ``nonce``, bound to ``associated_data``."""
        encryptor = Cipher(self._key, modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(associated_data or b"")
        return encryptor.update(data) + encryptor.finalize() + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """``data`` opened; ``InvalidTag`` when anything differs from what was sealed."""
        if len(data) < _TAG:
            raise InvalidTag()
        decryptor = Cipher(self._key, modes.GCM(nonce, data[-_TAG:])).decryptor()
        decryptor.authenticate_additional_data(associated_data or b"")
        return decryptor.update(data[:-_TAG]) + decryptor.finalize()


class CryptoSuite(StrEnum):
    """Which algorithms hedui makes (and requires of new keys): ``standard`` or ``sm`` (GB/T 39786-2021)."""

    STANDARD = "standard"
    SM = "sm"

    @property
    def dek_bytes(self) -> int:
        """The length of a data key: AES-256 (32 bytes) or SM4 (16 bytes)."""
        return 32 if self is CryptoSuite.STANDARD else 16

    def aead(self, key: bytes) -> Aead:
        """AES-256-GCM or SM4-GCM under ``key``."""
        return AESGCM(key) if self is CryptoSuite.STANDARD else Sm4Gcm(key)

    def keyed_hash(self, key: bytes, data: bytes) -> bytes:
        """HMAC-SHA256 or HMAC-SM3 of ``data`` under ``key`` (32 bytes either way)."""
        if self is CryptoSuite.STANDARD:
            return std_hmac.new(key, data, hashlib.sha256).digest()
        mac = hmac.HMAC(key, hashes.SM3())
        mac.update(data)
        return mac.finalize()
