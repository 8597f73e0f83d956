"""Warnings on computed figures (department ``computed``): declared income, the standard, gradual exit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from verifier.assessment.context import Context
from verifier.assessment.flags import Evidence, WarningCode, WarningFlag, yuan
from verifier.assessment.rules.base import Facts

__all__ = ["COMPUTED", "DeclaredIncome", "GradualExit", "IncomeAboveStandard"]

COMPUTED = "computed"


def _figure(field_name: str, value: object, record_id: str = "") -> Evidence:
    """A computed figure as evidence."""
    return Evidence(COMPUTED, record_id, field_name, str(value))


class DeclaredIncome:
    """DECLARED_INCOME_MISMATCH: verified income above the declared, beyond the tolerance and by more than S."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.DECLARED_INCOME_MISMATCH,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """One flag per counted member whose verified income exceeds the declared one that much."""
        declared_of = {m.id_number: m.declared_annual_income_fen for m in ctx.request.members}
        for id_number in facts.counted:
            verified, declared = facts.incomes[id_number].verified, declared_of[id_number]
            tolerance_limit = declared * (1 + ctx.policy.declared_income_tolerance)
            if verified > tolerance_limit and verified - declared > ctx.standard:
                yield ctx.flag(
                    WarningCode.DECLARED_INCOME_MISMATCH,
                    id_number=id_number,
                    department=COMPUTED,
                    evidence=(
                        _figure("verified_annual_income_fen", verified),
                        _figure("declared_annual_income_fen", declared),
                    ),
                    verified=yuan(verified),
                    declared=yuan(declared),
                )


class IncomeAboveStandard:
    """INCOME_ABOVE_STANDARD: the per-capita income after deductions is not below S."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.INCOME_ABOVE_STANDARD,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """One household flag (none for a household of no counted member)."""
        if facts.size and facts.per_capita_fen >= ctx.standard:
            yield ctx.flag(
                WarningCode.INCOME_ABOVE_STANDARD,
                id_number=None,
                department=COMPUTED,
                evidence=(
                    _figure("per_capita_monthly_income_fen", facts.per_capita_fen),
                    _figure("standard_fen", ctx.standard),
                ),
                per_capita=yuan(facts.per_capita_fen),
                standard=yuan(ctx.standard),
            )


class GradualExit:
    """GRADUAL_EXIT: a recheck's household rose above S through wages (see :func:`recheck.gradual_exit`)."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.GRADUAL_EXIT,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """One household flag with the figures that show it."""
        g = facts.gradual_exit
        if g is None:
            return
        until = g.until.isoformat()
        yield ctx.flag(
            WarningCode.GRADUAL_EXIT,
            id_number=None,
            department=COMPUTED,
            evidence=(
                _figure("classification", g.previous.classification, g.previous.report_id),
                _figure("wages_fen", g.wages_before_fen, g.previous.report_id),
                _figure("wages_fen", g.wages_fen),
                _figure("per_capita_monthly_income_fen", g.per_capita_fen),
                _figure("per_capita_monthly_income_without_wage_rise_fen", g.without_wage_rise_fen),
                _figure("standard_fen", ctx.standard),
                _figure("gradual_exit_until", until),
            ),
            until=until,
        )
