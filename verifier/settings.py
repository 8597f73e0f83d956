"""Service settings: where the data lives, deadlines, the audit key. Loaded from a TOML config."""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from connectors.records import DEPARTMENTS

__all__ = ["ConfigError", "Settings", "load_settings"]


_ORIGIN = re.compile(r"[^\s+]{1,200}")


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
    # Deadlines of particular departments, overriding department_deadline_seconds.
    department_deadlines: Mapping[str, float] = field(default_factory=dict)
    # How often a pending (asynchronous) answer is polled, and for how long before giving up.
    poll_interval_seconds: float = 1.0
    pending_deadline_seconds: float = 3 * 24 * 3600.0
    # Key for the keyed hashes of identity numbers in the audit log.
    audit_subject_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # Ed25519 seed of the key that signs the audit log's tree heads, and the log's name (checkpoint origin).
    audit_log_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    audit_log_origin: str = "hedui.local/audit"
    # How long appended entries may wait before they are integrated into the tree under a signed head.
    audit_integrate_seconds: float = 0.2
    # Directories of file witnesses that every new signed tree head is published to.
    witness_dirs: tuple[Path, ...] = ()
    # Per department: the connector entry point ("connector"), its options, "deadline_seconds".
    departments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Where Prometheus scrapes the metrics ("127.0.0.1:9464"); empty: no metrics endpoint.
    metrics_listen: str = ""
    # Loaded with create_keys=False: the key files that did not exist (setting → path); their keys are empty.
    missing_key_files: Mapping[str, Path] = field(default_factory=dict)

    def deadline(self, department: str) -> float:
        """How long ``department`` gets to answer one query (retries included)."""
        return self.department_deadlines.get(department, self.department_deadline_seconds)

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
    "audit_log_key_file": str,
    "audit_log_origin": str,
    "audit_integrate_seconds": (int, float),
    "witness_dirs": list,
    "departments": dict,
    "metrics_listen": str,
}


def _secret_file(path: Path, setting: str, *, exact: bool = False, missing: dict[str, Path] | None = None) -> bytes:
    """Read a 32-byte secret kept as hex, creating it (mode 0600) on first start.

    With ``missing`` given, a file that does not exist is not created: it is recorded there and the key is empty.
    """
    if missing is not None and not path.exists():
        missing[setting] = path
        return b""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise ConfigError(f"{setting}: {path} does not hold a hex key") from None
    if len(key) < 16 or (exact and len(key) != 32):
        raise ConfigError(
            f"{setting}: {path} holds {len(key)} bytes, {'exactly 32' if exact else 'at least 16'} needed"
        )
    return key


def load_settings(path: Path | None, base: Path = Path(".hedui"), *, create_keys: bool = True) -> Settings:
    """Settings from a TOML file (all keys optional), with the audit key kept under ``base``.

    The service creates missing key files (``create_keys``); read-only tools pass ``create_keys=False``
    and get the missing ones in :attr:`Settings.missing_key_files`, with empty keys, to refuse if they need them.
    """
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
    origin = raw.get("audit_log_origin", "hedui.local/audit")
    if not _ORIGIN.fullmatch(origin):
        raise ConfigError("audit_log_origin: must be a name without spaces or '+', e.g. hedui.county.example/audit")
    for key in (
        "department_deadline_seconds",
        "poll_interval_seconds",
        "pending_deadline_seconds",
        "audit_integrate_seconds",
    ):
        if key in raw and raw[key] <= 0:
            raise ConfigError(f"{key}: must be positive")
    departments: dict[str, dict[str, Any]] = raw.get("departments", {})
    deadlines: dict[str, float] = {}
    for department, spec in departments.items():
        if department not in DEPARTMENTS:
            raise ConfigError(f"departments.{department}: unknown department (one of {', '.join(DEPARTMENTS)})")
        if not isinstance(spec, dict):
            raise ConfigError(f"departments.{department}: must be a table")
        if not isinstance(spec.get("connector", ""), str):
            raise ConfigError(f"departments.{department}.connector: must be an entry point name")
        if "deadline_seconds" in spec:
            value = spec["deadline_seconds"]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"departments.{department}.deadline_seconds: must be a positive number")
            deadlines[department] = float(value)
    missing: dict[str, Path] | None = None if create_keys else {}
    settings = Settings(
        database_url=raw.get("database_url", f"sqlite:///{base / 'hedui.db'}"),
        listen=raw.get("listen", "127.0.0.1:50051"),
        sandbox=Path(raw["sandbox"]) if "sandbox" in raw else None,
        policy_files=tuple(Path(p) for p in raw.get("policy_files", [])),
        department_deadline_seconds=float(raw.get("department_deadline_seconds", 10.0)),
        poll_interval_seconds=float(raw.get("poll_interval_seconds", 1.0)),
        pending_deadline_seconds=float(raw.get("pending_deadline_seconds", 3 * 24 * 3600.0)),
        audit_subject_key=_secret_file(
            Path(raw.get("audit_subject_key_file", base / "audit-subject.key")),
            "audit_subject_key_file",
            missing=missing,
        ),
        audit_log_key=_secret_file(
            Path(raw.get("audit_log_key_file", base / "audit-log.key")),
            "audit_log_key_file",
            exact=True,
            missing=missing,
        ),
        audit_log_origin=origin,
        audit_integrate_seconds=float(raw.get("audit_integrate_seconds", 0.2)),
        witness_dirs=tuple(Path(p) for p in raw.get("witness_dirs", [])),
        departments=departments,
        department_deadlines=deadlines,
        metrics_listen=raw.get("metrics_listen", ""),
        missing_key_files=missing or {},
    )
    return settings
