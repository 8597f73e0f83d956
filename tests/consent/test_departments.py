"""A department id's grammar: consent/departments.py."""

from __future__ import annotations

import pytest

from connectors.departments import DEPARTMENT_ID as DECLARATIONS_DEPARTMENT_ID
from consent.departments import ALL_DEPARTMENTS, DEPARTMENT_ID, is_department_id


@pytest.mark.parametrize("value", ["police", "social_security", "market_regulation", "tax2", "ab", "a" * 40])
def test_well_formed_ids(value: str) -> None:
    assert is_department_id(value)


@pytest.mark.parametrize(
    "value",
    ["*", "a", "a" * 41, "Police", "2tax", "_tax", "market-regulation", "市场监管", "tax ", "", 5, None, ["tax"]],
)
def test_malformed_ids(value: object) -> None:
    assert not is_department_id(value)


def test_all_departments_is_the_star() -> None:
    assert ALL_DEPARTMENTS == "*"


def test_declarations_and_authorizations_share_one_grammar() -> None:
    assert DECLARATIONS_DEPARTMENT_ID is DEPARTMENT_ID
