"""verifier.assessment.figures: the assessment's value types are frozen, their defaults say "nothing", and their
two properties (a deduction's note text, a member's records) read what they hold."""

from __future__ import annotations

import dataclasses

import pytest
from assessment_kit import APPLICANT, MARKET_REGULATION, enterprise, member, person, request, sources, tax

from verifier.assessment import assess
from verifier.assessment.figures import (
    INCOME_CATEGORIES,
    DeductionLine,
    MemberFigures,
    SourceOutcome,
    SuppliedRecord,
)
from verifier.assessment.notes import DeductionNote, NoteCode
from verifier.policy import default_policy


def test_income_categories_in_policy_md_order_then_the_declared_part() -> None:
    # policy.md "Income": wages, business, property, pensions, benefits, other; then declared_unverified
    assert INCOME_CATEGORIES == (
        "wages",
        "business",
        "property",
        "pensions",
        "benefits",
        "other",
        "declared_unverified",
    )


def test_a_source_outcome_defaults_to_no_records_no_detail_nobody_left_out() -> None:
    outcome = SourceOutcome("banks", "pending")
    assert (outcome.records, outcome.detail, outcome.not_queried, outcome.answered_at) == ((), "", (), None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.status = "ok"  # type: ignore[misc]


def test_a_deduction_line_carries_its_note_in_english_or_nothing() -> None:
    capped = DeductionNote.of(NoteCode.REHABILITATION_CAPPED, cap_fen=300_000)
    line = DeductionLine(APPLICANT, "rehabilitation", 450_000, 300_000, "receipt R-1", capped)
    assert line.note_text == "capped at 300000 fen per disabled member per year"
    plain = DeductionLine(APPLICANT, "medical", 1_000, 1_000, "receipt M-1")
    assert plain.note is None and plain.note_text == ""


def _member(*supplied: SuppliedRecord) -> MemberFigures:
    return MemberFigures(
        id_number=APPLICANT,
        name="张建国",
        relation="applicant",
        status="active",
        counted_in_household=True,
        declared_annual_income_fen=0,
        verified_annual_income_fen=0,
        counted_annual_income_fen=0,
        income_by_category={},
        supplied=supplied,
    )


def test_a_members_records_are_the_supplied_ones_in_order_without_their_departments() -> None:
    first, second = tax(APPLICANT, "2026-01", 100), enterprise(APPLICANT)
    figures = _member(SuppliedRecord("tax", first), SuppliedRecord("market_regulation", second))
    assert figures.records == (first, second)
    assert _member().records == ()
    assert not hasattr(figures, "__dict__")  # slots: a misspelt attribute cannot be set by accident


def test_the_assessment_keeps_who_supplied_each_record() -> None:
    req = request(member(APPLICANT))
    srcs = sources(
        {"market_regulation": [enterprise(APPLICANT)], "tax": [tax(APPLICANT, "2026-01", 500_000)]},
        persons=[person(APPLICANT)],
    )
    result = assess(req, default_policy(), srcs, catalogue=MARKET_REGULATION)
    (applicant,) = result.members
    by_kind = {type(s.record).__name__: s.department for s in applicant.supplied}
    assert by_kind == {"PersonRecord": "police", "TaxIncomeRecord": "tax", "EnterpriseRecord": "market_regulation"}
    assert applicant.records == tuple(s.record for s in applicant.supplied)


def test_an_assessment_that_is_not_a_recheck_has_no_recheck_fields() -> None:
    result = assess(request(), default_policy(), sources())
    assert (result.changes, result.next_recheck_date, result.gradual_exit_until) == (None, None, None)
    assert set(result.household.income_by_category) <= set(INCOME_CATEGORIES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.hearing_required = True  # type: ignore[misc]
