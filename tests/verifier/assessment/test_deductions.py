"""The deductions table (policy.md "Deductions"): one entry per kind, each kind tested on its own."""

from __future__ import annotations

from assessment_kit import APPLICANT, SPOUSE, context, contribution, member, person, request, sources, tax

from verifier.assessment.deductions import DEDUCTIONS, Receipt, deduction_lines
from verifier.assessment.notes import NoteCode
from verifier.vocabulary import DeductionKind

BOTH = (member(APPLICANT, 1_200_000), member(SPOUSE))
PERSONS = [person(APPLICANT), person(SPOUSE)]


def receipt(id_number: str, kind: str, amount: int) -> dict[str, object]:
    """A declared deduction with its receipt."""
    return {"id_number": id_number, "kind": kind, "amount_fen": amount, "evidence": f"receipt {kind} {amount}"}


def test_one_entry_per_kind() -> None:
    assert set(DEDUCTIONS) == set(DeductionKind)


def test_medical_and_education_are_allowed_as_declared() -> None:
    req = request(*BOTH, deductions=[receipt(SPOUSE, "medical", 1_200_000), receipt(APPLICANT, "education", 300_000)])
    lines = deduction_lines(context(req, sources(persons=PERSONS)), (APPLICANT, SPOUSE), {})
    assert [(d.kind, d.declared_fen, d.allowed_fen, d.note) for d in lines] == [
        ("medical", 1_200_000, 1_200_000, None),
        ("education", 300_000, 300_000, None),
    ]


def test_rehabilitation_is_capped_per_member_and_year_across_receipts() -> None:
    # Default cap 300_000: 200_000 allowed, then 100_000 of the next 200_000; the spouse has a cap of their own.
    req = request(
        *BOTH,
        deductions=[
            receipt(APPLICANT, "rehabilitation", 200_000),
            receipt(APPLICANT, "rehabilitation", 200_000),
            receipt(SPOUSE, "rehabilitation", 250_000),
        ],
    )
    lines = deduction_lines(context(req, sources(persons=PERSONS)), (APPLICANT, SPOUSE), {})
    assert [d.allowed_fen for d in lines] == [200_000, 100_000, 250_000]
    assert [d.note.code if d.note else None for d in lines] == [None, NoteCode.REHABILITATION_CAPPED, None]
    assert lines[1].note_text == "capped at 300000 fen per disabled member per year"


def test_pension_contribution_is_the_personal_part_of_the_records_in_the_window() -> None:
    records = [
        contribution(APPLICANT, "2026-03", personal=20_000),
        contribution(APPLICANT, "2026-04", personal=15_000, employer=99_000),  # the employer's part never counts
        contribution(APPLICANT, "2025-10", personal=50_000),  # outside the window
    ]
    req = request(*BOTH, deductions=[receipt(APPLICANT, "pension_contribution", 10_000)])
    lines = deduction_lines(
        context(req, sources({"social_security": records}, persons=PERSONS)), (APPLICANT, SPOUSE), {}
    )
    assert [(d.kind, d.declared_fen, d.allowed_fen) for d in lines] == [("pension_contribution", 10_000, 35_000)]
    assert lines[0].note is not None and lines[0].note.code == NoteCode.PERSONAL_PART_IN_RECORDS


def test_pension_contribution_without_records_is_the_declared_amount_saying_why() -> None:
    req = request(*BOTH, deductions=[receipt(SPOUSE, "pension_contribution", 12_000)])
    answered = deduction_lines(context(req, sources(persons=PERSONS)), (APPLICANT, SPOUSE), {})
    silent = deduction_lines(
        context(req, sources(persons=PERSONS, statuses={"social_security": "unavailable"})), (APPLICANT, SPOUSE), {}
    )
    assert [(d.allowed_fen, d.note_text) for d in answered] == [(12_000, "no social-security record; declared amount")]
    assert [(d.allowed_fen, d.note_text) for d in silent] == [
        (12_000, "social security did not answer; declared amount")
    ]


def test_employment_cost_is_a_share_of_the_standard_per_month_with_wages() -> None:
    # 3/10 × 85_000 × 2 months = 51_000
    req = request(member(APPLICANT, category="veteran"), member(SPOUSE))
    lines = deduction_lines(context(req, sources(persons=PERSONS)), (APPLICANT, SPOUSE), {APPLICANT: 2, SPOUSE: 3})
    assert [(d.id_number, d.kind, d.declared_fen, d.allowed_fen) for d in lines] == [
        (APPLICANT, "employment_cost", 0, 51_000)
    ]
    assert lines[0].evidence == "veteran, wages in 2 month(s)"
    assert lines[0].note_text == "3/10 × standard 85000 × 2 months"


def test_a_member_not_counted_gets_nothing_and_the_lines_keep_their_order() -> None:
    req = request(
        member(APPLICANT, category="veteran"),
        member(SPOUSE),
        deductions=[
            receipt(SPOUSE, "pension_contribution", 5_000),
            receipt(SPOUSE, "medical", 7_000),
            receipt(APPLICANT, "medical", 9_000),
        ],
    )
    srcs = sources({"tax": [tax(APPLICANT, "2026-01", 100_000)]}, persons=PERSONS)
    lines = deduction_lines(context(req, srcs), (APPLICANT,), {APPLICANT: 1})
    # receipts in request order, then pension contributions member by member, then employment costs
    assert [(d.id_number, d.kind, d.allowed_fen) for d in lines] == [
        (SPOUSE, "medical", 0),
        (APPLICANT, "medical", 9_000),
        (SPOUSE, "pension_contribution", 0),
        (APPLICANT, "employment_cost", 25_500),
    ]
    assert [d.note.code for d in lines if d.allowed_fen == 0 and d.note] == [NoteCode.NOT_COUNTED] * 2


def test_receipt_allow_without_and_with_a_cap() -> None:
    from verifier.policy import default_policy
    from verifier.request import DeclaredDeduction

    item = DeclaredDeduction(APPLICANT, "rehabilitation", 120_000, "r")
    assert Receipt().allow(default_policy(), item, used=10**9) == (120_000, None)
    allowed, note = Receipt(cap=lambda _: 100_000).allow(default_policy(), item, used=30_000)
    assert allowed == 70_000 and note is not None and note.params == (("cap_fen", "100000"),)
