"""The assessment of policy.md as one pure function: verified records + request + policy → figures, flags.

The steps, each in its own module: members' status and income (:mod:`~verifier.assessment.income`),
deductions (:mod:`~verifier.assessment.deductions`), the per-capita figures and assets, the warning
rules (:data:`~verifier.assessment.rules.RULES`), the classification
(:mod:`~verifier.assessment.classify`) and, for a recheck, the change section
(:mod:`~verifier.assessment.recheck`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from connectors.departments import DepartmentCatalogue
from verifier.assessment.arithmetic import round_half_up, window_periods
from verifier.assessment.classify import classify, inconclusive_reasons
from verifier.assessment.context import Context
from verifier.assessment.deductions import deduction_lines
from verifier.assessment.derive import Measures, derive
from verifier.assessment.figures import (
    INCOME_CATEGORIES,
    AssessmentResult,
    DeductionLine,
    HouseholdFigures,
    MemberFigures,
    SourceOutcome,
)
from verifier.assessment.flags import DEFAULT_CATALOGUE, WarningCode, WarningFlag
from verifier.assessment.income import MemberIncome, member_income, member_status
from verifier.assessment.recheck import (
    CurrentMember,
    HouseholdNow,
    PreviousFlag,
    PreviousReport,
    ReportChanges,
    compare,
    gradual_exit,
    next_recheck_date,
    of_working_age,
)
from verifier.assessment.rules import RULES, Facts
from verifier.assessment.rules.assets import counted_accounts, counted_properties, owned_on
from verifier.policy import Policy
from verifier.request import VerificationRequest
from verifier.vocabulary import Purpose, Severity

__all__ = ["Measured", "assess", "measure"]

NOT_COUNTED: Final = frozenset({"deceased", "in_custody"})


@dataclass(frozen=True, slots=True)
class _Members:
    """The members' figures, and of the counted ones their income (request order)."""

    figures: tuple[MemberFigures, ...]
    incomes: Mapping[str, MemberIncome]
    household_income: Mapping[str, int]


def _members(ctx: Context) -> _Members:
    """Each declared member's status, income and records; counted members' income summed by category."""
    figures: list[MemberFigures] = []
    incomes: dict[str, MemberIncome] = {}
    household: dict[str, int] = dict.fromkeys(INCOME_CATEGORIES, 0)
    for member in ctx.request.members:
        status, _ = member_status(ctx, member.id_number)
        is_counted = status not in NOT_COUNTED
        income = member_income(ctx, member.id_number)
        verified = income.verified
        counted_income = max(member.declared_annual_income_fen, verified)
        by_category = {**income.by_category, "declared_unverified": counted_income - verified}
        if is_counted:
            incomes[member.id_number] = income
            for category, amount in by_category.items():
                household[category] += amount
        figures.append(
            MemberFigures(
                id_number=member.id_number,
                name=member.name,
                relation=member.relation,
                status=status,
                counted_in_household=is_counted,
                declared_annual_income_fen=member.declared_annual_income_fen,
                verified_annual_income_fen=verified,
                counted_annual_income_fen=counted_income if is_counted else 0,
                income_by_category=by_category,
                supplied=ctx.about(member.id_number),
            )
        )
    return _Members(tuple(figures), incomes, household)


def _per_capita(annual: int, deducted: int, n: int) -> tuple[int, int]:
    """Monthly income per capita before and after deductions, rounded once (0 for no counted member)."""
    if not n:
        return 0, 0
    return round_half_up(Fraction(annual, 12 * n)), round_half_up(Fraction(max(annual - deducted, 0), 12 * n))


def _changes(
    previous: PreviousReport, members: _Members, household: HouseholdFigures, flags: Sequence[WarningFlag]
) -> ReportChanges:
    """The recheck's change section: this assessment against the previous report."""
    return compare(
        previous,
        classification=household.classification,
        members=[
            CurrentMember(
                m.id_number,
                m.name,
                m.counted_in_household,
                m.counted_annual_income_fen,
                m.income_by_category.get("wages", 0) if m.counted_in_household else 0,
            )
            for m in members.figures
        ],
        household_size=household.household_size,
        income_by_category=household.income_by_category,
        annual_income_fen=household.annual_income_fen,
        deductions_fen=household.deductions_fen,
        per_capita_monthly_income_fen=household.per_capita_monthly_income_fen,
        financial_assets_fen=household.financial_assets_fen,
        residential_properties=household.residential_properties,
        flags=[PreviousFlag(f.code, f.severity, f.id_number, f.department, f.message_zh) for f in flags],
    )


