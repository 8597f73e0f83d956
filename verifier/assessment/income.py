"""A member's verified income over the window, by category (policy.md "Income").

Each category sums month by month inside the 12-month window. Wages of a month are the larger of
the taxed wages and the social-security wage base (two sources of one figure, counted once);
property income of a month is the larger of taxed property income and rent. Benefits the policy
excludes are not income.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from connectors.records import (
    BenefitRecord,
    ContributionRecord,
    PensionRecord,
    PersonRecord,
    RentalRecord,
    TaxIncomeRecord,
)
from verifier.assessment.context import Context

__all__ = ["EMPLOYEE_SCHEMES", "MemberIncome", "member_income", "member_status"]

# Contribution schemes whose base is a wage (an employer pays it).
EMPLOYEE_SCHEMES = frozenset({"enterprise_employee", "public_institution"})


@dataclass(frozen=True, slots=True)
class MemberIncome:
    """A member's verified income by category and the months of the window in which they had wages."""

    by_category: dict[str, int]
    wage_months: frozenset[str]

    @property
    def verified(self) -> int:
        """The member's verified annual income: every category."""
        return sum(self.by_category.values())


def member_status(ctx: Context, id_number: str) -> tuple[str, PersonRecord | None]:
    """The member's register status (``unknown`` without a person record) and the record it comes from."""
    for record in ctx.records(PersonRecord, id_number):
        return record.status, record
    return "unknown", None


def _monthly(amounts: Iterable[tuple[str, int]], periods: frozenset[str]) -> dict[str, int]:
    """Sum (period, amount) pairs per period, keeping only periods inside the window."""
    totals: dict[str, int] = defaultdict(int)
    for period, amount in amounts:
        if period in periods:
            totals[period] += amount
    return totals


def _taxed(ctx: Context, id_number: str, category: str) -> dict[str, int]:
    """Taxed income of one category, by month."""
    tax = ctx.records(TaxIncomeRecord, id_number)
    return _monthly(((r.period, r.amount_fen) for r in tax if r.category == category), ctx.periods)


def _wages_by_month(ctx: Context, id_number: str) -> dict[str, int]:
    """Wages of each month of the window: the larger of taxed wages and the employee contribution base."""
    contributions = ctx.records(ContributionRecord, id_number)
    bases = _monthly(((r.period, r.base_fen) for r in contributions if r.scheme in EMPLOYEE_SCHEMES), ctx.periods)
    taxed = _taxed(ctx, id_number, "wages")
    return {p: max(taxed.get(p, 0), bases.get(p, 0)) for p in ctx.periods}


def member_income(ctx: Context, id_number: str) -> MemberIncome:
    """Verified income by category for one member, and the months in which the member had wages."""
    wages = _wages_by_month(ctx, id_number)
    property_tax = _taxed(ctx, id_number, "property")
    rentals = _monthly(((r.period, r.rent_fen) for r in ctx.records(RentalRecord, id_number)), ctx.periods)
    pensions = _monthly(((r.period, r.amount_fen) for r in ctx.records(PensionRecord, id_number)), ctx.periods)
    excluded = ctx.policy.excluded_income_categories
    benefits = _monthly(
        ((r.period, r.amount_fen) for r in ctx.records(BenefitRecord, id_number) if r.kind_of_benefit not in excluded),
        ctx.periods,
    )
    income = {
        "wages": sum(wages.values()),
        "business": sum(_taxed(ctx, id_number, "business").values()),
        "property": sum(max(property_tax.get(p, 0), rentals.get(p, 0)) for p in ctx.periods),
        "pensions": sum(pensions.values()),
        "benefits": sum(benefits.values()),
        "other": sum(_taxed(ctx, id_number, "other").values()),
    }
    return MemberIncome(income, frozenset(p for p, amount in wages.items() if amount > 0))
