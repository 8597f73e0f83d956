"""The rules table: every warning code raised by exactly one rule, in report order."""

from __future__ import annotations

from collections import Counter

from verifier.assessment.flags import CATALOGUE, WarningCode
from verifier.assessment.rules import ASSET_CODES, RULES
from verifier.assessment.rules.assets import Businesses, FinancialAssets
from verifier.assessment.rules.identity import RegisterIdentity
from verifier.assessment.rules.sources import Sources


def test_each_code_belongs_to_exactly_one_rule() -> None:
    claimed = Counter(code for rule in RULES for code in rule.codes)
    assert set(claimed) == set(WarningCode) == set(CATALOGUE)
    assert all(n == 1 for n in claimed.values())


def test_the_table_runs_register_first_and_sources_last() -> None:
    kinds = [type(rule) for rule in RULES]
    assert kinds[0] is RegisterIdentity and kinds[-1] is Sources
    assert kinds.index(FinancialAssets) < kinds.index(Businesses)


def test_asset_codes_are_the_ones_that_make_a_household_not_eligible_on_assets() -> None:
    assert {
        "FINANCIAL_ASSETS_ABOVE_LIMIT",
        "MULTIPLE_PROPERTIES",
        "NON_RESIDENTIAL_PROPERTY",
        "VEHICLE_OWNED",
        "BUSINESS_REGISTERED",
    } == ASSET_CODES
