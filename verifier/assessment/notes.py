"""Why a deduction was allowed as it was: note codes with their English and Chinese wording.

The report carries a note's English text (``Deduction.note``, as reports always have); the
renderers show the Chinese wording of the same code. Both wordings are templates over the note's
parameters; a parameter whose name ends in ``_fen`` is money, shown in yuan in Chinese.
:meth:`DeductionNote.from_text` reads a stored English text back as its code and parameters, using
the same templates, so old reports and new ones render alike.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple

from verifier.assessment.flags import yuan

__all__ = ["NOTE_WORDING", "DeductionNote", "NoteCode", "NoteWording"]


class NoteCode(StrEnum):
    """The reasons a deduction line gives for its allowed amount."""

    NOT_COUNTED = "not_counted"
    REHABILITATION_CAPPED = "rehabilitation_capped"
    PERSONAL_PART_IN_RECORDS = "personal_part_in_records"
    NO_RECORD_DECLARED = "no_record_declared"
    NOT_ANSWERED_DECLARED = "not_answered_declared"
    EMPLOYMENT_COST = "employment_cost"


class NoteWording(NamedTuple):
    """A note's English and Chinese templates (``str.format`` over its parameters)."""

    en: str
    zh: str


NOTE_WORDING: Final[Mapping[NoteCode, NoteWording]] = {
    NoteCode.NOT_COUNTED: NoteWording("member not counted in the household", "该成员不计入家庭人口，不予扣减"),
    NoteCode.REHABILITATION_CAPPED: NoteWording(
        "capped at {cap_fen} fen per disabled member per year", "按每名残疾成员每年 {cap_fen} 元上限核定"
    ),
    NoteCode.PERSONAL_PART_IN_RECORDS: NoteWording(
        "personal part in social-security records", "按社保记录中的个人缴费部分核定"
    ),
    NoteCode.NO_RECORD_DECLARED: NoteWording(
        "no social-security record; declared amount", "社保无记录，按申报金额核定"
    ),
    NoteCode.NOT_ANSWERED_DECLARED: NoteWording(
        "social security did not answer; declared amount", "社保部门未反馈，按申报金额核定"
    ),
    # The formula reads the same in both languages (rate, standard in fen, months).
    NoteCode.EMPLOYMENT_COST: NoteWording(
        "{rate} × standard {standard} × {months} months", "{rate} × standard {standard} × {months} months"
    ),
}


def _pattern(template: str) -> re.Pattern[str]:
    """A regular expression matching exactly the texts ``template`` produces (money parameters are digits)."""
    parts: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(rf"(?P<{name}>[0-9]+)" if name.endswith("_fen") else rf"(?P<{name}>.+?)")
    return re.compile("".join(parts))


_PATTERNS: Final = {code: _pattern(wording.en) for code, wording in NOTE_WORDING.items()}


@dataclass(frozen=True, slots=True)
class DeductionNote:
    """One note: its code and its parameters (as text, in the order the templates name them)."""

    code: NoteCode
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, code: NoteCode, **params: object) -> DeductionNote:
        """The note ``code`` with ``params`` (each shown as ``str(value)``)."""
        return cls(code, tuple((name, str(value)) for name, value in params.items()))

    @property
    def en(self) -> str:
        """The English text, as the report carries it."""
        return NOTE_WORDING[self.code].en.format(**dict(self.params))

    @property
    def zh(self) -> str:
        """The Chinese text, money parameters in yuan."""
        shown = {name: yuan(int(value)) if name.endswith("_fen") else value for name, value in self.params}
        return NOTE_WORDING[self.code].zh.format(**shown)

    @classmethod
    def from_text(cls, text: str) -> DeductionNote | None:
        """The note whose English text is ``text`` (a stored report's), or None for a text no code writes."""
        for code, pattern in _PATTERNS.items():
            found = pattern.fullmatch(text)
            if found is not None:
                return cls(code, tuple(found.groupdict().items()))
        return None
