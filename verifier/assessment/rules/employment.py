"""Employment and spending (warnings.md): employers' contributions, public employment, large insurance premiums.

Each flag names the department that supplied its records; when two departments supplied records of
one kind for a member, each raises its own flag with its own evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar, TypeVar

from connectors.departments import RecordKind
from connectors.records import ContributionRecord, DepartmentRecord, InsurancePremiumRecord, ProvidentFundRecord
from verifier.assessment.context import Context
from verifier.assessment.flags import WarningCode, WarningFlag, yuan
from verifier.assessment.rules.base import Facts

__all__ = ["EmploymentEvidence", "InsurancePremiums"]

R = TypeVar("R", bound=DepartmentRecord)


def _by_supplier(ctx: Context, records: Sequence[R]) -> Iterator[tuple[str, list[R]]]:
    """``records`` grouped by the department that supplied them, groups in catalogue order (then by id)."""
    groups: dict[str, list[R]] = {}
    for record in records:
        groups.setdefault(ctx.supplier(record), []).append(record)
    order = [*ctx.catalogue, *sorted(set(groups) - set(ctx.catalogue))]
    for department in order:
        if department in groups:
            yield department, groups[department]


class EmploymentEvidence:
    """EMPLOYER_CONTRIBUTIONS and PUBLIC_EMPLOYEE, per counted member, from the window's contribution records."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.EMPLOYER_CONTRIBUTIONS, WarningCode.PUBLIC_EMPLOYEE)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """Per counted member: employer-paid social security, employer-paid provident fund, public institution."""
        for id_number in facts.counted:
            contributions = ctx.in_window(ContributionRecord, id_number)
            fund = [r for r in ctx.in_window(ProvidentFundRecord, id_number) if r.employer_part_fen > 0]
            employer_paid = [r for r in contributions if r.employer_part_fen > 0]
            yield from self._employer(ctx, id_number, employer_paid)
            yield from self._employer(ctx, id_number, fund)
            public = [r for r in contributions if r.scheme == "public_institution"]
            for department, group in _by_supplier(ctx, public):
                yield ctx.flag(
                    WarningCode.PUBLIC_EMPLOYEE,
                    id_number=id_number,
                    department=department,
                    evidence=tuple(ctx.evidence(r, "scheme", r.scheme) for r in group),
                )

    @staticmethod
    def _employer(
        ctx: Context, id_number: str, records: Sequence[ContributionRecord | ProvidentFundRecord]
    ) -> Iterator[WarningFlag]:
        """One EMPLOYER_CONTRIBUTIONS flag per supplying department of ``records``."""
        for department, group in _by_supplier(ctx, records):
            yield ctx.flag(
                WarningCode.EMPLOYER_CONTRIBUTIONS,
                id_number=id_number,
                department=department,
                evidence=tuple(ctx.evidence(r, "employer_part_fen", r.employer_part_fen) for r in group),
            )


class InsurancePremiums:
    """LARGE_INSURANCE_PREMIUM: the counted members' premiums in the window above the policy's months of S."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.LARGE_INSURANCE_PREMIUM,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """One household flag when the premiums exceed the limit."""
        premiums = [r for r in ctx.in_window(InsurancePremiumRecord) if r.id_number in facts.counted]
        total = sum(r.amount_fen for r in premiums)
        limit = ctx.policy.insurance_premium_months * ctx.standard
        if total > limit:
            yield ctx.flag(
                WarningCode.LARGE_INSURANCE_PREMIUM,
                id_number=None,
                department=ctx.department_of(premiums, RecordKind.INSURANCE_PREMIUM),
                evidence=tuple(ctx.evidence(r, "amount_fen", r.amount_fen) for r in premiums),
                amount=yuan(total),
                limit=yuan(limit),
            )
