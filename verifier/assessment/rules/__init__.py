"""The warning rules, listed once in :data:`RULES`, in the order their flags appear in a report.

Adding a warning code: a catalogue entry in :mod:`verifier.assessment.flags` (warnings.md's text),
a small rule class here (or a code in an existing family's rule), and a test.
"""

from __future__ import annotations

from typing import Final

from verifier.assessment.rules.assets import (
    ASSET_CODES,
    Businesses,
    FinancialAssets,
    MultipleProperties,
    NonResidentialProperties,
    RecentTransfers,
    Vehicles,
)
from verifier.assessment.rules.base import Facts, GradualExitFigures, Rule
from verifier.assessment.rules.computed import DeclaredIncome, GradualExit, IncomeAboveStandard
from verifier.assessment.rules.employment import EmploymentEvidence, InsurancePremiums
from verifier.assessment.rules.identity import RegisterIdentity, UndeclaredMembers
from verifier.assessment.rules.sources import Sources

__all__ = ["ASSET_CODES", "RULES", "Facts", "GradualExitFigures", "Rule"]

RULES: Final[tuple[Rule, ...]] = (
    RegisterIdentity(),
    UndeclaredMembers(),
    DeclaredIncome(),
    FinancialAssets(),
    RecentTransfers(),
    MultipleProperties(),
    NonResidentialProperties(),
    Vehicles(),
    Businesses(),
    EmploymentEvidence(),
    InsurancePremiums(),
    IncomeAboveStandard(),
    GradualExit(),
    Sources(),
)
