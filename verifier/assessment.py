"""The assessment of policy.md as pure functions: verified records + request + policy → figures, flags.

Money is integer fen throughout. Rates are exact fractions; each formula rounds
half up to the fen once, at its end (:func:`round_half_up`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from connectors.records import (
    AccountRecord,
    BenefitRecord,
    ContributionRecord,
    DepartmentRecord,
    EnterpriseRecord,
    InsurancePremiumRecord,
    PensionRecord,
    PersonRecord,
    PropertyRecord,
    ProvidentFundRecord,
    RentalRecord,
    TaxIncomeRecord,
    VehicleRecord,
)
from consent.identity import mask
from verifier.flags import Evidence, WarningFlag, department_zh, flag, yuan
from verifier.policy import Policy
from verifier.recheck import (
    ASSISTED_CLASSIFICATIONS,
    WORKING_AGE,
    Changes,
    CurrentMember,
    PreviousFlag,
    PreviousReport,
    age_on,
    compare,
    months_after,
)
from verifier.request import VerificationRequest

__all__ = [
    "INCOME_CATEGORIES",
    "AssessmentResult",
    "DeductionLine",
    "HouseholdFigures",
    "MemberFigures",
    "SourceOutcome",
    "assess",
    "round_half_up",
    "window_periods",
]

INCOME_CATEGORIES: Final = ("wages", "business", "property", "pensions", "benefits", "other", "declared_unverified")
ASSET_CODES: Final = frozenset(
    {
        "FINANCIAL_ASSETS_ABOVE_LIMIT",
        "MULTIPLE_PROPERTIES",
        "NON_RESIDENTIAL_PROPERTY",
        "VEHICLE_OWNED",
        "BUSINESS_REGISTERED",
    }
)
EXEMPT_VEHICLE_TYPES: Final = frozenset({"motorcycle", "tricycle", "disability"})
NOT_COUNTED: Final = frozenset({"deceased", "in_custody"})
ROLE_ZH: Final = {"legal_representative": "法定代表人", "shareholder": "股东", "executive": "高级管理人员"}
RELATION_ZH: Final = {"spouse": "配偶", "head": "配偶", "child": "未成年子女"}


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """What one department gave for this verification."""

    department: str
    status: str  # ok | unavailable | pending | not_queried
    records: tuple[DepartmentRecord, ...] = ()
    detail: str = ""
    not_queried: tuple[str, ...] = ()
    answered_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class DeductionLine:
    id_number: str
    kind: str
    declared_fen: int
    allowed_fen: int
    evidence: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class MemberFigures:
    id_number: str
    name: str
    relation: str
    status: str
    counted_in_household: bool
    declared_annual_income_fen: int
    verified_annual_income_fen: int
    counted_annual_income_fen: int
    income_by_category: Mapping[str, int]
    records: tuple[DepartmentRecord, ...]


@dataclass(frozen=True, slots=True)
class HouseholdFigures:
    classification: str
    household_size: int
    annual_income_fen: int
    income_by_category: Mapping[str, int]
    deductions_fen: int
    deductions: tuple[DeductionLine, ...]
    per_capita_monthly_income_before_fen: int
    per_capita_monthly_income_fen: int
    standard_fen: int
    marginal_standard_fen: int
    financial_assets_fen: int
    financial_assets_limit_fen: int
    residential_properties: int
    window_start: str
    window_end: str


@dataclass(frozen=True, slots=True)
class AssessmentResult:
    members: tuple[MemberFigures, ...]
    household: HouseholdFigures
    flags: tuple[WarningFlag, ...]
    hearing_required: bool
    filing_for_review_required: bool
    # Rechecks only (policy.md "Rechecks").
    changes: Changes | None = None
    next_recheck_date: dt.date | None = None
    gradual_exit_until: dt.date | None = None


def round_half_up(value: Fraction | int) -> int:
    """Round a non-negative exact amount of fen half up (0.5 fen → 1 fen)."""
    exact = Fraction(value)
    if exact < 0:
        raise ValueError("money amounts here are never negative")
    whole, rest = divmod(exact.numerator, exact.denominator)
    return whole + (1 if 2 * rest >= exact.denominator else 0)


def _months_before(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    last = [
        31,
        29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ]
    return dt.date(year, month, min(day.day, last[month - 1]))


def window_periods(application_date: dt.date) -> tuple[str, ...]:
    """The 12 calendar months before the application month, oldest first ("YYYY-MM")."""
    first = application_date.year * 12 + application_date.month - 1 - 12
    return tuple(f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(first, first + 12))


def _ev(record: DepartmentRecord, field_name: str, value: object) -> Evidence:
    return Evidence(record.department, record.record_id, field_name, str(value))


@dataclass
class _Context:
    request: VerificationRequest
    policy: Policy
    sources: Mapping[str, SourceOutcome]
    periods: frozenset[str]
    standard: int
    flags: list[WarningFlag] = field(default_factory=list)

    def records(self, kind: type[DepartmentRecord], id_number: str | None = None) -> list[DepartmentRecord]:
        found: list[DepartmentRecord] = []
        for source in self.sources.values():
            if source.status != "ok":
                continue
            for record in source.records:
                if record.subject in source.not_queried:
                    continue  # a member without consent here: never use what came with another's answer
                if isinstance(record, kind) and (id_number is None or record.subject == id_number):
                    found.append(record)
        return sorted(found, key=lambda r: r.record_id)


def _member_status(ctx: _Context, id_number: str) -> tuple[str, PersonRecord | None]:
    for record in ctx.records(PersonRecord, id_number):
        assert isinstance(record, PersonRecord)
        return record.status, record
    return "unknown", None


def _monthly(amounts: Iterable[tuple[str, int]], periods: frozenset[str]) -> dict[str, int]:
    """Sum (period, amount) pairs per period, keeping only periods inside the window."""
    totals: dict[str, int] = defaultdict(int)
    for period, amount in amounts:
        if period in periods:
            totals[period] += amount
    return totals


def _income(ctx: _Context, id_number: str) -> tuple[dict[str, int], set[str]]:
    """Verified income by category for one member, and the months in which the member had wages."""
    tax = [r for r in ctx.records(TaxIncomeRecord, id_number) if isinstance(r, TaxIncomeRecord)]

    def taxed(category: str) -> dict[str, int]:
        return _monthly(((r.period, r.amount_fen) for r in tax if r.category == category), ctx.periods)

    contributions = [r for r in ctx.records(ContributionRecord, id_number) if isinstance(r, ContributionRecord)]
    wage_bases = _monthly(
        ((r.period, r.base_fen) for r in contributions if r.scheme in ("enterprise_employee", "public_institution")),
        ctx.periods,
    )
    wages_tax = taxed("wages")
    wage_months = {p: max(wages_tax.get(p, 0), wage_bases.get(p, 0)) for p in ctx.periods}
    property_tax = taxed("property")
    rentals = _monthly(
        ((r.period, r.rent_fen) for r in ctx.records(RentalRecord, id_number) if isinstance(r, RentalRecord)),
        ctx.periods,
    )
    pensions = _monthly(
        ((r.period, r.amount_fen) for r in ctx.records(PensionRecord, id_number) if isinstance(r, PensionRecord)),
        ctx.periods,
    )
    benefits = _monthly(
        (
            (r.period, r.amount_fen)
            for r in ctx.records(BenefitRecord, id_number)
            if isinstance(r, BenefitRecord) and r.kind_of_benefit not in ctx.policy.excluded_income_categories
        ),
        ctx.periods,
    )
    income = {
        "wages": sum(wage_months.values()),
        "business": sum(taxed("business").values()),
        "property": sum(max(property_tax.get(p, 0), rentals.get(p, 0)) for p in ctx.periods),
        "pensions": sum(pensions.values()),
        "benefits": sum(benefits.values()),
        "other": sum(taxed("other").values()),
    }
    return income, {p for p, amount in wage_months.items() if amount > 0}


def _deductions(ctx: _Context, counted: Sequence[str], wage_months: Mapping[str, set[str]]) -> list[DeductionLine]:
    request, policy = ctx.request, ctx.policy
    lines: list[DeductionLine] = []
    rehabilitation_used: dict[str, int] = defaultdict(int)
    for item in request.deductions:
        if item.kind == "pension_contribution":
            continue
        if item.id_number not in counted:
            lines.append(
                DeductionLine(
                    item.id_number, item.kind, item.amount_fen, 0, item.evidence, "member not counted in the household"
                )
            )
            continue
        allowed, note = item.amount_fen, ""
        if item.kind == "rehabilitation":
            room = max(policy.rehabilitation_cap_per_year_fen - rehabilitation_used[item.id_number], 0)
            allowed = min(item.amount_fen, room)
            rehabilitation_used[item.id_number] += allowed
            if allowed < item.amount_fen:
                note = f"capped at {policy.rehabilitation_cap_per_year_fen} fen per disabled member per year"
        lines.append(DeductionLine(item.id_number, item.kind, item.amount_fen, allowed, item.evidence, note))
    social_security_answered = (
        ctx.sources.get("social_security", SourceOutcome("social_security", "unavailable")).status == "ok"
    )
    for member in request.members:
        declared = [
            d for d in request.deductions if d.kind == "pension_contribution" and d.id_number == member.id_number
        ]
        declared_fen = sum(d.amount_fen for d in declared)
        evidence = "; ".join(d.evidence for d in declared)
        if member.id_number not in counted:
            if declared:
                lines.append(
                    DeductionLine(
                        member.id_number,
                        "pension_contribution",
                        declared_fen,
                        0,
                        evidence,
                        "member not counted in the household",
                    )
                )
            continue
        records = [
            r
            for r in ctx.records(ContributionRecord, member.id_number)
            if isinstance(r, ContributionRecord) and r.period in ctx.periods
        ]
        if records:
            verified = sum(r.personal_part_fen for r in records)
            ids = ", ".join(r.record_id for r in records)
            lines.append(
                DeductionLine(
                    member.id_number,
                    "pension_contribution",
                    declared_fen,
                    verified,
                    evidence or f"social security records {ids}",
                    "personal part in social-security records",
                )
            )
        elif declared:
            note = (
                "no social-security record; declared amount"
                if social_security_answered
                else "social security did not answer; declared amount"
            )
            lines.append(
                DeductionLine(member.id_number, "pension_contribution", declared_fen, declared_fen, evidence, note)
            )
    for member in request.members:
        if member.employment_category is None or member.id_number not in counted:
            continue
        months = len(wage_months.get(member.id_number, set()))
        if months == 0:
            continue
        amount = round_half_up(policy.employment_cost_rate * ctx.standard * months)
        lines.append(
            DeductionLine(
                member.id_number,
                "employment_cost",
                0,
                amount,
                f"{member.employment_category}, wages in {months} month(s)",
                f"{policy.employment_cost_rate} × standard {ctx.standard} × {months} months",
            )
        )
    return lines


def _police_flags(ctx: _Context) -> None:
    police = ctx.sources.get("police")
    if police is None or police.status != "ok":
        return
    declared = {m.id_number for m in ctx.request.members}
    persons = [r for r in ctx.records(PersonRecord) if isinstance(r, PersonRecord)]
    for member in ctx.request.members:
        if member.id_number in police.not_queried:
            continue
        record = next((p for p in persons if p.id_number == member.id_number), None)
        if record is None:
            ctx.flags.append(
                flag(
                    "IDENTITY_MISMATCH",
                    id_number=member.id_number,
                    department="police",
                    evidence=(Evidence("police", "", "id_number", mask(member.id_number)),),
                    reason_zh="身份证号在户籍系统中不存在",
                    reason_en="the identity number is unknown",
                )
            )
            continue
        if record.name != member.name:
            ctx.flags.append(
                flag(
                    "IDENTITY_MISMATCH",
                    id_number=member.id_number,
                    department="police",
                    evidence=(_ev(record, "name", record.name),),
                    reason_zh="申报姓名与登记姓名不一致",
                    reason_en="the declared name differs from the registered name",
                )
            )
        if record.status == "deceased":
            ctx.flags.append(
                flag(
                    "MEMBER_DECEASED",
                    id_number=member.id_number,
                    department="police",
                    evidence=(_ev(record, "status", record.status),),
                    date=record.status_date or "?",
                )
            )
        elif record.status == "in_custody":
            ctx.flags.append(
                flag(
                    "MEMBER_IN_CUSTODY",
                    id_number=member.id_number,
                    department="police",
                    evidence=(_ev(record, "status", record.status),),
                    date=record.status_date or "?",
                )
            )
    # Spouses and minor children on the register of a declared head or spouse who were not declared.
    households = {p.hukou_id for p in persons if p.id_number in declared and p.relation_to_head in ("head", "spouse")}
    for person in persons:
        if person.hukou_id not in households or person.id_number in declared or person.status != "active":
            continue
        partner = person.relation_to_head in ("head", "spouse")
        minor = person.relation_to_head == "child" and age_on(person.id_number, ctx.request.application_date) < 18
        if partner or minor:
            ctx.flags.append(
                flag(
                    "UNDECLARED_MEMBER",
                    id_number=None,
                    department="police",
                    evidence=(Evidence("police", person.record_id, "relation_to_head", person.relation_to_head),),
                    relation_zh=RELATION_ZH.get(person.relation_to_head, person.relation_to_head),
                    relation_en="spouse" if partner else "minor child",
                    masked=mask(person.id_number),
                )
            )


def _asset_flags(ctx: _Context, counted: Sequence[str]) -> tuple[int, int]:
    """Asset warnings for counted members; returns (financial assets, residential properties)."""
    day = ctx.request.application_date
    policy, n = ctx.policy, len(counted)
    # Each account record is one holding; balances dated after the application date are not yet held then.
    accounts = [
        r
        for r in ctx.records(AccountRecord)
        if isinstance(r, AccountRecord) and r.id_number in counted and dt.date.fromisoformat(r.as_of) <= day
    ]
    financial = sum(r.balance_fen for r in accounts)
    limit_per_capita = policy.financial_assets_months * ctx.standard
    if n and financial > limit_per_capita * n:
        ctx.flags.append(
            flag(
                "FINANCIAL_ASSETS_ABOVE_LIMIT",
                id_number=None,
                department="banks",
                evidence=tuple(_ev(r, "balance_fen", r.balance_fen) for r in accounts),
                per_capita=yuan(round_half_up(Fraction(financial, n))),
                limit=yuan(limit_per_capita),
            )
        )
    owned: list[PropertyRecord] = []
    for record in ctx.records(PropertyRecord):
        assert isinstance(record, PropertyRecord)
        if record.owner_id not in counted:
            continue
        acquired_ok = record.acquired is None or dt.date.fromisoformat(record.acquired) <= day
        kept = record.disposed is None or dt.date.fromisoformat(record.disposed) > day
        if acquired_ok and kept:
            owned.append(record)
        if record.disposed is not None:
            disposed = dt.date.fromisoformat(record.disposed)
            if _months_before(day, policy.recent_transfer_months) < disposed <= day:
                ctx.flags.append(
                    flag(
                        "RECENT_PROPERTY_TRANSFER",
                        id_number=record.owner_id,
                        department="housing",
                        evidence=(_ev(record, "disposed", record.disposed),),
                        date=record.disposed,
                    )
                )
    residential = [r for r in owned if r.usage == "residential"]
    if len(residential) > policy.max_residential_properties:
        ctx.flags.append(
            flag(
                "MULTIPLE_PROPERTIES",
                id_number=None,
                department="housing",
                evidence=tuple(_ev(r, "usage", r.usage) for r in residential),
                count=str(len(residential)),
                allowed=str(policy.max_residential_properties),
            )
        )
    for record in owned:
        if record.usage != "residential":
            ctx.flags.append(
                flag(
                    "NON_RESIDENTIAL_PROPERTY",
                    id_number=record.owner_id,
                    department="housing",
                    evidence=(_ev(record, "usage", record.usage),),
                    usage=record.usage,
                )
            )
    for record in ctx.records(VehicleRecord):
        assert isinstance(record, VehicleRecord)
        if record.owner_id not in counted or record.type in EXEMPT_VEHICLE_TYPES:
            continue
        if record.use == "operating" and record.value_fen <= policy.exempt_vehicle_value_fen:
            continue
        ctx.flags.append(
            flag(
                "VEHICLE_OWNED",
                id_number=record.owner_id,
                department="vehicles",
                evidence=(_ev(record, "type", record.type), _ev(record, "value_fen", record.value_fen)),
                plate=record.plate,
                type=record.type,
            )
        )
    for record in ctx.records(EnterpriseRecord):
        assert isinstance(record, EnterpriseRecord)
        if record.id_number not in counted:
            continue
        ctx.flags.append(
            flag(
                "BUSINESS_REGISTERED",
                id_number=record.id_number,
                department="tax",
                evidence=(_ev(record, "role", record.role),),
                enterprise=record.enterprise,
                role_zh=ROLE_ZH[record.role],
                role_en=record.role.replace("_", " "),
            )
        )
    return financial, len(residential)


def _employment_flags(ctx: _Context, counted: Sequence[str]) -> None:
    for id_number in counted:
        contributions = [
            r
            for r in ctx.records(ContributionRecord, id_number)
            if isinstance(r, ContributionRecord) and r.period in ctx.periods
        ]
        employer_paid = [r for r in contributions if r.employer_part_fen > 0]
        if employer_paid:
            ctx.flags.append(
                flag(
                    "EMPLOYER_CONTRIBUTIONS",
                    id_number=id_number,
                    department="social_security",
                    evidence=tuple(_ev(r, "employer_part_fen", r.employer_part_fen) for r in employer_paid),
                )
            )
        fund = [
            r
            for r in ctx.records(ProvidentFundRecord, id_number)
            if isinstance(r, ProvidentFundRecord) and r.period in ctx.periods and r.employer_part_fen > 0
        ]
        if fund:
            ctx.flags.append(
                flag(
                    "EMPLOYER_CONTRIBUTIONS",
                    id_number=id_number,
                    department="housing",
                    evidence=tuple(_ev(r, "employer_part_fen", r.employer_part_fen) for r in fund),
                )
            )
        public = [r for r in contributions if r.scheme == "public_institution"]
        if public:
            ctx.flags.append(
                flag(
                    "PUBLIC_EMPLOYEE",
                    id_number=id_number,
                    department="social_security",
                    evidence=tuple(_ev(r, "scheme", r.scheme) for r in public),
                )
            )
    premiums = [
        r
        for r in ctx.records(InsurancePremiumRecord)
        if isinstance(r, InsurancePremiumRecord) and r.id_number in counted and r.period in ctx.periods
    ]
    total = sum(r.amount_fen for r in premiums)
    limit = ctx.policy.insurance_premium_months * ctx.standard
    if total > limit:
        ctx.flags.append(
            flag(
                "LARGE_INSURANCE_PREMIUM",
                id_number=None,
                department="banks",
                evidence=tuple(_ev(r, "amount_fen", r.amount_fen) for r in premiums),
                amount=yuan(total),
                limit=yuan(limit),
            )
        )


def _source_flags(ctx: _Context) -> None:
    for department in sorted(ctx.sources):
        source = ctx.sources[department]
        detail = (Evidence(department, "", "detail", source.detail),) if source.detail else ()
        if source.status == "unavailable":
            ctx.flags.append(flag("SOURCE_UNAVAILABLE", id_number=None, department=department, evidence=detail))
        elif source.status == "pending":
            ctx.flags.append(flag("SOURCE_PENDING", id_number=None, department=department, evidence=detail))
        for id_number in source.not_queried:
            ctx.flags.append(
                flag(
                    "CONSENT_MISSING",
                    id_number=id_number,
                    department="consent",
                    evidence=(Evidence("consent", "", "department_not_queried", department),),
                    target=department,
                    target_zh=department_zh(department),
                )
            )


def _classify(ctx: _Context, before: int, after: int) -> str:
    required = set(ctx.policy.required_departments)
    for department in required:
        source = ctx.sources.get(department)
        if source is None or source.status != "ok" or source.not_queried:
            return "INCONCLUSIVE"
    if any(f.code in ASSET_CODES for f in ctx.flags):
        return "NOT_ELIGIBLE_ASSETS"
    if before < ctx.standard:
        return "DIBAO"
    if after < ctx.standard:
        return "DIBAO_AFTER_DEDUCTIONS"
    if after < ctx.policy.marginal_multiplier * ctx.standard:
        return "MARGINAL"
    return "NOT_ELIGIBLE_INCOME"


def _gradual_exit(
    ctx: _Context, previous: PreviousReport, n: int, annual: int, wages: int, deducted: int, after: int
) -> dt.date | None:
    """GRADUAL_EXIT (policy.md): previously DIBAO or DIBAO_AFTER_DEDUCTIONS, now not below S, through wages.

    "Through wages": the household's wages rose, and without the part of the income increase that the
    rise in wages explains, the per-capita income (after deductions, same n and D) would still be below S.
    """
    if previous.classification not in ASSISTED_CLASSIFICATIONS or n == 0 or after < ctx.standard:
        return None
    wages_before = previous.income_by_category.get("wages", 0)
    wage_rise = wages - wages_before
    income_rise = annual - previous.annual_income_fen
    explained = min(wage_rise, income_rise)
    if wage_rise <= 0 or explained <= 0:
        return None
    without = round_half_up(Fraction(max(annual - explained - deducted, 0), 12 * n))
    if without >= ctx.standard:
        return None
    until = months_after(ctx.request.application_date, ctx.policy.gradual_exit_months)
    ctx.flags.append(
        flag(
            "GRADUAL_EXIT",
            id_number=None,
            department="computed",
            evidence=(
                Evidence("computed", previous.report_id, "classification", previous.classification),
                Evidence("computed", previous.report_id, "wages_fen", str(wages_before)),
                Evidence("computed", "", "wages_fen", str(wages)),
                Evidence("computed", "", "per_capita_monthly_income_fen", str(after)),
                Evidence("computed", "", "per_capita_monthly_income_without_wage_rise_fen", str(without)),
                Evidence("computed", "", "standard_fen", str(ctx.standard)),
                Evidence("computed", "", "gradual_exit_until", until.isoformat()),
            ),
            until=until.isoformat(),
        )
    )
    return until


def _next_recheck(ctx: _Context, members: Sequence[MemberFigures]) -> dt.date:
    """policy.md: ``recheck_months_variable`` when a counted member of working age (16–59) has income."""
    low, high = WORKING_AGE
    day = ctx.request.application_date
    variable = any(
        m.counted_in_household and m.counted_annual_income_fen > 0 and low <= age_on(m.id_number, day) <= high
        for m in members
    )
    months = ctx.policy.recheck_months_variable if variable else ctx.policy.recheck_months_stable
    return months_after(day, months)


def assess(
    request: VerificationRequest,
    policy: Policy,
    sources: Mapping[str, SourceOutcome],
    previous: PreviousReport | None = None,
) -> AssessmentResult:
    """Compute the report's figures, flags and indicative classification from verified records.

    ``previous`` is the report a recheck names (read by the service); with it the result carries the
    change section and, when it applies, GRADUAL_EXIT with its end date.
    """
    periods = window_periods(request.application_date)
    ctx = _Context(request, policy, sources, frozenset(periods), policy.standard_fen(request.area))
    _police_flags(ctx)
    members: list[MemberFigures] = []
    counted: list[str] = []
    wage_months: dict[str, set[str]] = {}
    household_income: dict[str, int] = dict.fromkeys(INCOME_CATEGORIES, 0)
    for member in request.members:
        status, _ = _member_status(ctx, member.id_number)
        is_counted = status not in NOT_COUNTED
        income, months = _income(ctx, member.id_number)
        verified = sum(income.values())
        counted_income = max(member.declared_annual_income_fen, verified)
        income["declared_unverified"] = counted_income - verified
        if is_counted:
            counted.append(member.id_number)
            wage_months[member.id_number] = months
            for category, amount in income.items():
                household_income[category] += amount
            tolerance_limit = member.declared_annual_income_fen * (1 + policy.declared_income_tolerance)
            excess = verified - member.declared_annual_income_fen
            if verified > tolerance_limit and excess > ctx.standard:
                ctx.flags.append(
                    flag(
                        "DECLARED_INCOME_MISMATCH",
                        id_number=member.id_number,
                        department="computed",
                        evidence=(
                            Evidence("computed", "", "verified_annual_income_fen", str(verified)),
                            Evidence(
                                "computed", "", "declared_annual_income_fen", str(member.declared_annual_income_fen)
                            ),
                        ),
                        verified=yuan(verified),
                        declared=yuan(member.declared_annual_income_fen),
                    )
                )
        members.append(
            MemberFigures(
                id_number=member.id_number,
                name=member.name,
                relation=member.relation,
                status=status,
                counted_in_household=is_counted,
                declared_annual_income_fen=member.declared_annual_income_fen,
                verified_annual_income_fen=verified,
                counted_annual_income_fen=counted_income if is_counted else 0,
                income_by_category=income,
                records=tuple(
                    r
                    for s in sorted(sources)
                    for r in sources[s].records
                    if sources[s].status == "ok"
                    and r.subject == member.id_number
                    and member.id_number not in sources[s].not_queried
                ),
            )
        )
    n = len(counted)
    annual = sum(household_income.values())
    lines = _deductions(ctx, counted, wage_months)
    deducted = sum(line.allowed_fen for line in lines)
    before = round_half_up(Fraction(annual, 12 * n)) if n else 0
    after = round_half_up(Fraction(max(annual - deducted, 0), 12 * n)) if n else 0
    financial, residential = _asset_flags(ctx, counted)
    _employment_flags(ctx, counted)
    if n and after >= ctx.standard:
        ctx.flags.append(
            flag(
                "INCOME_ABOVE_STANDARD",
                id_number=None,
                department="computed",
                evidence=(
                    Evidence("computed", "", "per_capita_monthly_income_fen", str(after)),
                    Evidence("computed", "", "standard_fen", str(ctx.standard)),
                ),
                per_capita=yuan(after),
                standard=yuan(ctx.standard),
            )
        )
    recheck = request.purpose == "RECHECK"
    gradual_exit_until = None
    if recheck and previous is not None:
        gradual_exit_until = _gradual_exit(ctx, previous, n, annual, household_income["wages"], deducted, after)
    _source_flags(ctx)
    household = HouseholdFigures(
        classification=_classify(ctx, before, after),
        household_size=n,
        annual_income_fen=annual,
        income_by_category=household_income,
        deductions_fen=deducted,
        deductions=tuple(lines),
        per_capita_monthly_income_before_fen=before,
        per_capita_monthly_income_fen=after,
        standard_fen=ctx.standard,
        marginal_standard_fen=round_half_up(policy.marginal_multiplier * ctx.standard),
        financial_assets_fen=financial,
        financial_assets_limit_fen=policy.financial_assets_months * ctx.standard * n,
        residential_properties=residential,
        window_start=periods[0],
        window_end=periods[-1],
    )
    flags = tuple(ctx.flags)
    changes = None
    if recheck and previous is not None:
        changes = compare(
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
                for m in members
            ],
            household_size=n,
            income_by_category=household_income,
            annual_income_fen=annual,
            deductions_fen=deducted,
            per_capita_monthly_income_fen=after,
            financial_assets_fen=financial,
            residential_properties=residential,
            flags=[PreviousFlag(f.code, f.severity, f.id_number, f.department, f.message_zh) for f in flags],
        )
    return AssessmentResult(
        members=tuple(members),
        household=household,
        flags=flags,
        hearing_required=any(f.severity in ("HIGH", "MEDIUM") for f in flags),
        filing_for_review_required=any(f.code == "PUBLIC_EMPLOYEE" for f in flags),
        changes=changes,
        next_recheck_date=_next_recheck(ctx, members) if recheck else None,
        gradual_exit_until=gradual_exit_until,
    )
