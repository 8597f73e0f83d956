"""Rules on computed figures: declared income, the standard, gradual exit (department "computed")."""

from __future__ import annotations

import datetime as dt

from assessment_kit import APPLICANT, context, member, request, sources, tax

from verifier.assessment.engine import measure
from verifier.assessment.recheck import PreviousReport
from verifier.assessment.rules.computed import DeclaredIncome, GradualExit, IncomeAboveStandard


def wages(amount: int, months: int) -> dict[str, list[object]]:
    return {"tax": [tax(APPLICANT, f"2026-{m:02d}", amount) for m in range(1, months + 1)]}


def test_declared_income_mismatch_beyond_tolerance_and_one_standard() -> None:
    # verified 10 × 100_000 = 1_000_000; declared 800_000: over 800_000 × 1.1 and by 200_000 > S = 85_000
    ctx = context(request(member(APPLICANT, 800_000)), sources(wages(100_000, 10)))
    [flag] = list(DeclaredIncome().flags(ctx, measure(ctx).facts))
    assert (flag.code, flag.id_number, flag.department) == ("DECLARED_INCOME_MISMATCH", APPLICANT, "computed")
    assert flag.message_zh == "核对收入 10,000.00 元超过申报收入 8,000.00 元。"
    # declared 920_000: 1_000_000 ≤ 920_000 × 1.1 = 1_012_000, no flag
    ctx = context(request(member(APPLICANT, 920_000)), sources(wages(100_000, 10)))
    assert list(DeclaredIncome().flags(ctx, measure(ctx).facts)) == []


def test_income_above_standard_at_exactly_the_standard() -> None:
    # 12 × 85_000 = 1_020_000 a year, n = 1: exactly S a month
    ctx = context(request(member(APPLICANT, 1_020_000)))
    [flag] = list(IncomeAboveStandard().flags(ctx, measure(ctx).facts))
    assert [(e.field, e.value) for e in flag.evidence] == [
        ("per_capita_monthly_income_fen", "85000"),
        ("standard_fen", "85000"),
    ]
    below = context(request(member(APPLICANT, 1_019_988)))  # 84_999 a month
    assert list(IncomeAboveStandard().flags(below, measure(below).facts)) == []


def test_gradual_exit_through_wages() -> None:
    previous = PreviousReport(
        report_id="prev-1",
        verification_id="v-0",
        version=1,
        application_date=dt.date(2026, 5, 1),
        classification="DIBAO",
        household_size=1,
        annual_income_fen=600_000,
        income_by_category={"wages": 0, "declared_unverified": 600_000},
        deductions_fen=0,
        per_capita_monthly_income_fen=50_000,
        standard_fen=85_000,
        financial_assets_fen=0,
        residential_properties=0,
        members=(),
        flags=(),
    )
    # now: declared 600_000 floor, wages 6 × 200_000 = 1_200_000 verified; annual 1_200_000, 100_000 a month ≥ S;
    # the rise in wages (1_200_000) explains the rise in income (600_000): without it 600_000 / 12 = 50_000 < S
    req = request(member(APPLICANT, 600_000), purpose="RECHECK", previous_report_id="prev-1")
    ctx = context(req, sources(wages(200_000, 6)))
    facts = measure(ctx, previous).facts
    [flag] = list(GradualExit().flags(ctx, facts))
    assert flag.department == "computed" and flag.message_en.endswith("until 2027-05-01.")
    assert ("per_capita_monthly_income_without_wage_rise_fen", "50000") in [(e.field, e.value) for e in flag.evidence]
    assert list(GradualExit().flags(ctx, measure(ctx).facts)) == []  # not a recheck: no previous report
