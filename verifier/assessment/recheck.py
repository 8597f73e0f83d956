"""Rechecks (policy.md "Rechecks"): the previous report as data, and what changed since it.

Pure functions: the service reads the previous report and hands it in as a
:class:`PreviousReport`; the assessment compares it with the figures it has just computed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

from verifier.assessment.arithmetic import round_half_up
from verifier.policy import Policy
from verifier.vocabulary import Classification

__all__ = [
    "ASSISTED_CLASSIFICATIONS",
    "WORKING_AGE",
    "CurrentMember",
    "FlagKey",
    "GradualExitFigures",
    "HouseholdNow",
    "MemberChange",
    "PreviousFlag",
    "PreviousMember",
    "PreviousReport",
    "PreviousReportError",
    "ReportChanges",
    "WarningChange",
    "age_on",
    "compare",
    "gradual_exit",
    "months_after",
    "next_recheck_date",
    "of_working_age",
    "previous_from_report",
]

# Classifications under which the household received dibao: the ones GRADUAL_EXIT starts from.
ASSISTED_CLASSIFICATIONS: Final = frozenset({Classification.DIBAO, Classification.DIBAO_AFTER_DEDUCTIONS})
# Working age (policy.md: 16–59), inclusive, in whole years on the application date.
WORKING_AGE: Final = (16, 59)


class PreviousReportError(ValueError):
    """A stored report that cannot be read as a previous report."""


@dataclass(frozen=True, slots=True)
class PreviousMember:
    """A member as the previous report has them."""

    id_number: str
    name: str
    counted_in_household: bool
    counted_annual_income_fen: int
    income_by_category: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class PreviousFlag:
    """A warning of the previous report (or of this one, for the comparison)."""

    code: str
    severity: str
    id_number: str | None
    department: str
    message_zh: str


FlagKey = tuple[str, str | None, str]  # code, member, department


@dataclass(frozen=True, slots=True)
class PreviousReport:
    """What a recheck needs of the report it names (and who commissioned it, who applied: issue 13)."""

    report_id: str
    verification_id: str
    version: int
    application_date: dt.date
    classification: str
    household_size: int
    annual_income_fen: int
    income_by_category: Mapping[str, int]
    deductions_fen: int
    per_capita_monthly_income_fen: int
    standard_fen: int
    financial_assets_fen: int
    residential_properties: int
    members: tuple[PreviousMember, ...]
    flags: tuple[PreviousFlag, ...]
    commissioned_by: str = ""
    applicant: str | None = None  # the member whose relation is ``applicant``

    def member_ids(self) -> tuple[str, ...]:
        """The previous report's members, in its order."""
        return tuple(m.id_number for m in self.members)

    def seen_by(self, organisation: str, member_ids: Collection[str]) -> PreviousReport:
        """This report as a recheck of ``organisation`` about the household of ``member_ids`` may compare with
        (the new household's members its consent covers: asked about at some department, review 13).

        Its own organisation's: all of it. Another organisation's (a household that moved, issue 13): the
        household's figures and classification, and the members and warnings of people in the new household
        only — not who else was in it then (they are not named; the figures before still count them), not the
        other organisation's verification and version, nor its warnings' words (a code says which warning).
        """
        if not self.commissioned_by or self.commissioned_by == organisation:
            return self
        return dataclasses.replace(
            self,
            verification_id="",
            version=0,
            members=tuple(m for m in self.members if m.id_number in member_ids),
            flags=tuple(
                dataclasses.replace(f, message_zh="")
                for f in self.flags
                if f.id_number is None or f.id_number in member_ids
            ),
        )


