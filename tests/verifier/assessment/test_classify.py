"""The indicative classification: the first of six outcomes that holds (policy.md)."""

from __future__ import annotations

import dataclasses

import pytest
from assessment_kit import APPLICANT, MARKET_REGULATION, context, sources

from verifier.assessment.classify import classify, complete
from verifier.assessment.flags import flag
from verifier.policy import default_policy

S = 85_000  # marginal: 1.5 × S = 127_500


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (S - 1, S - 1, "DIBAO"),
        (S, S - 1, "DIBAO_AFTER_DEDUCTIONS"),
        (S, S, "MARGINAL"),
        (200_000, 127_499, "MARGINAL"),
        (200_000, 127_500, "NOT_ELIGIBLE_INCOME"),
    ],
)
def test_by_income_before_and_after_deductions(before: int, after: int, expected: str) -> None:
    assert classify(context(), [], before, after) == expected


def test_an_asset_warning_comes_before_income() -> None:
    vehicle = flag("VEHICLE_OWNED", id_number=APPLICANT, department="vehicles", plate="云A", type="car")
    other = flag("EMPLOYER_CONTRIBUTIONS", id_number=APPLICANT, department="social_security")
    assert classify(context(), [vehicle], 0, 0) == "NOT_ELIGIBLE_ASSETS"
    assert classify(context(), [other], 0, 0) == "DIBAO"


def test_inconclusive_when_a_required_department_did_not_answer_about_everyone() -> None:
    assert classify(context(srcs=sources(statuses={"banks": "pending"})), [], 0, 0) == "INCONCLUSIVE"
    assert classify(context(srcs=sources(not_queried={"tax": (APPLICANT,)})), [], 0, 0) == "INCONCLUSIVE"
    missing = sources()
    del missing["vehicles"]
    assert not complete(context(srcs=missing))


def test_a_policy_may_require_a_declared_department() -> None:
    policy = dataclasses.replace(default_policy(), required_departments=("police", "market_regulation"))
    absent = context(srcs=sources(), policy=policy, catalogue=MARKET_REGULATION)
    present = context(srcs=sources({"market_regulation": []}), policy=policy, catalogue=MARKET_REGULATION)
    assert classify(absent, [], 0, 0) == "INCONCLUSIVE"
    assert classify(present, [], 0, 0) == "DIBAO"
