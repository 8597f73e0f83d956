"""Which algorithms hedui makes: the ``standard`` suite, or ``sm``, the Chinese commercial cryptography that
government systems are assessed against (GB/T 39786-2021): SM2 signatures, SM3 hashes, SM4-GCM.

One setting (``crypto_suite``) selects it; docs/crypto-suites.md says what it changes and what it does not.
SM3 and SM4-GCM come from ``cryptography`` (which raises ``InvalidTag`` silently); SM2 from
:mod:`consent.sm2`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["Aead", "CryptoSuite", "Sm4Gcm"]

_TAG = 16


class Aead(Protocol):
    """An AEAD with ``AESGCM``'s calls: the ciphertext carries its 16-byte tag at the end."""

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """``data`` sealed under ``nonce``, bound to ``associated_data``."""
        ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """The plaintext of ``data``; ``cryptography.exceptions.InvalidTag`` if it or the AAD was altered."""
        ...


class Sm4Gcm:
    """SM4 in GCM mode (RFC 8998) with the byte layout of ``AESGCM``: ciphertext, then the 16-byte tag."""

    def __init__(self, key: bytes) -> None:
        """``key``: 16 bytes."""
        if len(key) != 16:
            raise ValueError("an SM4 key is 16 bytes")
        self._key = key

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """``data`` sealed under ``nonce`` (12 bytes), bound to ``associated_data``."""
        encryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(associated_data or b"")
        return encryptor.update(data) + encryptor.finalize() + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """The plaintext; ``InvalidTag`` if the ciphertext, its tag or the AAD was altered."""
        decryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, data[-_TAG:], min_tag_length=_TAG)).decryptor()
        decryptor.authenticate_additional_data(associated_data or b"")
        return decryptor.update(data[:-_TAG]) + decryptor.finalize()


class CryptoSuite(StrEnum):
    """Which algorithms hedui makes (and requires of new keys): ``standard`` or ``sm`` (GB/T 39786-2021)."""

    STANDARD = "standard"
    SM = "sm"

    @property
    def dek_bytes(self) -> int:
        """The length of a data key: 32 (AES-256) or 16 (SM4)."""
        return 32 if self is CryptoSuite.STANDARD else 16

    def aead(self, key: bytes) -> Aead:
        """AES-256-GCM or SM4-GCM under ``key``."""
        return AESGCM(key) if self is CryptoSuite.STANDARD else Sm4Gcm(key)

    def keyed_hash(self, key: bytes, data: bytes) -> bytes:
        """HMAC-SHA256 or HMAC-SM3 of ``data`` under ``key`` (32 bytes either way)."""
        mac = hmac.HMAC(key, hashes.SHA256() if self is CryptoSuite.STANDARD else hashes.SM3())
        mac.update(data)
        return mac.finalize()
