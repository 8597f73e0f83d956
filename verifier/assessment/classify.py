"""The indicative classification (policy.md "Classification"): the first of six outcomes that holds.

Inconclusive when a department the policy requires did not answer (or was not asked about every
member); else not eligible on assets when an asset warning was raised; else by the per-capita
income before and after deductions against the standard S and the marginal standard.
"""

from __future__ import annotations

from collections.abc import Sequence

from verifier.assessment.context import Context
from verifier.assessment.flags import WarningFlag
from verifier.assessment.rules import ASSET_CODES
from verifier.vocabulary import Classification, DepartmentStatus

__all__ = ["classify", "complete"]


def complete(ctx: Context) -> bool:
    """Whether every department the policy requires answered about every member."""
    for department in ctx.policy.required_departments:
        source = ctx.sources.get(department)
        if source is None or source.status != DepartmentStatus.OK or source.not_queried:
            return False
    return True


def classify(ctx: Context, flags: Sequence[WarningFlag], before: int, after: int) -> Classification:
    """The household's indicative classification from its flags and per-capita income before/after deductions."""
    if not complete(ctx):
        return Classification.INCONCLUSIVE
    if any(f.code in ASSET_CODES for f in flags):
        return Classification.NOT_ELIGIBLE_ASSETS
    if before < ctx.standard:
        return Classification.DIBAO
    if after < ctx.standard:
        return Classification.DIBAO_AFTER_DEDUCTIONS
    if after < ctx.policy.marginal_multiplier * ctx.standard:
        return Classification.MARGINAL
    return Classification.NOT_ELIGIBLE_INCOME
