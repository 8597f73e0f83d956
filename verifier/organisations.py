"""Who may do what (issue 13): the roles a client certificate is given, and the organisations' areas a supervisor sees.

An organisation's id starts with the six-digit administrative division code (GB/T 2260) of the area it
serves, then ``-`` and its name: ``533401-civil-affairs`` is a county's (533401), ``533400-civil-affairs`` a
prefecture's (5334, the county digits ``00``) and ``530000-civil-affairs`` a province's (53). A supervisor
sees the organisations whose code falls in its own area: a province's supervisor every county of the
province, a county's only its county. ``000000`` is the whole country. An id without a code has no area:
its supervisor sees that organisation alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = ["Role", "Scope", "area_of", "area_prefix", "covers", "parse_roles"]

_CODE: Final = re.compile(r"([0-9]{6})(?:-|$)")


class Role(StrEnum):
    """What a client may do (docs/access.md has the table of methods)."""

    CASE_SYSTEM = "case_system"  # register authorizations, create verifications, read its organisation's
    SUPERVISOR = "supervisor"  # the audit log and the reports of its area, read-only
    ADMIN = "admin"  # the trust store, the clients, the policies


def parse_roles(values: list[str] | tuple[str, ...]) -> frozenset[Role]:
    """Role names as roles; :class:`ValueError` naming the first that is not one (or none given)."""
    if not values:
        raise ValueError(f"at least one role is needed: {', '.join(r.value for r in Role)}")
    roles = set()
    for value in values:
        try:
            roles.add(Role(value.strip()))
        except ValueError:
            raise ValueError(f"{value!r} is not a role; one of {', '.join(r.value for r in Role)}") from None
    return frozenset(roles)


def area_of(organisation: str) -> str | None:
    """The area code an organisation's id starts with (``533401``), or ``None`` when it starts with none."""
    match = _CODE.match(organisation)
    return match[1] if match else None


def area_prefix(supervisor: str) -> str | None:
    """The digits every code in ``supervisor``'s area starts with: a county's six, a prefecture's four, a
    province's two, the country's none (``""``); ``None`` when its id starts with no code."""
    area = area_of(supervisor)
    if area is None:
        return None
    if area == "000000":
        return ""
    if area.endswith("0000"):
        return area[:2]
    if area.endswith("00"):
        return area[:4]
    return area


def covers(supervisor: str, organisation: str) -> bool:
    """Whether the organisation ``supervisor`` sees ``organisation``: itself, or one within its area."""
    if supervisor == organisation:
        return True
    prefix, other = area_prefix(supervisor), area_of(organisation)
    return prefix is not None and other is not None and other.startswith(prefix)


@dataclass(frozen=True, slots=True)
class Scope:
    """The organisations a caller may read, in a form a database query can filter by (issue 13): these
    ``organisations`` by id, and those whose code starts with ``area_prefix`` (``None``: no area)."""

    organisations: frozenset[str]
    area_prefix: str | None = None

    def reads(self, organisation: str) -> bool:
        """Whether ``organisation`` is in this scope."""
        if organisation in self.organisations:
            return True
        code = area_of(organisation)
        return self.area_prefix is not None and code is not None and code.startswith(self.area_prefix)
