"""The effective configuration as an operator reads it: every value, redacted where secret, with its source."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from sqlalchemy.engine import make_url

from verifier.config._load import LoadedConfig
from verifier.config._schema import env_name

__all__ = ["REDACTED", "Source", "Value", "effective_config"]

REDACTED: Final = "<redacted>"
# Connector options whose values are never printed (a sandbox ticket key, a client's password or token).
_SECRET_OPTION = re.compile(r"key|secret|password|token|credential", re.IGNORECASE)
_SKIPPED: Final = ("departments",)


class Source(StrEnum):
    """Where a value of the effective configuration came from."""

    DEFAULT = "default"
    FILE = "file"
    ENV = "env"


@dataclass(frozen=True, slots=True)
class Value:
    """One key of the effective configuration: its dotted name, its value as TOML text, its source."""

    key: str
    shown: str
    source: Source
    note: str = ""

    def origin(self) -> str:
        """The source as a line of ``config show`` names it (``env HEDUI_LISTEN``)."""
        return f"env {env_name(self.key)}" if self.source is Source.ENV else self.source.value


def _toml(value: Any) -> str:
    """A value as TOML writes it (strings quoted, lists bracketed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def _source(loaded: LoadedConfig, key: str) -> Source:
    """Where a dotted key's value came from: the environment wins over the file."""
    if key in loaded.from_env:
        return Source.ENV
    return Source.FILE if key in loaded.from_file else Source.DEFAULT


def _database_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def _top_level(loaded: LoadedConfig, base: Path) -> list[Value]:
    """The keys outside ``[departments]``, the defaults that depend on the base directory filled in."""
    config = loaded.config
    resolved: dict[str, Any] = config.model_dump(exclude=set(_SKIPPED))
    resolved["database_url"] = _database_url(config.database_url or f"sqlite:///{base / 'hedui.db'}")
    resolved["audit_subject_key_file"] = config.audit_subject_key_file or str(base / "audit-subject.key")
    resolved["audit_log_key_file"] = config.audit_log_key_file or str(base / "audit-log.key")
    log_file = Path(resolved["audit_log_key_file"])
    resolved["audit_log_state_file"] = config.audit_log_state_file or str(log_file.with_name(log_file.stem + ".state"))
    values = []
    for key, value in resolved.items():
        if value is None:
            continue
        note = ""
        if key.endswith("_key_file"):
            note = "secret key file (the key is never shown)" + ("" if Path(value).exists() else "; does not exist")
        values.append(Value(key, _toml(value), _source(loaded, key), note))
    return values


def _departments(loaded: LoadedConfig) -> list[Value]:
    """Each department of the catalogue: its declaration, connector, deadline and (redacted) options."""
    config = loaded.config
    values = []
    for department in loaded.catalogue.values():
        where = f"departments.{department.id}"
        table = config.departments.get(department.id)
        options = table.options() if table is not None else {}
        declared: dict[str, Any] = {
            "name_zh": department.name_zh,
            "name_en": department.name_en,
            "record_kinds": sorted(department.record_kinds),
            "connector": options.pop("connector", "sandbox"),
            "deadline_seconds": options.pop("deadline_seconds", config.department_deadline_seconds),
        }
        for key, value in {**declared, **options}.items():
            secret = key in options and _SECRET_OPTION.search(key) is not None
            shown = _toml(REDACTED) if secret else _toml(value)
            values.append(Value(f"{where}.{key}", shown, _source(loaded, f"{where}.{key}")))
    return values


def effective_config(loaded: LoadedConfig, base: Path) -> list[Value]:
    """Every value a service with this configuration runs with, in the schema's order, then the departments."""
    return [*_top_level(loaded, base), *_departments(loaded)]
