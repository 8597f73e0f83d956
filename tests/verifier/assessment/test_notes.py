"""Deduction notes: codes with English and Chinese wording, read back from the English text a report carries."""

from __future__ import annotations

from fractions import Fraction

import pytest

from verifier.assessment.notes import NOTE_WORDING, DeductionNote, NoteCode

EXAMPLES = [
    (DeductionNote.of(NoteCode.NOT_COUNTED), "member not counted in the household", "该成员不计入家庭人口，不予扣减"),
    (
        DeductionNote.of(NoteCode.REHABILITATION_CAPPED, cap_fen=300_000),
        "capped at 300000 fen per disabled member per year",
        "按每名残疾成员每年 3,000.00 元上限核定",
    ),
    (
        DeductionNote.of(NoteCode.PERSONAL_PART_IN_RECORDS),
        "personal part in social-security records",
        "按社保记录中的个人缴费部分核定",
    ),
    (
        DeductionNote.of(NoteCode.NO_RECORD_DECLARED),
        "no social-security record; declared amount",
        "社保无记录，按申报金额核定",
    ),
    (
        DeductionNote.of(NoteCode.NOT_ANSWERED_DECLARED),
        "social security did not answer; declared amount",
        "社保部门未反馈，按申报金额核定",
    ),
    (
        DeductionNote.of(NoteCode.EMPLOYMENT_COST, rate=Fraction(3, 10), standard=85_000, months=5),
        "3/10 × standard 85000 × 5 months",
        "3/10 × standard 85000 × 5 months",
    ),
]


def test_every_code_has_wording() -> None:
    assert set(NOTE_WORDING) == set(NoteCode)
    assert {note.code for note, _, _ in EXAMPLES} == set(NoteCode)


@pytest.mark.parametrize(("note", "en", "zh"), EXAMPLES, ids=[n.code.value for n, _, _ in EXAMPLES])
def test_wording_and_reading_back(note: DeductionNote, en: str, zh: str) -> None:
    assert note.en == en
    assert note.zh == zh
    assert DeductionNote.from_text(en) == note


@pytest.mark.parametrize(
    "text",
    [
        "",
        "capped at 3,000 fen per disabled member per year",  # money parameters are digits
        "member not counted in the household.",  # the whole text, not a prefix
        "written by hand",
    ],
)
def test_a_text_no_code_writes_is_not_read_as_one(text: str) -> None:
    assert DeductionNote.from_text(text) is None
