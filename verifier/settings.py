"""Kept for the modules that import the settings from here: the schema and loader live in :mod:`verifier.config`."""

from __future__ import annotations

from verifier.config import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