def _facts(ctx: Context, members: _Members, now: HouseholdNow, previous: PreviousReport | None) -> Facts:
    """What the rules read: the counted members and their income, the figures, the assets held."""
    counted = tuple(members.incomes)
    accounts = counted_accounts(ctx, counted)
    properties = counted_properties(ctx, counted)
    return Facts(
        counted=counted,
        incomes=members.incomes,
        per_capita_fen=now.per_capita_fen,
        accounts=accounts,
        financial_assets_fen=sum(r.balance_fen for r in accounts),
        properties=properties,
        owned=tuple(r for r in properties if owned_on(r, ctx.day)),
        previous=previous,
        gradual_exit=(
            gradual_exit(previous, now, standard=ctx.standard, policy=ctx.policy, day=ctx.day)
            if previous is not None
            else None
        ),
    )


def _next_recheck(ctx: Context, members: _Members) -> dt.date:
    """The next recheck: sooner when a counted member of working age has income."""
    variable = any(
        m.counted_in_household and m.counted_annual_income_fen > 0 and of_working_age(m.id_number, ctx.day)
        for m in members.figures
    )
    return next_recheck_date(ctx.policy, ctx.day, variable)


@dataclass(frozen=True, slots=True)
class Measured:
    """The figures before any warning: members, deduction lines, per-capita income, and the rules' facts."""

    members: _Members
    lines: tuple[DeductionLine, ...]
    before: int  # per-capita monthly income before deductions
    now: HouseholdNow
    facts: Facts


def measure(ctx: Context, previous: PreviousReport | None = None) -> Measured:
    """Members' status and income, deductions, per-capita figures and assets held: what the rules read.

    ``previous`` is a recheck's previous report (for gradual exit).
    """
    members = _members(ctx)
    counted = tuple(members.incomes)
    annual = sum(members.household_income.values())
    lines = deduction_lines(ctx, counted, {i: len(income.wage_months) for i, income in members.incomes.items()})
    deducted = sum(line.allowed_fen for line in lines)
    before, after = _per_capita(annual, deducted, len(counted))
    now = HouseholdNow(len(counted), annual, members.household_income["wages"], deducted, after)
    return Measured(members, tuple(lines), before, now, _facts(ctx, members, now, previous))


def assess(
    request: VerificationRequest,
    policy: Policy,
    sources: Mapping[str, SourceOutcome],
    previous: PreviousReport | None = None,
    *,
    catalogue: DepartmentCatalogue = DEFAULT_CATALOGUE,
) -> AssessmentResult:
    """Compute the report's figures, flags and indicative classification from verified records.

    ``previous`` is the report a recheck names (read by the service); with it the result carries the
    change section and, when it applies, GRADUAL_EXIT with its end date. ``catalogue`` declares the
    departments: which record kinds each answers with, and their names in the messages.
    """
    ctx = Context.of(request, policy, sources, catalogue)
    if previous is not None:  # issue 13: another organisation's report, only what the recheck may compare
        asked = {
            m.id_number for m in request.members if any(m.id_number not in s.not_queried for s in sources.values())
        }
        previous = previous.seen_by(request.commissioned_by, asked)  # review 13: members its consent covers only
    m = measure(ctx, previous if request.purpose == Purpose.RECHECK else None)
    members, facts, lines = m.members, m.facts, m.lines
    annual, deducted, before, after = m.now.annual_income_fen, m.now.deductions_fen, m.before, m.now.per_capita_fen
    flags = tuple(f for rule in RULES for f in rule.flags(ctx, facts))
    periods = window_periods(request.application_date)
    household = HouseholdFigures(
        classification=classify(ctx, flags, before, after, household_size=facts.size),
        household_size=facts.size,
        annual_income_fen=annual,
        income_by_category=members.household_income,
        deductions_fen=deducted,
        deductions=tuple(lines),
        per_capita_monthly_income_before_fen=before,
        per_capita_monthly_income_fen=after,
        standard_fen=ctx.standard,
        marginal_standard_fen=round_half_up(policy.marginal_multiplier * ctx.standard),
        financial_assets_fen=facts.financial_assets_fen,
        financial_assets_limit_fen=policy.financial_assets_months * ctx.standard * facts.size,
        residential_properties=len(facts.residential),
        window_start=periods[0],
        window_end=periods[-1],
        classification_reasons=inconclusive_reasons(ctx, facts.size),
        derivations=derive(
            ctx,
            Measures(
                members.figures, members.incomes, members.household_income, lines, facts.accounts, facts.residential
            ),
            deducted,
        ),
    )
    return AssessmentResult(
        members=members.figures,
        household=household,
        flags=flags,
        hearing_required=any(f.severity in (Severity.HIGH, Severity.MEDIUM) for f in flags),
        filing_for_review_required=any(f.code == WarningCode.PUBLIC_EMPLOYEE for f in flags),
        changes=_changes(facts.previous, members, household, flags) if facts.previous is not None else None,
        next_recheck_date=_next_recheck(ctx, members) if request.purpose == Purpose.RECHECK else None,
        gradual_exit_until=facts.gradual_exit.until if facts.gradual_exit is not None else None,
    )
