"""Finding connectors: Python entry points in the group ``hedui.connectors``, chosen per department in config.

A department ships a package whose ``pyproject.toml`` declares, e.g.::

    [project.entry-points."hedui.connectors"]
    tax-bureau-533401 = "tax_connector:factory"

where ``factory(department: str, options: Mapping[str, Any]) -> Connector``. The verification
centre installs the package and names the entry point in hedui's config (``[departments.tax]
connector = "tax-bureau-533401"``); hedui itself is never edited.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from connectors.base import Connector
from connectors.records import DEPARTMENTS

__all__ = ["ENTRY_POINT_GROUP", "ConnectorConfigError", "build_connectors", "installed", "load_connector"]

ENTRY_POINT_GROUP = "hedui.connectors"


class ConnectorConfigError(ValueError):
    """A connector that cannot be loaded as configured; the message names the department."""


def installed() -> dict[str, EntryPoint]:
    """The connector entry points installed in this environment, by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_connector(department: str, name: str, options: Mapping[str, Any]) -> Connector:
    """Build the connector of entry point ``name`` for ``department`` and check that it is one."""
    found = installed().get(name)
    if found is None:
        known = ", ".join(sorted(installed())) or "none"
        raise ConnectorConfigError(f"departments.{department}.connector: no entry point {name!r} (installed: {known})")
    try:
        connector = found.load()(department, options)
    except (ImportError, AttributeError) as exc:
        raise ConnectorConfigError(f"departments.{department}.connector: {name!r} does not load: {exc}") from None
    except (ValueError, TypeError, OSError) as exc:
        raise ConnectorConfigError(f"departments.{department}: {exc}") from None
    if not isinstance(connector, Connector):
        raise ConnectorConfigError(f"departments.{department}.connector: {name!r} did not give a Connector")
    described = connector.describe().department
    if described != department:
        raise ConnectorConfigError(f"departments.{department}.connector: {name!r} describes itself as {described!r}")
    return connector


def build_connectors(
    departments: Mapping[str, Mapping[str, Any]], defaults: Mapping[str, Any] | None = None
) -> dict[str, Connector]:
    """One connector per department: the configured entry point (``sandbox`` if none) with its options."""
    unknown = sorted(set(departments) - set(DEPARTMENTS))
    if unknown:
        raise ConnectorConfigError(f"departments.{unknown[0]}: unknown department (one of {', '.join(DEPARTMENTS)})")
    built: dict[str, Connector] = {}
    for department in DEPARTMENTS:
        spec = dict(departments.get(department, {}))
        name = str(spec.pop("connector", "sandbox"))
        spec.pop("deadline_seconds", None)
        built[department] = load_connector(department, name, {**(defaults or {}), **spec})
    return built