def _int(value: Any, where: str) -> int:
    """``value`` as an integer (not a bool), or an error naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PreviousReportError(f"{where}: not an integer")
    return value


def _money_map(value: Any, where: str) -> dict[str, int]:
    """``value`` as a map of integers, or an error naming ``where``."""
    if not isinstance(value, Mapping):
        raise PreviousReportError(f"{where}: not a map")
    return {str(k): _int(v, f"{where}.{k}") for k, v in value.items()}


def previous_from_report(body: Mapping[str, Any]) -> PreviousReport:
    """Read a stored report (its plain JSON form) as the previous report of a recheck."""
    try:
        a = body["assessment"]
        return PreviousReport(
            report_id=str(body["report_id"]),
            verification_id=str(body["verification_id"]),
            version=_int(body["version"], "version"),
            application_date=dt.date.fromisoformat(body["application_date"]),
            classification=str(a["classification"]),
            household_size=_int(a["household_size"], "assessment.household_size"),
            annual_income_fen=_int(a["annual_income_fen"], "assessment.annual_income_fen"),
            income_by_category=_money_map(a["income_by_category"], "assessment.income_by_category"),
            deductions_fen=_int(a["deductions_fen"], "assessment.deductions_fen"),
            per_capita_monthly_income_fen=_int(
                a["per_capita_monthly_income_fen"], "assessment.per_capita_monthly_income_fen"
            ),
            standard_fen=_int(a["standard_fen"], "assessment.standard_fen"),
            financial_assets_fen=_int(a["financial_assets_fen"], "assessment.financial_assets_fen"),
            residential_properties=_int(a.get("residential_properties", 0), "assessment.residential_properties"),
            members=tuple(
                PreviousMember(
                    id_number=str(m["id_number"]),
                    name=str(m["name"]),
                    counted_in_household=bool(m["counted_in_household"]),
                    counted_annual_income_fen=_int(m["counted_annual_income_fen"], "members.counted_annual_income"),
                    income_by_category=_money_map(m["income_by_category"], "members.income_by_category"),
                )
                for m in body["members"]
            ),
            flags=tuple(
                PreviousFlag(
                    code=str(f["code"]),
                    severity=str(f["severity"]),
                    id_number=f.get("id_number") or None,
                    department=str(f["department"]),
                    message_zh=str(f.get("message_zh", "")),
                )
                for f in body["flags"]
            ),
            commissioned_by=str(body.get("commissioned_by", "")),
            applicant=next((str(m["id_number"]) for m in body["members"] if m.get("relation") == "applicant"), None),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PreviousReportError(f"the stored report is not readable: {exc}") from None


@dataclass(frozen=True, slots=True)
class MemberChange:
    """How one member differs between the previous report and this one."""

    id_number: str
    name: str
    change: str  # joined | left | stayed
    counted_before: bool
    counted_after: bool
    counted_annual_income_before_fen: int
    counted_annual_income_after_fen: int
    wages_before_fen: int
    wages_after_fen: int


@dataclass(frozen=True, slots=True)
class WarningChange:
    """A warning that appeared or cleared since the previous report."""

    code: str
    severity: str
    id_number: str | None
    department: str
    change: str  # appeared | cleared
    message_zh: str


@dataclass(frozen=True, slots=True)
class ReportChanges:
    """The change section of a recheck's report: previous report → this one."""

    previous_report_id: str
    previous_verification_id: str
    previous_version: int
    previous_application_date: str
    classification_before: str
    classification_after: str
    members_added: tuple[str, ...]
    members_removed: tuple[str, ...]
    member_changes: tuple[MemberChange, ...]
    household_size_before: int
    household_size_after: int
    income_by_category_before: Mapping[str, int]
    income_by_category_after: Mapping[str, int]
    annual_income_before_fen: int
    annual_income_after_fen: int
    deductions_before_fen: int
    deductions_after_fen: int
    per_capita_monthly_income_before_fen: int
    per_capita_monthly_income_after_fen: int
    financial_assets_before_fen: int
    financial_assets_after_fen: int
    residential_properties_before: int
    residential_properties_after: int
    warnings_appeared: tuple[str, ...]
    warnings_cleared: tuple[str, ...]
    warning_changes: tuple[WarningChange, ...]


@dataclass(frozen=True, slots=True)
class CurrentMember:
    """What the comparison needs of a member in this report."""

    id_number: str
    name: str
    counted_in_household: bool
    counted_annual_income_fen: int
    wages_fen: int


def _member_changes(previous: PreviousReport, members: Sequence[CurrentMember]) -> list[MemberChange]:
    """Members who stayed or joined (in this report's order), then those who left (in the previous report's)."""
    then = {m.id_number: m for m in previous.members}
    changes: list[MemberChange] = []
    for m in members:
        before = then.get(m.id_number)
        changes.append(
            MemberChange(
                id_number=m.id_number,
                name=m.name,
                change="stayed" if before is not None else "joined",
                counted_before=before.counted_in_household if before is not None else False,
                counted_after=m.counted_in_household,
                counted_annual_income_before_fen=before.counted_annual_income_fen if before is not None else 0,
                counted_annual_income_after_fen=m.counted_annual_income_fen,
                wages_before_fen=_wages(before),
                wages_after_fen=m.wages_fen,
            )
        )
    now_ids = {m.id_number for m in members}
    changes += [
        MemberChange(
            id_number=p.id_number,
            name=p.name,
            change="left",
            counted_before=p.counted_in_household,
            counted_after=False,
            counted_annual_income_before_fen=p.counted_annual_income_fen,
            counted_annual_income_after_fen=0,
            wages_before_fen=_wages(p),
            wages_after_fen=0,
        )
        for p in previous.members
        if p.id_number not in now_ids
    ]
    return changes


def _wages(member: PreviousMember | None) -> int:
    """A previous member's wages, counted only when the member was counted."""
    if member is None or not member.counted_in_household:
        return 0
    return member.income_by_category.get("wages", 0)


def _flag_key(f: PreviousFlag) -> FlagKey:
    """What makes two warnings the same across reports: code, member and department."""
    return (f.code, f.id_number, f.department)


