"""Employment rules: employers' contributions, public employment, insurance premiums."""

from __future__ import annotations

from assessment_kit import APPLICANT, context, contribution, sources

from connectors.departments import DepartmentCatalogue
from connectors.records import InsurancePremiumRecord, ProvidentFundRecord
from verifier.assessment.engine import measure
from verifier.assessment.rules.employment import EmploymentEvidence, InsurancePremiums

FUND_CENTRE = DepartmentCatalogue.declare(
    {
        "provident_fund": {
            "name_zh": "住房公积金管理中心",
            "name_en": "Provident fund",
            "record_kinds": ["provident_fund"],
        }
    }
)


def test_employer_contributions_and_public_employment_per_member() -> None:
    records = {
        "social_security": [
            contribution(APPLICANT, "2026-01", employer=16_000, scheme="public_institution"),
            contribution(APPLICANT, "2025-10", employer=16_000),  # outside the window
        ],
        "provident_fund": [ProvidentFundRecord("PF-1", APPLICANT, "2026-02", "单位", 5_000, 5_000)],
    }
    ctx = context(srcs=sources(records), catalogue=FUND_CENTRE)
    flags = list(EmploymentEvidence().flags(ctx, measure(ctx).facts))
    assert [(f.code, f.department, [e.record_id for e in f.evidence]) for f in flags] == [
        ("EMPLOYER_CONTRIBUTIONS", "social_security", ["SS-0118-2026-01"]),
        ("EMPLOYER_CONTRIBUTIONS", "provident_fund", ["PF-1"]),  # the fund centre supplied it
        ("PUBLIC_EMPLOYEE", "social_security", ["SS-0118-2026-01"]),
    ]


def test_no_employer_flag_without_an_employer_part() -> None:
    ctx = context(srcs=sources({"social_security": [contribution(APPLICANT, "2026-01", personal=8_000)]}))
    assert list(EmploymentEvidence().flags(ctx, measure(ctx).facts)) == []


def test_premiums_above_the_policy_months_of_the_standard() -> None:
    # limit = 12 × 85_000 = 1_020_000 (default policy insurance_premium_months = 12)
    premiums = [
        InsurancePremiumRecord("IP-1", APPLICANT, "某保险", "2026-01", 600_000),
        InsurancePremiumRecord("IP-2", APPLICANT, "某保险", "2026-02", 420_001),
    ]
    ctx = context(srcs=sources({"banks": premiums}))
    [flag] = list(InsurancePremiums().flags(ctx, measure(ctx).facts))
    assert (flag.code, flag.department, flag.id_number) == ("LARGE_INSURANCE_PREMIUM", "banks", None)
    assert flag.message_zh == "核对期内商业保险保费 10,200.01 元，超过 10,200.00 元。"
