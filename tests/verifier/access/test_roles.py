"""Roles and areas (verifier/access/_roles.py): what a supervisor's organisation sees, by its area code."""

from __future__ import annotations

import pytest

from verifier.access import Role, area_of, covers, parse_roles


def test_roles_are_parsed_and_an_unknown_one_is_named() -> None:
    assert parse_roles(["case_system", "admin"]) == {Role.CASE_SYSTEM, Role.ADMIN}
    with pytest.raises(ValueError, match="'root' is not a role"):
        parse_roles(["root"])
    with pytest.raises(ValueError, match="at least one role"):
        parse_roles([])


def test_an_organisations_area_is_the_code_its_id_starts_with() -> None:
    assert area_of("533401-civil-affairs") == "533401"
    assert area_of("533401") == "533401"
    assert area_of("civil-affairs") is None
    assert area_of("5334011-x") is None  # seven digits are no division code


@pytest.mark.parametrize(
    ("supervisor", "organisation", "sees"),
    [
        ("533401-civil-affairs", "533401-civil-affairs", True),  # itself
        ("533401-supervision", "533401-civil-affairs", True),  # the same county
        ("533401-supervision", "533402-civil-affairs", False),  # the next county
        ("533400-supervision", "533402-civil-affairs", True),  # its prefecture's county
        ("533400-supervision", "533501-civil-affairs", False),  # another prefecture
        ("530000-supervision", "533501-civil-affairs", True),  # its province
        ("530000-supervision", "520101-civil-affairs", False),  # another province
        ("000000-ministry", "520101-civil-affairs", True),  # the country
        ("civil-affairs", "civil-affairs", True),  # no code: itself only
        ("civil-affairs", "533401-civil-affairs", False),
        ("533400-supervision", "civil-affairs", False),
    ],
)
def test_a_supervisor_sees_the_organisations_of_its_area(supervisor: str, organisation: str, sees: bool) -> None:
    assert covers(supervisor, organisation) is sees
