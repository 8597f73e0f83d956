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
from enum import StrEnum
from typing import Final

__all__ = ["Role", "area_of", "covers", "parse_roles"]

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


def covers(supervisor: str, organisation: str) -> bool:
    """Whether the organisation ``supervisor`` sees ``organisation``: itself, or one within its area."""
    if supervisor == organisation:
        return True
    area, other = area_of(supervisor), area_of(organisation)
    if area is None or other is None:
        return False
    if area == "000000":
        return True
    if area.endswith("0000"):
        return other[:2] == area[:2]
    if area.endswith("00"):
        return other[:4] == area[:4]
    return other == area
