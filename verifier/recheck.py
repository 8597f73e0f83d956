"""Compatibility: rechecks moved to :mod:`verifier.assessment.recheck` (delete at merge)."""

from __future__ import annotations

from verifier.assessment.recheck import (
    ASSISTED_CLASSIFICATIONS,
    WORKING_AGE,
    CurrentMember,
    MemberChange,
    PreviousFlag,
    PreviousMember,
    PreviousReport,
    PreviousReportError,
    ReportChanges,
    WarningChange,
    age_on,
    compare,
    months_after,
    previous_from_report,
)

Changes = ReportChanges  # the old name

__all__ = [
    "ASSISTED_CLASSIFICATIONS",
    "WORKING_AGE",
    "Changes",
    "CurrentMember",
    "MemberChange",
    "PreviousFlag",
    "PreviousMember",
    "PreviousReport",
    "PreviousReportError",
    "ReportChanges",
    "WarningChange",
    "age_on",
    "compare",
    "months_after",
    "previous_from_report",
]
