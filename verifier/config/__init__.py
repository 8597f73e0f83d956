"""hedui's configuration: one typed schema read from ``hedui.toml`` and ``HEDUI_*`` variables, secrets from files.

- :func:`load_settings` gives the :class:`Settings` the service, the fan-out and the commands read,
  with the departments the configuration declares in :attr:`Settings.catalogue`.
- :func:`read_config` validates without opening key files (``hedui config check``), and
  :func:`effective_config` lists every value with where it came from (``hedui config show``).
- Every problem is a :class:`ConfigError` whose message starts with the dotted key.
"""

from __future__ import annotations

from verifier.config._centre import CentreIdentity
from verifier.config._load import DEFAULT_BASE, LoadedConfig, load_settings, read_config, settings_of
from verifier.config._schema import ENV_NESTED_DELIMITER, ENV_PREFIX, ConfigError, DepartmentTable, HeduiConfig
from verifier.config._settings import Settings
from verifier.config._show import Source, Value, effective_config
from verifier.config._tls import TlsSettings

__all__ = [
    "DEFAULT_BASE",
    "ENV_NESTED_DELIMITER",
    "ENV_PREFIX",
    "CentreIdentity",
    "ConfigError",
    "DepartmentTable",
    "HeduiConfig",
    "LoadedConfig",
    "Settings",
    "Source",
    "TlsSettings",
    "Value",
    "effective_config",
    "load_settings",
    "read_config",
    "settings_of",
]
