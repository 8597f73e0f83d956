"""The audit key files: 32 random bytes kept as hex (and, under the ``sm`` suite, the SM2 key as PKCS#8 PEM),
created by the service on first start, read by the tools."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from consent.sm2 import Sm2PrivateKey
from verifier.config._schema import ConfigError

__all__ = ["secret_file", "sm2_key_file"]


def _create_owner_only(path: Path, content: bytes) -> None:
    """Write a new key file readable by its owner only (mode 0600; never over an existing one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def secret_file(path: Path, setting: str, *, exact: bool = False, missing: dict[str, Path] | None = None) -> bytes:
    """Read a secret kept as hex, creating it (mode 0600) when it does not exist.

    With ``missing`` given (read-only tools), a file that does not exist is not created: it is recorded
    there under ``setting`` and the key is empty. ``exact``: exactly 32 bytes (an Ed25519 seed), else 16 or more.
    """
    if missing is not None and not path.exists():
        missing[setting] = path
        return b""
    if not path.exists():
        _create_owner_only(path, secrets.token_hex(32).encode())
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise ConfigError(f"{setting}: {path} does not hold a hex key") from None
    if len(key) < 16 or (exact and len(key) != 32):
        raise ConfigError(
            f"{setting}: {path} holds {len(key)} bytes, {'exactly 32' if exact else 'at least 16'} needed"
        )
    return key


def sm2_key_file(path: Path, setting: str, *, missing: dict[str, Path] | None = None) -> bytes:
    """Issue 17: the PKCS#8 PEM of an SM2 key (OpenSSL's or hedui's), creating a fresh one (mode 0600) when the
    file does not exist; with ``missing`` given (read-only tools) it is recorded there instead and empty."""
    if missing is not None and not path.exists():
        missing[setting] = path
        return b""
    if not path.exists():
        _create_owner_only(path, Sm2PrivateKey.generate().pem())
    pem = path.read_bytes()
    try:
        Sm2PrivateKey.from_pem(pem)
    except ValueError as exc:
        raise ConfigError(f"{setting}: {path}: {exc}") from None
    return pem
