"""The indicative classification (policy.md "Indicative classification"): the first of six outcomes that holds.

Inconclusive when a department the policy requires did not answer (or was not asked about every
member), or when no declared member is counted (n = 0: every member deceased or in custody), each
with its reason stated (:class:`InconclusiveCause`); else not eligible on assets when an asset
warning was raised; else by the per-capita income before and after deductions against the standard S
and the marginal standard.
"""

from __future__ import annotations

from collections.abc import Sequence

from verifier.assessment.context import Context
from verifier.assessment.flags import WarningFlag
from verifier.assessment.reasons import InconclusiveCause
from verifier.assessment.rules import ASSET_CODES
from verifier.vocabulary import Classification, DepartmentStatus

__all__ = ["classify", "complete", "inconclusive_reasons"]


def complete(ctx: Context) -> bool:
    """Whether every department the policy requires answered about every member."""
    for department in ctx.policy.required_departments:
        source = ctx.sources.get(department)
        if source is None or source.status != DepartmentStatus.OK or source.not_queried:
            return False
    return True


def inconclusive_reasons(ctx: Context, household_size: int) -> tuple[InconclusiveCause, ...]:
    """Every reason of policy.md's step 1 that holds, in its order (none: the household is not inconclusive)."""
    reasons: list[InconclusiveCause] = []
    if not complete(ctx):
        reasons.append(InconclusiveCause.REQUIRED_SOURCE_INCOMPLETE)
    if household_size == 0:
        reasons.append(InconclusiveCause.NO_MEMBER_COUNTED)
    return tuple(reasons)


def classify(
    ctx: Context, flags: Sequence[WarningFlag], before: int, after: int, *, household_size: int | None = None
) -> Classification:
    """The household's indicative classification from its flags and per-capita income before/after deductions.

    ``household_size`` is n; given as 0 the household is INCONCLUSIVE (``None``: only the sources are checked).
    """
    if not complete(ctx) or household_size == 0:
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
