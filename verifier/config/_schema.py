"""The configuration schema: every key of ``hedui.toml``, typed and checked, with its ``HEDUI_*`` variable.

Read with pydantic-settings: the file's tables are the model's input and ``HEDUI_*`` environment
variables override them (``HEDUI_LISTEN``, nested tables with ``__``:
``HEDUI_DEPARTMENTS__TAX__DEADLINE_SECONDS=20``; lists and tables as JSON, ``HEDUI_POLICY_FILES='["a.toml"]'``).
Validation is strict (a number where a name belongs is an error, not converted); an environment
variable's text is read as the type its key has. Every failure becomes one :class:`ConfigError`
whose message starts with the dotted key.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from verifier.config._centre import CentreTable
from verifier.config._tls import TlsTable
from verifier.config._witness_policy import WitnessPolicyTable

__all__ = [
    "DECLARATION_KEYS",
    "ENV_NESTED_DELIMITER",
    "ENV_PREFIX",
    "ConfigError",
    "DepartmentTable",
    "FileOnlyConfig",
    "HeduiConfig",
    "config_error",
    "cross_check",
    "env_name",
]

ENV_PREFIX: Final = "HEDUI_"
ENV_NESTED_DELIMITER: Final = "__"
# The keys of a department's table that declare it (the rest configure its connector).
DECLARATION_KEYS: Final = ("name_zh", "name_en", "record_kinds")
_ORIGIN = re.compile(r"[^\s+]{1,200}")


class ConfigError(ValueError):
    """A configuration that is not valid; the message starts with the key (``departments.tax.deadline_seconds``)."""


def _positive(value: float) -> float:
    """A number of seconds: above zero and finite."""
    if not value > 0:
        raise PydanticCustomError("positive", "must be positive")
    if not math.isfinite(value):
        raise PydanticCustomError("finite", "must be a finite number")
    return value


def _at_least_one(value: int) -> int:
    """A count of connections that must hold one at least (the pool's size)."""
    if value < 1:
        raise PydanticCustomError("at_least_one", "must be 1 or more")
    return value


def _not_negative(value: int) -> int:
    """A count that may be zero (connections beyond the pool's size)."""
    if value < 0:
        raise PydanticCustomError("not_negative", "must be 0 or more")
    return value


def _origin(value: str) -> str:
    """The audit log's name in its checkpoints: no spaces, no ``+`` (C2SP signed-note key names)."""
    if not _ORIGIN.fullmatch(value):
        raise PydanticCustomError("origin", "must be a name without spaces or '+', e.g. hedui.county.example/audit")
    return value


def _host_port(value: str) -> str:
    """Empty (no metrics endpoint) or ``HOST:PORT``, the port from 0 (any free one) to 65535, a host given."""
    if not value:
        return value
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535 or any(c.isspace() for c in value):
        raise PydanticCustomError("host_port", "{value} is not host:port (port 0-65535)", {"value": repr(value)})
    return value


def _listen(value: str) -> str:
    """The gRPC address: ``HOST:PORT`` (required)."""
    if not value:
        raise PydanticCustomError("host_port", "must be host:port")
    return _host_port(value)


def _database_url(value: str) -> str:
    """A SQLite or PostgreSQL URL, the only databases hedui runs on."""
    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        raise PydanticCustomError("url", "{value} is not a database URL", {"value": repr(value)}) from None
    if backend not in ("sqlite", "postgresql"):
        raise PydanticCustomError(
            "url", "{backend} is not supported (use sqlite:/// or postgresql://)", {"backend": backend}
        )
    return value


Seconds = Annotated[float, AfterValidator(_positive)]
PoolSize = Annotated[int, AfterValidator(_at_least_one)]
Overflow = Annotated[int, AfterValidator(_not_negative)]


class DepartmentTable(BaseModel):
    """``[departments.<id>]``: the declaration (names, record kinds), the connector, its deadline, its options.

    Keys other than these are the connector's own options, handed to its factory unchanged.
    """

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    name_zh: str | None = None
    name_en: str | None = None
    record_kinds: list[str] | None = None
    connector: str | None = None
    deadline_seconds: Seconds | None = None

    def options(self) -> dict[str, Any]:
        """The table as the connector registry reads it: ``connector``, ``deadline_seconds`` and the options."""
        raw = self.model_dump(exclude_none=True, exclude=set(DECLARATION_KEYS))
        return {**raw, **(self.model_extra or {})}

    def declaration(self) -> dict[str, Any]:
        """The keys :meth:`DepartmentCatalogue.declare` reads, those that are set."""
        return self.model_dump(exclude_none=True, include=set(DECLARATION_KEYS))


class HeduiConfig(BaseSettings):
    """The whole configuration; unknown keys are errors. ``None`` means "the default under the base directory"."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        strict=True,
        frozen=True,
    )

    database_url: Annotated[str, AfterValidator(_database_url)] | None = None
    database_pool_size: PoolSize = 10
    database_max_overflow: Overflow = 20
    database_pool_timeout_seconds: Seconds = 5.0
    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:50051"
    sandbox: str | None = None
    policy_files: list[str] = []
    department_deadline_seconds: Seconds = 10.0
    poll_interval_seconds: Seconds = 1.0
    pending_deadline_seconds: Seconds = 3 * 24 * 3600.0
    work_lease_seconds: Seconds = 30.0
    work_claim_interval_seconds: Seconds = 0.5
    audit_subject_key_file: str | None = None
    audit_log_key_file: str | None = None
    audit_log_origin: Annotated[str, AfterValidator(_origin)] = "hedui.local/audit"
    audit_integrate_seconds: Seconds = 0.2
    witness_dirs: list[str] = []
    # Issue 12 (the audit signer): the entry key (MACs), the signer's state beside the log key, and how long
    # entries may wait for integration before writes stop.
    audit_entry_key_file: str | None = None
    audit_log_state_file: str | None = None
    audit_integration_bound_seconds: Seconds = 300.0
    departments: dict[str, DepartmentTable] = {}
    metrics_listen: Annotated[str, AfterValidator(_host_port)] = ""
    # --- issue 15 (operations): logs, readiness, tracing; read by `hedui serve` (verifier/cli/serve.py) ---
    log_format: Literal["auto", "json", "text"] = "auto"  # auto: text on a terminal, JSON lines elsewhere
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    health_check_interval_seconds: Seconds = 5.0  # how often readiness is probed (gRPC health, /readyz)
    tracing: bool = False  # OpenTelemetry spans per call (the `tracing` extra; exporter from OTEL_* variables)
    # --- end of issue 15's keys ---
    # Issue 14: the verification centre's identity on its printed reports (verifier/config/_centre.py).
    centre: CentreTable = CentreTable()
    # --- issue 12 (witnesses, tiles): network witnesses and their quorum (verifier/config/_witness_policy.py),
    # and where the log is served read-only as C2SP tlog-tiles (empty: not served) ---
    witness_policy: WitnessPolicyTable = WitnessPolicyTable()
    tiles_listen: Annotated[str, AfterValidator(_host_port)] = ""
    # Issue 13: entry bundles (tile/entries/...) carry the entries themselves: served only when asked for.
    tiles_entries: bool = False
    # --- end of issue 12's witness and tiles keys ---
    # Issue 13: the server's certificate and its clients' CA (verifier/config/_tls.py, docs/access.md).
    tls: TlsTable | None = None
    # --- issue 17 (personal data at rest, retention, the suite: docs/sealing.md, docs/crypto-suites.md) ---
    crypto_suite: Literal["standard", "sm"] = "standard"
    key_provider: str = "file"  # "file" (key_dir) or the name of an entry point of the group hedui.key_providers
    key_dir: str | None = None  # the file provider's master keys (default <base>/master-keys)
    department_answers_months: PoolSize = 12  # then crypto-shredded (hedui retention run, daily in the service)
    audit_log_sm2_key_file: str | None = None  # PKCS#8 PEM, created like the others (default <base>/audit-log-sm2.key)
    # --- end of issue 17's keys ---

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment first (it wins), then the file's values (given as the model's input)."""
        return env_settings, init_settings


class FileOnlyConfig(HeduiConfig):
    """The same schema reading the file alone (``hedui config check FILE``: the shell's variables do not count)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the file's values."""
        return (init_settings,)


def env_name(key: str) -> str:
    """The environment variable of a dotted key: ``departments.tax.deadline_seconds`` → ``HEDUI_DEPARTMENTS__TAX__…``"""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(key.split(".")).upper()


# Messages of today's hand-written checks, kept for the keys whose failures tests and operators know.
_DEPARTMENT_MESSAGES: Final = {
    "deadline_seconds": "must be a positive number",
    "connector": "must be an entry point name",
}


def _message(error: ErrorDetails) -> str:
    """The text after ``key:`` for one pydantic error."""
    loc = error["loc"]
    if len(loc) == 3 and loc[0] == "departments" and str(loc[2]) in _DEPARTMENT_MESSAGES:
        return _DEPARTMENT_MESSAGES[str(loc[2])]
    if len(loc) == 2 and loc[0] == "departments" and error["type"] == "model_type":
        return "must be a table"
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"].endswith("_type") or error["type"] in ("missing", "is_instance_of"):
        return f"wrong type ({error['msg'][0].lower()}{error['msg'][1:]})"
    return error["msg"]


def cross_check(config: HeduiConfig, from_env: set[str] | frozenset[str] = frozenset()) -> None:
    """The rules between keys: a claim on a step must outlast the interval at which claims are looked for,
    else a live process's steps are taken over between two of its looks."""
    if not config.work_lease_seconds > config.work_claim_interval_seconds:
        key = "work_lease_seconds"
        where = f" (from {env_name(key)})" if key in from_env else ""
        raise ConfigError(
            f"{key}: must be longer than work_claim_interval_seconds "
            f"({config.work_lease_seconds:g} ≤ {config.work_claim_interval_seconds:g}){where}"
        )


def config_error(exc: ValidationError, from_env: set[str] | frozenset[str] = frozenset()) -> ConfigError:
    """One line for the first failure: the dotted key, what is wrong, and the variable if the value came from one."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"] if not isinstance(part, int)) or "config"
    where = f" (from {env_name(key)})" if key in from_env else ""
    return ConfigError(f"{key}: {_message(error)}{where}")
