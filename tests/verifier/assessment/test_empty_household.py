"""A household with no member counted (every one deceased or in custody) is INCONCLUSIVE, with the reason stated.

policy.md "Indicative classification", step 1: "no declared member is counted (n = 0: every member
deceased or in custody), with that reason stated".
"""

from __future__ import annotations

import datetime as dt

import pytest
from assessment_kit import APPLICANT, SPOUSE, member, person, request, sources, tax

from verifier.assessment import assess
from verifier.assessment.classify import classify, inconclusive_reasons
from verifier.assessment.context import Context
from verifier.assessment.reasons import INCONCLUSIVE_WORDING, InconclusiveCause
from verifier.policy import default_policy
from verifier.report.build import build_report


def test_a_household_of_one_deceased_member_is_inconclusive_with_the_reason_stated() -> None:
    # The applicant alone, recorded deceased; a wage record of theirs is left out with them.
    req = request(member(APPLICANT, 1_200_000))
    srcs = sources({"tax": [tax(APPLICANT, "2026-03", 500_000)]}, persons=[person(APPLICANT, status="deceased")])
    result = assess(req, default_policy(), srcs)
    h = result.household
    assert h.classification == "INCONCLUSIVE"
    assert h.classification_reasons == (InconclusiveCause.NO_MEMBER_COUNTED,)
    assert (h.household_size, h.annual_income_fen, h.per_capita_monthly_income_fen) == (0, 0, 0)
    assert [f.code for f in result.flags] == ["MEMBER_DECEASED"]
    assert result.hearing_required


def test_the_report_carries_the_reason_in_both_languages() -> None:
    req = request(member(APPLICANT))
    srcs = sources(persons=[person(APPLICANT, status="in_custody")])
    result = assess(req, default_policy(), srcs)
    report = build_report(
        report_id="r",
        verification_id="v",
        version=1,
        generated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        request=req,
        policy=default_policy(),
        sources=srcs,
        result=result,
        authorizations=[],
        audit_reference="",
    )
    [reason] = report.assessment.classification_reasons
    assert reason.code == "NO_MEMBER_COUNTED"
    assert "计入家庭人口为 0" in reason.message_zh
    assert "household size is 0" in reason.message_en


def test_both_reasons_are_stated_when_both_hold_and_none_for_a_counted_complete_household() -> None:
    req = request(member(APPLICANT), member(SPOUSE))
    dead = sources(
        persons=[person(APPLICANT, status="deceased"), person(SPOUSE, status="in_custody")],
        statuses={"banks": "unavailable"},
    )
    assert assess(req, default_policy(), dead).household.classification_reasons == (
        InconclusiveCause.REQUIRED_SOURCE_INCOMPLETE,
        InconclusiveCause.NO_MEMBER_COUNTED,
    )
    alive = sources(persons=[person(APPLICANT), person(SPOUSE)])
    h = assess(req, default_policy(), alive).household
    assert (h.classification, h.classification_reasons) == ("DIBAO", ())


@pytest.mark.parametrize(("size", "expected"), [(0, "INCONCLUSIVE"), (1, "DIBAO"), (None, "DIBAO")])
def test_classify_checks_the_household_size_when_given(size: int | None, expected: str) -> None:
    ctx = Context.of(request(), default_policy(), sources())
    assert classify(ctx, [], 0, 0, household_size=size) == expected
    assert inconclusive_reasons(ctx, 1) == ()


def test_every_reason_is_worded() -> None:
    assert set(INCONCLUSIVE_WORDING) == set(InconclusiveCause)
