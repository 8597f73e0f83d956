"""A member's verified income over the window, by category (policy.md "Income").

Each category sums month by month inside the 12-month window. Wages of a month are the larger of
the taxed wages and the social-security wage base (two sources of one figure, counted once);
property income of a month is the larger of taxed property income and rent. Benefits the policy
excludes are not income.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from connectors.records import (
    BenefitRecord,
    ContributionRecord,
    DepartmentRecord,
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
    """A member's verified income by category, the months of the window with wages, and the records counted.

    ``used`` names, per category, the records whose amounts make it up (a month's wages: the taxed wages or
    the contribution base, whichever was counted), for the figures' derivations.
    """

    by_category: dict[str, int]
    wage_months: frozenset[str]
    used: Mapping[str, tuple[DepartmentRecord, ...]] = field(default_factory=dict)

    @property
    def verified(self) -> int:
        """The member's verified annual income: every category."""
        return sum(self.by_category.values())


def member_status(ctx: Context, id_number: str) -> tuple[str, PersonRecord | None]:
    """The member's register status (``unknown`` without a person record) and the record it comes from."""
    for record in ctx.records(PersonRecord, id_number):
        return record.status, record
    return "unknown", None


class _Months:
    """Amounts summed per period of the window, with the records that gave them."""

    __slots__ = ("amounts", "records")

    def __init__(self, items: Iterable[tuple[DepartmentRecord, str, int]], periods: frozenset[str]) -> None:
        self.amounts: dict[str, int] = defaultdict(int)
        self.records: dict[str, list[DepartmentRecord]] = defaultdict(list)
        for record, period, amount in items:
            if period in periods:
                self.amounts[period] += amount
                self.records[period].append(record)

    def total(self) -> int:
        """The sum over the window."""
        return sum(self.amounts.values())

    def used(self) -> tuple[DepartmentRecord, ...]:
        """Every record counted, month by month."""
        return tuple(r for period in sorted(self.records) for r in self.records[period])


def _larger(first: _Months, second: _Months, periods: frozenset[str]) -> tuple[dict[str, int], list[DepartmentRecord]]:
    """Per month the larger of two sources of one figure (the first on a tie), and the records of the one counted."""
    amounts: dict[str, int] = {}
    used: list[DepartmentRecord] = []
    for period in sorted(periods):
        a, b = first.amounts.get(period, 0), second.amounts.get(period, 0)
        amounts[period] = max(a, b)
        if a or b:
            used += first.records[period] if a >= b else second.records[period]
    return amounts, used


def _taxed(ctx: Context, id_number: str, category: str) -> _Months:
    """Taxed income of one category, by month."""
    tax = ctx.records(TaxIncomeRecord, id_number)
    return _Months(((r, r.period, r.amount_fen) for r in tax if r.category == category), ctx.periods)


def _wages_by_month(ctx: Context, id_number: str) -> tuple[dict[str, int], list[DepartmentRecord]]:
    """Wages of each month of the window: the larger of taxed wages and the employee contribution base."""
    contributions = ctx.records(ContributionRecord, id_number)
    bases = _Months(((r, r.period, r.base_fen) for r in contributions if r.scheme in EMPLOYEE_SCHEMES), ctx.periods)
    return _larger(_taxed(ctx, id_number, "wages"), bases, ctx.periods)


def member_income(ctx: Context, id_number: str) -> MemberIncome:
    """Verified income by category for one member, the months in which the member had wages, the records counted."""
    wages, wage_records = _wages_by_month(ctx, id_number)
    rentals = _Months(((r, r.period, r.rent_fen) for r in ctx.records(RentalRecord, id_number)), ctx.periods)
    property_months, property_records = _larger(_taxed(ctx, id_number, "property"), rentals, ctx.periods)
    pensions = _Months(((r, r.period, r.amount_fen) for r in ctx.records(PensionRecord, id_number)), ctx.periods)
    excluded = ctx.policy.excluded_income_categories
    benefits = _Months(
        (
            (r, r.period, r.amount_fen)
            for r in ctx.records(BenefitRecord, id_number)
            if r.kind_of_benefit not in excluded
        ),
        ctx.periods,
    )
    business, other = _taxed(ctx, id_number, "business"), _taxed(ctx, id_number, "other")
    income = {
        "wages": sum(wages.values()),
        "business": business.total(),
        "property": sum(property_months.values()),
        "pensions": pensions.total(),
        "benefits": benefits.total(),
        "other": other.total(),
    }
    used = {
        "wages": tuple(wage_records),
        "business": business.used(),
        "property": tuple(property_records),
        "pensions": pensions.used(),
        "benefits": benefits.used(),
        "other": other.used(),
    }
    return MemberIncome(income, frozenset(p for p, amount in wages.items() if amount > 0), used)
