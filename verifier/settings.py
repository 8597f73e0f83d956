"""Service settings: where the data lives, deadlines, the audit key. Loaded from a TOML config."""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Settings", "load_settings"]


class ConfigError(ValueError):
    """A config file that is not valid; the message names the key."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///.hedui/hedui.db"
    listen: str = "127.0.0.1:50051"
    sandbox: Path | None = None
    policy_files: tuple[Path, ...] = ()
    # Each department gets this long to answer before it counts as unavailable (or pending, if it gave a ticket).
    department_deadline_seconds: float = 10.0
    # How often a pending (asynchronous) answer is polled, and for how long before giving up.
    poll_interval_seconds: float = 1.0
    pending_deadline_seconds: float = 3 * 24 * 3600.0
    # Key for the keyed hashes of identity numbers in the audit log.
    audit_subject_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


_KEYS: dict[str, type | tuple[type, ...]] = {
    "database_url": str,
    "listen": str,
    "sandbox": str,
    "policy_files": list,
    "department_deadline_seconds": (int, float),
    "poll_interval_seconds": (int, float),
    "pending_deadline_seconds": (int, float),
    "audit_subject_key_file": str,
}


def _audit_key(path: Path) -> bytes:
    """Read the audit subject key, creating it (mode 0600) on first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    key = bytes.fromhex(path.read_text().strip())
    if len(key) < 16:
        raise ConfigError(f"audit_subject_key_file: {path} holds fewer than 16 bytes")
    return key


def load_settings(path: Path | None, base: Path = Path(".hedui")) -> Settings:
    """Settings from a TOML file (all keys optional), with the audit key kept under ``base``."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not TOML: {exc}") from None
    for key, value in raw.items():
        expected = _KEYS.get(key)
        if expected is None:
            raise ConfigError(f"{key}: unknown key")
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"{key}: wrong type")
    for key in ("department_deadline_seconds", "poll_interval_seconds", "pending_deadline_seconds"):
        if key in raw and raw[key] <= 0:
            raise ConfigError(f"{key}: must be positive")
    settings = Settings(
        database_url=raw.get("database_url", f"sqlite:///{base / 'hedui.db'}"),
        listen=raw.get("listen", "127.0.0.1:50051"),
        sandbox=Path(raw["sandbox"]) if "sandbox" in raw else None,
        policy_files=tuple(Path(p) for p in raw.get("policy_files", [])),
        department_deadline_seconds=float(raw.get("department_deadline_seconds", 10.0)),
        poll_interval_seconds=float(raw.get("poll_interval_seconds", 1.0)),
        pending_deadline_seconds=float(raw.get("pending_deadline_seconds", 3 * 24 * 3600.0)),
        audit_subject_key=_audit_key(Path(raw.get("audit_subject_key_file", base / "audit-subject.key"))),
    )
    return settings