def _warning_changes(
    before_flags: Sequence[PreviousFlag], after_flags: Sequence[PreviousFlag]
) -> tuple[list[PreviousFlag], list[PreviousFlag], list[WarningChange]]:
    """(appeared, cleared, the change rows): appeared ones first, each in its report's order."""
    before = {_flag_key(f): f for f in before_flags}
    after = {_flag_key(f): f for f in after_flags}
    appeared = [after[k] for k in after if k not in before]
    cleared = [before[k] for k in before if k not in after]
    rows = [
        *(WarningChange(f.code, f.severity, f.id_number, f.department, "appeared", f.message_zh) for f in appeared),
        *(WarningChange(f.code, f.severity, f.id_number, f.department, "cleared", f.message_zh) for f in cleared),
    ]
    return appeared, cleared, rows


def compare(
    previous: PreviousReport,
    *,
    classification: str,
    members: Sequence[CurrentMember],
    household_size: int,
    income_by_category: Mapping[str, int],
    annual_income_fen: int,
    deductions_fen: int,
    per_capita_monthly_income_fen: int,
    financial_assets_fen: int,
    residential_properties: int,
    flags: Sequence[PreviousFlag],
) -> ReportChanges:
    """The change section: members joined and left, income by category, assets, warnings appeared and cleared."""
    now_ids = [m.id_number for m in members]
    then_ids = set(previous.member_ids())
    appeared, cleared, warning_changes = _warning_changes(previous.flags, flags)
    return ReportChanges(
        previous_report_id=previous.report_id,
        previous_verification_id=previous.verification_id,
        previous_version=previous.version,
        previous_application_date=previous.application_date.isoformat(),
        classification_before=previous.classification,
        classification_after=classification,
        members_added=tuple(i for i in now_ids if i not in then_ids),
        members_removed=tuple(p.id_number for p in previous.members if p.id_number not in now_ids),
        member_changes=tuple(_member_changes(previous, members)),
        household_size_before=previous.household_size,
        household_size_after=household_size,
        income_by_category_before=dict(previous.income_by_category),
        income_by_category_after=dict(income_by_category),
        annual_income_before_fen=previous.annual_income_fen,
        annual_income_after_fen=annual_income_fen,
        deductions_before_fen=previous.deductions_fen,
        deductions_after_fen=deductions_fen,
        per_capita_monthly_income_before_fen=previous.per_capita_monthly_income_fen,
        per_capita_monthly_income_after_fen=per_capita_monthly_income_fen,
        financial_assets_before_fen=previous.financial_assets_fen,
        financial_assets_after_fen=financial_assets_fen,
        residential_properties_before=previous.residential_properties,
        residential_properties_after=residential_properties,
        warnings_appeared=tuple(sorted({f.code for f in appeared})),
        warnings_cleared=tuple(sorted({f.code for f in cleared})),
        warning_changes=tuple(warning_changes),
    )


def months_after(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months later, or the last day of that month when it is shorter."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    month = month0 + 1
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = (following - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def age_on(id_number: str, day: dt.date) -> int:
    """Whole years of age on ``day`` from the birth date in an (already checked) identity number."""
    born = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@dataclass(frozen=True, slots=True)
class GradualExitFigures:
    """Why GRADUAL_EXIT applies: the previous report, the wages then and now, and the period's end."""

    previous: PreviousReport
    wages_before_fen: int
    wages_fen: int
    per_capita_fen: int
    without_wage_rise_fen: int
    until: dt.date


@dataclass(frozen=True, slots=True)
class HouseholdNow:
    """What gradual exit compares of this assessment: n, income, wages, deductions, per-capita after deductions."""

    size: int
    annual_income_fen: int
    wages_fen: int
    deductions_fen: int
    per_capita_fen: int


def gradual_exit(
    previous: PreviousReport, now: HouseholdNow, *, standard: int, policy: Policy, day: dt.date
) -> GradualExitFigures | None:
    """GRADUAL_EXIT (policy.md): previously DIBAO or DIBAO_AFTER_DEDUCTIONS, now not below S, through wages.

    "Through wages": the household's wages rose, and without the part of the income increase that the
    rise in wages explains, the per-capita income (after deductions, same n and D) would still be below S.
    """
    if previous.classification not in ASSISTED_CLASSIFICATIONS or now.size == 0 or now.per_capita_fen < standard:
        return None
    wages_before = previous.income_by_category.get("wages", 0)
    wage_rise = now.wages_fen - wages_before
    explained = min(wage_rise, now.annual_income_fen - previous.annual_income_fen)
    if wage_rise <= 0 or explained <= 0:
        return None
    without = round_half_up(Fraction(max(now.annual_income_fen - explained - now.deductions_fen, 0), 12 * now.size))
    if without >= standard:
        return None
    return GradualExitFigures(
        previous,
        wages_before,
        now.wages_fen,
        now.per_capita_fen,
        without,
        months_after(day, policy.gradual_exit_months),
    )


def next_recheck_date(policy: Policy, day: dt.date, working_income: bool) -> dt.date:
    """policy.md: ``recheck_months_variable`` after ``day`` when a counted member of working age has income."""
    months = policy.recheck_months_variable if working_income else policy.recheck_months_stable
    return months_after(day, months)


def of_working_age(id_number: str, day: dt.date) -> bool:
    """Whether the member is of working age (16–59, inclusive) on ``day``."""
    low, high = WORKING_AGE
    return low <= age_on(id_number, day) <= high
