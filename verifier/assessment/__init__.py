"""The assessment (policy.md, warnings.md): verified records + request + policy → figures, flags, classification.

Pure functions, no I/O. :func:`assess` is the way in; the value types it takes and gives are
here too. The rooms: ``income`` · ``deductions`` (one entry per kind) · ``rules/`` (one rule per
warning family, listed in one table) · ``classify`` · ``recheck`` · ``flags`` (the warning
catalogue) · ``notes`` (deduction note codes) · ``context`` (the typed records lookup).
"""

from __future__ import annotations

from verifier.assessment.arithmetic import months_before, round_half_up, window_periods
from verifier.assessment.engine import assess
from verifier.assessment.figures import (
    INCOME_CATEGORIES,
    AssessmentResult,
    DeductionLine,
    HouseholdFigures,
    MemberFigures,
    SourceOutcome,
    SuppliedRecord,
)
from verifier.assessment.flags import CATALOGUE, Evidence, WarningCode, WarningFlag, yuan
from verifier.assessment.notes import DeductionNote, NoteCode
from verifier.assessment.recheck import PreviousReport, ReportChanges
from verifier.assessment.rules.assets import ASSET_CODES

__all__ = [
    "ASSET_CODES",
    "CATALOGUE",
    "INCOME_CATEGORIES",
    "AssessmentResult",
    "DeductionLine",
    "DeductionNote",
    "Evidence",
    "HouseholdFigures",
    "MemberFigures",
    "NoteCode",
    "PreviousReport",
    "ReportChanges",
    "SourceOutcome",
    "SuppliedRecord",
    "WarningCode",
    "WarningFlag",
    "assess",
    "months_before",
    "round_half_up",
    "window_periods",
    "yuan",
]
