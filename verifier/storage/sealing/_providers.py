"""Master keys (KEKs): the key provider that wraps and unwraps data keys, and the file provider for development.

A KMS or an HSM implements the same three calls (:class:`KeyProvider`): ``wrap`` is the KMS's Encrypt or the HSM's
key wrap (e.g. GM/T 0018 ``SDF_Encrypt`` under an internal KEK index), ``unwrap`` its Decrypt, ``current`` the
master key that wraps new data keys; the master key never leaves it. Such a provider is installed as an entry
point of the group ``hedui.key_providers`` (a callable taking the :class:`~verifier.config.Settings`) and chosen
with ``key_provider = "<its name>"`` (docs/sealing.md).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from cryptography.exceptions import InvalidTag

from consent.suite import CryptoSuite
from verifier.config import ConfigError

if TYPE_CHECKING:
    from verifier.config import Settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "FileKeyProvider",
    "KeyProvider",
    "MasterKeyMissing",
    "MemoryKeyProvider",
    "provider_for",
]

ENTRY_POINT_GROUP: Final = "hedui.key_providers"
_SUITE_BYTE: Final = {CryptoSuite.STANDARD: 1, CryptoSuite.SM: 2}
_NONCE: Final = 12


class MasterKeyMissing(LookupError):
    """The provider holds no such master key (or none at all): the data keys it wrapped cannot be unwrapped."""


class KeyProvider(Protocol):
    """Master keys (KEKs). A KMS/HSM implements the same three calls; the KEK never leaves it."""

    def current(self) -> str:
        """The id of the master key that wraps new data keys."""
        ...

    def wrap(self, kek_id: str, dek: bytes, aad: bytes) -> bytes:
        """``dek`` wrapped under the master key ``kek_id``, bound to ``aad``."""
        ...

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        """The data key ``wrapped`` holds; ``MasterKeyMissing`` or ``InvalidTag`` when it cannot be."""
        ...


class _LocalProvider:
    """Wraps with AES-256-GCM (``standard``) or SM4-GCM (``sm``) under a 32-byte master key held in this process:
    ``suite byte || nonce || ciphertext || tag`` (the suite byte lets either suite unwrap what the other wrapped)."""

    def __init__(self, suite: CryptoSuite) -> None:
        """Wrapping new keys under ``suite``'s cipher."""
        self.suite = suite

    def _master(self, kek_id: str) -> bytes:
        raise NotImplementedError

    def wrap(self, kek_id: str, dek: bytes, aad: bytes) -> bytes:
        """``dek`` wrapped under ``kek_id``."""
        nonce = os.urandom(_NONCE)
        master = self._master(kek_id)
        sealed = self.suite.aead(master[: self.suite.dek_bytes]).encrypt(nonce, dek, aad)
        return bytes([_SUITE_BYTE[self.suite]]) + nonce + sealed

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        """The data key in ``wrapped``; ``InvalidTag`` when it is not what ``kek_id`` wrapped under ``aad``."""
        suite = next((s for s, b in _SUITE_BYTE.items() if wrapped[:1] == bytes([b])), None)
        if suite is None or len(wrapped) < 1 + _NONCE + 16:
            raise InvalidTag()
        master = self._master(kek_id)
        return suite.aead(master[: suite.dek_bytes]).decrypt(wrapped[1 : 1 + _NONCE], wrapped[1 + _NONCE :], aad)


class FileKeyProvider(_LocalProvider):
    """Development: ``DIR/<kek id>.key`` holds a 32-byte master key as hex (mode 0600, created like the audit keys);
    ``DIR/current`` names the one that wraps new data keys. ``create=False`` (read-only tools) creates nothing."""

    def __init__(self, directory: Path, suite: CryptoSuite, *, create: bool = True) -> None:
        """The master keys in ``directory``."""
        super().__init__(suite)
        self.directory = directory
        self._create = create

    def new_master_key(self) -> str:
        """Create a master key and make it the current one; its id."""
        kek_id = "kek-" + secrets.token_hex(4)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.directory / f"{kek_id}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        fd = os.open(self.directory / "current.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(kek_id + "\n")
        os.replace(self.directory / "current.tmp", self.directory / "current")
        return kek_id

    def current(self) -> str:
        """The current master key's id (created on first use unless read-only)."""
        path = self.directory / "current"
        if not path.exists():
            if not self._create:
                raise MasterKeyMissing(f"no master key in {self.directory}")
            return self.new_master_key()
        return path.read_text().strip()

    def _master(self, kek_id: str) -> bytes:
        path = self.directory / f"{kek_id}.key"
        if "/" in kek_id or not path.exists():
            raise MasterKeyMissing(f"master key {kek_id} is not in {self.directory}")
        try:
            key = bytes.fromhex(path.read_text().strip())
        except ValueError:
            raise ConfigError(f"key_dir: {path} does not hold a hex key") from None
        if len(key) != 32:
            raise ConfigError(f"key_dir: {path} holds {len(key)} bytes, exactly 32 needed")
        return key


class MemoryKeyProvider(_LocalProvider):
    """One master key held in memory (a :class:`~verifier.config.Settings` built directly: tests and benches)."""

    def __init__(self, master: bytes, suite: CryptoSuite) -> None:
        """The master key ``master`` (32 bytes)."""
        super().__init__(suite)
        self._key = master
        self._id = "memory-" + hashlib.sha256(b"hedui master key id\0" + master).hexdigest()[:16]

    def current(self) -> str:
        """This master key's id (derived from the key, so a second provider with the same key agrees)."""
        return self._id

    def _master(self, kek_id: str) -> bytes:
        if kek_id != self._id:
            raise MasterKeyMissing(f"master key {kek_id} is not this process's")
        return self._key


def provider_for(settings: Settings, *, create: bool = True) -> KeyProvider:
    """The key provider ``settings`` name: the file provider over ``key_dir`` (none: the in-memory master key),
    or the entry point of ``hedui.key_providers`` called ``key_provider``."""
    if settings.key_provider == "file":
        if settings.key_dir is None:
            master = settings.master_key or hashlib.sha256(b"hedui master key\0" + settings.audit_subject_key).digest()
            return MemoryKeyProvider(master, settings.crypto_suite)
        return FileKeyProvider(settings.key_dir, settings.crypto_suite, create=create)
    found = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == settings.key_provider]
    if not found:
        raise ConfigError(f"key_provider: no key provider {settings.key_provider!r} (entry points {ENTRY_POINT_GROUP})")
    provider: KeyProvider = found[0].load()(settings)
    return provider
