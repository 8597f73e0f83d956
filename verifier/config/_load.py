"""From a TOML file and the environment to :class:`Settings`: read, validate, declare departments, open keys."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource

from audit.log import EntryMac
from connectors.departments import DEFAULT_DEPARTMENTS, DepartmentCatalogue, DepartmentDeclarationError, RecordKind
from consent.suite import CryptoSuite
from verifier.config._keys import secret_file, sm2_key_file
from verifier.config._schema import ConfigError, FileOnlyConfig, HeduiConfig, config_error, cross_check
from verifier.config._settings import Settings
from verifier.config._tls import TlsTable

__all__ = ["DEFAULT_BASE", "LoadedConfig", "dotted_keys", "load_settings", "read_config", "read_toml"]

DEFAULT_BASE = Path(".hedui")
_DEFAULT_IDS = tuple(d.id for d in DEFAULT_DEPARTMENTS)


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """The validated configuration with what the file and the environment each set (dotted keys)."""

    config: HeduiConfig
    catalogue: DepartmentCatalogue
    from_file: frozenset[str]
    from_env: frozenset[str]


def read_toml(path: Path) -> dict[str, Any]:
    """The file's tables; a file that cannot be read or is not TOML is a :class:`ConfigError` naming it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from None


def dotted_keys(tables: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Every key of nested tables as ``a.b.c`` (the tables themselves included)."""
    keys: set[str] = set()
    for key, value in tables.items():
        dotted = f"{prefix}{key}"
        keys.add(dotted)
        if isinstance(value, Mapping):
            keys |= dotted_keys(value, f"{dotted}.")
    return keys


def _catalogue(config: HeduiConfig) -> DepartmentCatalogue:
    """The six defaults plus the declared departments; a new one must name its record kinds."""
    for department, table in config.departments.items():
        if department not in _DEFAULT_IDS and table.record_kinds is None:
            kinds = ", ".join(k.value for k in RecordKind)
            raise ConfigError(
                f"departments.{department}.record_kinds: required, since {department!r} is not one of hedui's "
                f"departments ({', '.join(_DEFAULT_IDS)}): declare name_zh, name_en and the record kinds it "
                f"answers with ({kinds})"
            )
    try:
        return DepartmentCatalogue.declare({d: t.declaration() for d, t in config.departments.items()})
    except DepartmentDeclarationError as exc:
        raise ConfigError(str(exc)) from None


def read_config(path: Path | None, *, environ: bool = True) -> LoadedConfig:
    """Validate the file at ``path`` (none: defaults only), overridden by ``HEDUI_*`` variables if ``environ``."""
    raw = read_toml(path) if path is not None else {}
    private = sorted(k for k in raw if k.startswith("_"))
    if private:  # pydantic-settings would take these as its own init options
        raise ConfigError(f"{private[0]}: unknown key")
    from_env = frozenset(dotted_keys(EnvSettingsSource(HeduiConfig)())) if environ else frozenset()
    schema = HeduiConfig if environ else FileOnlyConfig
    try:
        config = schema(**raw)
    except ValidationError as exc:
        raise config_error(exc, from_env) from None
    cross_check(config, from_env)
    return LoadedConfig(config, _catalogue(config), frozenset(dotted_keys(raw)), from_env)


def _entry_key(path: Path | None, create_keys: bool) -> bytes:
    """Issue 12: the entry MAC key's file when one is configured; empty (then derived from the log key) otherwise.
    The read-only tools need none: a missing file is left empty for them, neither created nor reported."""
    if path is None:
        return b""
    return secret_file(path, "audit_entry_key_file", exact=True, missing=None if create_keys else {})


def _sm2_log_key(config: HeduiConfig, base: Path, missing: dict[str, Path] | None) -> bytes:
    """Issue 17: under the ``sm`` suite, the SM2 key co-signing the checkpoints (its file created by the service,
    recorded as missing for the tools); nothing under ``standard``."""
    if config.crypto_suite != "sm":
        return b""
    path = Path(config.audit_log_sm2_key_file or base / "audit-log-sm2.key")
    return sm2_key_file(path, "audit_log_sm2_key_file", missing=missing)


def settings_of(loaded: LoadedConfig, base: Path, *, create_keys: bool) -> Settings:
    """The :class:`Settings` of a validated configuration, the key files read (or created) under ``base``."""
    config = loaded.config
    missing: dict[str, Path] | None = None if create_keys else {}
    subject_file = Path(config.audit_subject_key_file or base / "audit-subject.key")
    log_file = Path(config.audit_log_key_file or base / "audit-log.key")
    entry_file = Path(config.audit_entry_key_file) if config.audit_entry_key_file else None
    log_key = secret_file(log_file, "audit_log_key_file", exact=True, missing=missing)
    sm2_log_key = _sm2_log_key(config, base, missing)  # issue 17
    return Settings(
        database_url=config.database_url or f"sqlite:///{base / 'hedui.db'}",
        listen=config.listen,
        sandbox=Path(config.sandbox) if config.sandbox is not None else None,
        policy_files=tuple(Path(p) for p in config.policy_files),
        department_deadline_seconds=float(config.department_deadline_seconds),
        poll_interval_seconds=float(config.poll_interval_seconds),
        pending_deadline_seconds=float(config.pending_deadline_seconds),
        audit_subject_key=secret_file(subject_file, "audit_subject_key_file", missing=missing),
        audit_log_key=log_key,
        audit_log_origin=config.audit_log_origin,
        audit_integrate_seconds=float(config.audit_integrate_seconds),
        witness_dirs=tuple(Path(p) for p in config.witness_dirs),
        audit_entry_key=_entry_key(entry_file, create_keys) or EntryMac.key_from_log_key(log_key),
        audit_log_state_file=Path(config.audit_log_state_file or log_file.with_name(log_file.stem + ".state")),
        audit_integration_bound_seconds=float(config.audit_integration_bound_seconds),
        departments={d: t.options() for d, t in config.departments.items()},
        department_deadlines={
            d: float(t.deadline_seconds) for d, t in config.departments.items() if t.deadline_seconds is not None
        },
        metrics_listen=config.metrics_listen,
        database_pool_size=config.database_pool_size,
        database_max_overflow=config.database_max_overflow,
        database_pool_timeout_seconds=float(config.database_pool_timeout_seconds),
        work_lease_seconds=float(config.work_lease_seconds),
        work_claim_interval_seconds=float(config.work_claim_interval_seconds),
        missing_key_files=missing or {},
        catalogue=loaded.catalogue,
        centre=config.centre.identity(),
        witness_policy=config.witness_policy.policy(),
        tiles_listen=config.tiles_listen,
        tiles_entries=config.tiles_entries,
        tls=(config.tls or TlsTable()).settings(base),
        # --- issue 17, sealing at rest (docs/sealing.md) ---
        crypto_suite=CryptoSuite(config.crypto_suite),
        audit_log_sm2_key=sm2_log_key,  # the SM suite (docs/crypto-suites.md)
        key_provider=config.key_provider,
        key_dir=Path(config.key_dir or base / "master-keys"),
        department_answers_months=config.department_answers_months,
        # --- end of issue 17's sealing settings ---
    )


def load_settings(
    path: Path | None, base: Path = DEFAULT_BASE, *, create_keys: bool = True, environ: bool = True
) -> Settings:
    """Settings from a TOML file (all keys optional) and ``HEDUI_*`` variables, the audit keys kept under ``base``.

    The service creates missing key files (``create_keys``); read-only tools pass ``create_keys=False``
    and get the missing ones in :attr:`Settings.missing_key_files`, with empty keys, to refuse if they need them.
    """
    return settings_of(read_config(path, environ=environ), base, create_keys=create_keys)
