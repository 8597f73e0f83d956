"""Compatibility: the warning catalogue moved to :mod:`verifier.assessment.flags` (delete at merge)."""

from __future__ import annotations

from verifier.assessment.flags import CATALOGUE, Evidence, WarningFlag, department_zh, flag, yuan

__all__ = ["CATALOGUE", "Evidence", "WarningFlag", "department_zh", "flag", "yuan"]
