"""Finding connectors: Python entry points in the group ``hedui.connectors``, chosen per department in config.

A department ships a package whose ``pyproject.toml`` declares, e.g.::

    [project.entry-points."hedui.connectors"]
    tax-bureau-533401 = "tax_connector:factory"

where ``factory(department: str, options: Mapping[str, Any]) -> Connector``. The verification
centre installs the package and names the entry point in hedui's config (``[departments.tax]
connector = "tax-bureau-533401"``); a department that is not one of the six is declared in the same
table (``name_zh``, ``name_en``, ``record_kinds``). hedui itself is never edited.

Every connector is checked when it is loaded: it must describe the department it was built for,
and every data category it names must be a record kind hedui knows and the department declares.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final

from connectors.base import Connector, ConnectorDescription
from connectors.departments import DEFAULT_DEPARTMENTS, Department, DepartmentCatalogue
from connectors.records import DATA_CATEGORIES

__all__ = [
    "DECLARATION_KEYS",
    "ENTRY_POINT_GROUP",
    "SANDBOX_DEPARTMENTS",
    "ConnectorConfigError",
    "build_connectors",
    "category_problem",
    "department_options",
    "installed",
    "load_connector",
    "make_connector",
]

ENTRY_POINT_GROUP: Final = "hedui.connectors"
DECLARATION_KEYS: Final = frozenset({"connector", "deadline_seconds", "name_zh", "name_en", "record_kinds"})
"""Keys of a ``[departments.<id>]`` table that are hedui's, not options for the department's connector."""
SANDBOX_DEPARTMENTS: Final = frozenset(d.id for d in DEFAULT_DEPARTMENTS)
"""The departments the built-in sandbox serves unless configured otherwise (interfaces.md's six)."""

Factory = Callable[..., object]


class ConnectorConfigError(ValueError):
    """A connector that cannot be loaded as configured; the message names the department."""


def installed() -> dict[str, EntryPoint]:
    """The connector entry points installed in this environment, by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def department_options(table: Mapping[str, Any]) -> dict[str, Any]:
    """The options a department's connector gets: its config table without hedui's own keys."""
    return {key: value for key, value in table.items() if key not in DECLARATION_KEYS}


def make_connector(
    factory: Factory, department: str, options: Mapping[str, Any], catalogue: DepartmentCatalogue
) -> object:
    """Call a factory; one that takes a keyword ``catalogue`` (the built-in ones) is given the service's."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    if "catalogue" in parameters:
        return factory(department, options, catalogue=catalogue)
    return factory(department, options)


def category_problem(department: Department, description: ConnectorDescription) -> str | None:
    """What is wrong with the data categories a connector describes, for its department's declaration."""
    for category in description.data_categories:
        kind = DATA_CATEGORIES.get(category)
        if kind is None:
            known = ", ".join(k for k in DATA_CATEGORIES)
            return f"answers with {category!r:.60}, a record kind hedui does not know (one of {known})"
        if not department.answers_with(kind):
            declared = ", ".join(sorted(department.record_kinds))
            return f"answers with {kind} records, which {department.id} does not declare (record_kinds: {declared})"
    return None


def _factory(department: str, name: str) -> Factory:
    """The loaded factory of entry point ``name``; problems name ``departments.<id>.connector``."""
    found = installed().get(name)
    if found is None:
        known = ", ".join(sorted(installed())) or "none"
        raise ConnectorConfigError(f"departments.{department}.connector: no entry point {name!r} (installed: {known})")
    try:
        factory = found.load()
    except (ImportError, AttributeError) as exc:
        raise ConnectorConfigError(f"departments.{department}.connector: {name!r} does not load: {exc}") from None
    if not callable(factory):
        raise ConnectorConfigError(f"departments.{department}.connector: {name!r} is not callable")
    return factory  # type: ignore[no-any-return]


def load_connector(
    department: str | Department,
    name: str,
    options: Mapping[str, Any],
    catalogue: DepartmentCatalogue | None = None,
) -> Connector:
    """Build the connector of entry point ``name`` for ``department`` and check that it is one for it.

    ``department`` is a declaration or the id of one in ``catalogue`` (default: the six).
    """
    departments = catalogue if catalogue is not None else DepartmentCatalogue()
    declared = department if isinstance(department, Department) else departments.get(department)
    if declared is None:
        raise ConnectorConfigError(f"departments.{department}: unknown department (one of {', '.join(departments)})")
    factory = _factory(declared.id, name)
    where = f"departments.{declared.id}"
    try:
        connector = make_connector(factory, declared.id, options, departments)
    except (ImportError, AttributeError) as exc:
        raise ConnectorConfigError(f"{where}.connector: {name!r} does not load: {exc}") from None
    except (ValueError, TypeError, OSError) as exc:
        raise ConnectorConfigError(f"{where}: {exc}") from None
    if not isinstance(connector, Connector):
        raise ConnectorConfigError(f"{where}.connector: {name!r} did not give a Connector")
    description = connector.describe()
    if description.department != declared.id:
        raise ConnectorConfigError(f"{where}.connector: {name!r} describes itself as {description.department!r}")
    problem = category_problem(declared, description)
    if problem is not None:
        raise ConnectorConfigError(f"{where}.connector: {name!r} {problem}")
    return connector


def _connector_name(department: Department, table: Mapping[str, Any]) -> str:
    """The entry point a department is served by: configured, else the sandbox for the six."""
    name = table.get("connector")
    if name is None and department.id in SANDBOX_DEPARTMENTS:
        return "sandbox"
    if not isinstance(name, str) or not name:
        raise ConnectorConfigError(
            f"departments.{department.id}.connector: name the entry point of {department.id}'s connector "
            "(the built-in sandbox serves only the six default departments)"
        )
    return name


def build_connectors(
    catalogue: DepartmentCatalogue,
    department_tables: Mapping[str, Any] | None = None,
    sandbox_defaults: Mapping[str, Any] | None = None,
) -> dict[str, Connector]:
    """One connector per declared department: its configured entry point with its table's options.

    ``department_tables`` are the ``[departments.<id>]`` tables; ``sandbox_defaults`` are options the
    built-in ``sandbox`` connectors get unless the table sets them (the shared dataset): a department's
    own factory gets its own table's options and nothing else. A table of a department the catalogue does
    not declare is an error, and so is a department beyond the six without a ``connector``.
    """
    tables: Mapping[str, Mapping[str, Any]] = department_tables or {}
    unknown = sorted(set(tables) - set(catalogue))
    if unknown:
        raise ConnectorConfigError(f"departments.{unknown[0]}: unknown department (one of {', '.join(catalogue)})")
    built: dict[str, Connector] = {}
    for department in catalogue.values():
        table = tables.get(department.id, {})
        name = _connector_name(department, table)
        shared = (sandbox_defaults or {}) if name == "sandbox" else {}
        options = {**shared, **department_options(table)}
        built[department.id] = load_connector(department, name, options, catalogue)
    return built
