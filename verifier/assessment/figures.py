"""The assessment's inputs and results as frozen value types: what departments gave, the figures, the deductions.

Money is integer fen throughout (the arithmetic: :mod:`verifier.assessment.arithmetic`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from connectors.records import DepartmentRecord
from verifier.assessment.derivation import Derivation
from verifier.assessment.flags import WarningFlag
from verifier.assessment.notes import DeductionNote
from verifier.assessment.reasons import InconclusiveCause
from verifier.assessment.recheck import ReportChanges

__all__ = [
    "INCOME_CATEGORIES",
    "AssessmentResult",
    "DeductionLine",
    "HouseholdFigures",
    "MemberFigures",
    "SourceOutcome",
    "SuppliedRecord",
]

INCOME_CATEGORIES: Final = ("wages", "business", "property", "pensions", "benefits", "other", "declared_unverified")


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """What one department gave for this verification."""

    department: str
    status: str  # a verifier.vocabulary.DepartmentStatus: ok | unavailable | pending | not_queried
    records: tuple[DepartmentRecord, ...] = ()
    detail: str = ""
    not_queried: tuple[str, ...] = ()
    answered_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class SuppliedRecord:
    """A record together with the department that supplied it (its answer's :class:`SourceOutcome`)."""

    department: str
    record: DepartmentRecord


@dataclass(frozen=True, slots=True)
class DeductionLine:
    """One deduction of the report: what was declared, what is allowed, on what evidence and why."""

    id_number: str
    kind: str
    declared_fen: int
    allowed_fen: int
    evidence: str
    note: DeductionNote | None = None
    # The department records the allowed amount was taken from (the personal part of contributions), if any.
    records: tuple[DepartmentRecord, ...] = ()

    @property
    def note_text(self) -> str:
        """The note as the report carries it (English), empty when there is none."""
        return self.note.en if self.note is not None else ""


@dataclass(frozen=True, slots=True)
class MemberFigures:
    """One declared member: status, whether counted, declared/verified/counted income, the records about them."""

    id_number: str
    name: str
    relation: str
    status: str
    counted_in_household: bool
    declared_annual_income_fen: int
    verified_annual_income_fen: int
    counted_annual_income_fen: int
    income_by_category: Mapping[str, int]
    supplied: tuple[SuppliedRecord, ...]

    @property
    def records(self) -> tuple[DepartmentRecord, ...]:
        """The records about the member, in the report's order."""
        return tuple(s.record for s in self.supplied)


@dataclass(frozen=True, slots=True)
class HouseholdFigures:
    """The household's figures of policy.md and its indicative classification."""

    classification: str
    household_size: int
    annual_income_fen: int
    income_by_category: Mapping[str, int]
    deductions_fen: int
    deductions: tuple[DeductionLine, ...]
    per_capita_monthly_income_before_fen: int
    per_capita_monthly_income_fen: int
    standard_fen: int
    marginal_standard_fen: int
    financial_assets_fen: int
    financial_assets_limit_fen: int
    residential_properties: int
    window_start: str
    window_end: str
    # Why the household is INCONCLUSIVE (empty for any other classification), in policy.md's order.
    classification_reasons: tuple[InconclusiveCause, ...] = ()
    # How each figure above was reached (verifier.assessment.derivation), in the report's order.
    derivations: tuple[Derivation, ...] = ()


@dataclass(frozen=True, slots=True)
class AssessmentResult:
    """Everything the assessment found: members, household figures, warnings and what they require."""

    members: tuple[MemberFigures, ...]
    household: HouseholdFigures
    flags: tuple[WarningFlag, ...]
    hearing_required: bool
    filing_for_review_required: bool
    # Rechecks only (policy.md "Rechecks").
    changes: ReportChanges | None = None
    next_recheck_date: dt.date | None = None
    gradual_exit_until: dt.date | None = None
