"""Rechecks as data: the previous report, the change section, gradual exit and the next recheck date."""

from __future__ import annotations

import datetime as dt

import pytest

from verifier.assessment.recheck import (
    CurrentMember,
    HouseholdNow,
    PreviousFlag,
    PreviousMember,
    PreviousReport,
    ReportChanges,
    compare,
    gradual_exit,
    months_after,
    next_recheck_date,
    of_working_age,
)
from verifier.policy import default_policy

A, B, C = "533401197803120118", "53340119800605022X", "533401200809110310"


def previous() -> PreviousReport:
    return PreviousReport(
        report_id="p-1",
        verification_id="v-1",
        version=2,
        application_date=dt.date(2026, 5, 1),
        classification="DIBAO",
        household_size=2,
        annual_income_fen=720_000,
        income_by_category={"wages": 120_000, "declared_unverified": 600_000},
        deductions_fen=0,
        per_capita_monthly_income_fen=30_000,
        standard_fen=85_000,
        financial_assets_fen=10_000,
        residential_properties=1,
        members=(
            PreviousMember(A, "张建国", True, 720_000, {"wages": 120_000}),
            PreviousMember(B, "李秀英", True, 0, {}),
        ),
        flags=(PreviousFlag("VEHICLE_OWNED", "MEDIUM", A, "vehicles", "车"),),
    )


def test_compare_members_joined_left_and_stayed_and_warnings() -> None:
    now = [CurrentMember(A, "张建国", True, 900_000, 300_000), CurrentMember(C, "张小明", True, 0, 0)]
    flags = [PreviousFlag("EMPLOYER_CONTRIBUTIONS", "LOW", A, "social_security", "单位")]
    changes = compare(
        previous(),
        classification="MARGINAL",
        members=now,
        household_size=2,
        income_by_category={"wages": 300_000},
        annual_income_fen=900_000,
        deductions_fen=0,
        per_capita_monthly_income_fen=37_500,
        financial_assets_fen=0,
        residential_properties=1,
        flags=flags,
    )
    assert isinstance(changes, ReportChanges)
    assert (changes.members_added, changes.members_removed) == ((C,), (B,))
    assert [(m.id_number, m.change, m.wages_before_fen, m.wages_after_fen) for m in changes.member_changes] == [
        (A, "stayed", 120_000, 300_000),
        (C, "joined", 0, 0),
        (B, "left", 0, 0),
    ]
    assert (changes.warnings_appeared, changes.warnings_cleared) == (("EMPLOYER_CONTRIBUTIONS",), ("VEHICLE_OWNED",))
    assert [(w.code, w.change) for w in changes.warning_changes] == [
        ("EMPLOYER_CONTRIBUTIONS", "appeared"),
        ("VEHICLE_OWNED", "cleared"),
    ]
    assert (changes.classification_before, changes.classification_after) == ("DIBAO", "MARGINAL")
    assert changes.previous_application_date == "2026-05-01"


def test_gradual_exit_needs_a_wage_rise_that_explains_the_rise_above_the_standard() -> None:
    day, policy = dt.date(2026, 11, 1), default_policy()
    # wages 120_000 -> 2_520_000, income 720_000 -> 2_520_000 (n = 2): 105_000 a month ≥ S;
    # explained = min(2_400_000, 1_800_000) = 1_800_000; without: 720_000 / 24 = 30_000 < S
    rose = HouseholdNow(
        size=2, annual_income_fen=2_520_000, wages_fen=2_520_000, deductions_fen=0, per_capita_fen=105_000
    )
    figures = gradual_exit(previous(), rose, standard=85_000, policy=policy, day=day)
    assert figures is not None
    assert (figures.without_wage_rise_fen, figures.until) == (30_000, months_after(day, policy.gradual_exit_months))
    # income rose, but not through wages
    other = HouseholdNow(
        size=2, annual_income_fen=2_520_000, wages_fen=120_000, deductions_fen=0, per_capita_fen=105_000
    )
    assert gradual_exit(previous(), other, standard=85_000, policy=policy, day=day) is None
    # still below the standard: no exit
    below = HouseholdNow(
        size=2, annual_income_fen=1_200_000, wages_fen=600_000, deductions_fen=0, per_capita_fen=50_000
    )
    assert gradual_exit(previous(), below, standard=85_000, policy=policy, day=day) is None


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2026, 8, 31), 6, dt.date(2027, 2, 28)),
        (dt.date(2027, 8, 31), 6, dt.date(2028, 2, 29)),
        (dt.date(2026, 11, 1), 2, dt.date(2027, 1, 1)),
    ],
)
def test_months_after_keeps_the_day_or_takes_the_last_of_the_month(
    day: dt.date, months: int, expected: dt.date
) -> None:
    assert months_after(day, months) == expected


def test_next_recheck_date_and_working_age() -> None:
    policy, day = default_policy(), dt.date(2026, 11, 1)
    assert next_recheck_date(policy, day, True) == months_after(day, policy.recheck_months_variable)
    assert next_recheck_date(policy, day, False) == months_after(day, policy.recheck_months_stable)
    assert of_working_age(A, day)  # 48
    assert not of_working_age("533401195001010417", day)  # 76
    assert of_working_age("533401201011010018", day)  # 16 on the day
    assert not of_working_age("533401201011020016", day)  # 16 tomorrow
