"""A member's verified income by category over the window (policy.md "Income")."""

from __future__ import annotations

import dataclasses

from assessment_kit import APPLICANT, context, contribution, sources, tax

from connectors.records import BenefitRecord, PensionRecord, RentalRecord
from verifier.assessment.income import member_income, member_status
from verifier.policy import default_policy


def test_wages_of_a_month_are_the_larger_of_tax_and_contribution_base_counted_once() -> None:
    records = {
        "tax": [tax(APPLICANT, "2026-01", 300_000), tax(APPLICANT, "2026-02", 100_000)],
        "social_security": [
            contribution(APPLICANT, "2026-02", base=250_000),  # larger than the taxed 100_000
            contribution(APPLICANT, "2026-03", base=200_000),
            contribution(APPLICANT, "2026-04", base=90_000, scheme="urban_rural_resident"),  # not a wage
        ],
    }
    income = member_income(context(srcs=sources(records)), APPLICANT)
    # 300_000 (01) + max(100_000, 250_000) (02) + 200_000 (03) = 750_000
    assert income.by_category["wages"] == 750_000
    assert income.wage_months == frozenset({"2026-01", "2026-02", "2026-03"})


def test_property_income_is_the_larger_of_taxed_property_income_and_rent_per_month() -> None:
    records = {
        "tax": [tax(APPLICANT, "2026-05", 40_000, "property")],
        "housing": [
            RentalRecord("R-1", APPLICANT, "2026-05", 50_000),
            RentalRecord("R-2", APPLICANT, "2026-06", 30_000),
        ],
    }
    # max(40_000, 50_000) + 30_000 = 80_000
    assert member_income(context(srcs=sources(records)), APPLICANT).by_category["property"] == 80_000


def test_months_outside_the_window_do_not_count() -> None:
    records = {
        "tax": [tax(APPLICANT, "2025-10", 1_000), tax(APPLICANT, "2026-11", 2_000), tax(APPLICANT, "2026-10", 4)]
    }
    assert member_income(context(srcs=sources(records)), APPLICANT).verified == 4


def test_benefits_the_policy_excludes_are_not_income() -> None:
    benefits = [
        BenefitRecord("BN-1", APPLICANT, "2026-01", "unemployment", 10_000),
        BenefitRecord("BN-2", APPLICANT, "2026-01", "disability_allowance", 20_000),
    ]
    policy = dataclasses.replace(default_policy(), excluded_income_categories=frozenset({"disability_allowance"}))
    ctx = context(srcs=sources({"social_security": benefits}), policy=policy)
    assert member_income(ctx, APPLICANT).by_category["benefits"] == 10_000


def test_every_category_is_listed() -> None:
    records = {
        "tax": [tax(APPLICANT, "2026-01", 1, "business"), tax(APPLICANT, "2026-01", 2, "other")],
        "social_security": [PensionRecord("PN-1", APPLICANT, "2026-01", 4)],
    }
    income = member_income(context(srcs=sources(records)), APPLICANT)
    assert income.by_category == {"wages": 0, "business": 1, "property": 0, "pensions": 4, "benefits": 0, "other": 2}
    assert income.verified == 7


def test_status_comes_from_the_person_record_else_unknown() -> None:
    assert member_status(context(), APPLICANT)[0] == "active"
    assert member_status(context(srcs=sources(persons=[])), APPLICANT) == ("unknown", None)
