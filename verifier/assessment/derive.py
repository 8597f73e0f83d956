"""The derivations of the assessment's figures (:mod:`verifier.assessment.derivation`), from what measured them.

Pure and cheap: one pass over the figures already computed, naming for each the records its terms
counted (as the income, deduction and asset steps chose them), the policy.md section it follows and the
arithmetic in one line. Nothing here decides a figure: each derivation restates how one was reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from connectors.records import AccountRecord, DepartmentRecord, PersonRecord, PropertyRecord
from consent.identity import CHINA_TIME
from verifier.assessment.arithmetic import round_half_up
from verifier.assessment.context import Context
from verifier.assessment.derivation import Derivation, Operation, Parameter, PolicySection, RecordUse, Term, as_of
from verifier.assessment.figures import INCOME_CATEGORIES, DeductionLine, MemberFigures
from verifier.assessment.income import MemberIncome

__all__ = ["Measures", "derive"]


@dataclass(frozen=True, slots=True)
class Measures:
    """What the figures were computed from: members, their income and records, deductions, assets held."""

    members: Sequence[MemberFigures]
    incomes: Mapping[str, MemberIncome]  # counted members only
    household_income: Mapping[str, int]
    lines: Sequence[DeductionLine]
    accounts: Sequence[AccountRecord]
    residential: Sequence[PropertyRecord]


def _decimal(value: Fraction) -> str:
    """A policy rate as written in a policy file ("1.5", "0.3")."""
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class _Deriver:
    """Makes the derivations of one assessment (the context's policy version and records' suppliers)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.version = ctx.policy.version_label

    def uses(self, records: Iterable[DepartmentRecord]) -> tuple[RecordUse, ...]:
        """The records as the report names them: supplying department, record id, as-of date (a record that
        carries no date of its own is as of its department's answer, in China Standard Time)."""
        found = []
        for r in records:
            department = self.ctx.supplier(r)
            found.append(RecordUse(department, r.record_id, as_of(r) or self._answered(department)))
        return tuple(found)

    def _answered(self, department: str) -> str:
        """The date (China Standard Time) the department answered, empty when unknown."""
        source = self.ctx.sources.get(department)
        if source is None or source.answered_at is None:
            return ""
        return source.answered_at.astimezone(CHINA_TIME).date().isoformat()

    def total(self, figure: str, rule: PolicySection, terms: Sequence[Term]) -> Derivation:
        """A figure that is the sum of its terms."""
        value = sum(t.value for t in terms)
        shown = " + ".join(str(t.value) for t in terms) or "0"
        return Derivation(figure, value, rule, self.version, Operation.SUM, tuple(terms), f"{shown} = {value}")

    def per_capita(self, figure: str, income: int, deducted: int | None, n: int) -> Derivation:
        """round_half_up(max(I − D, 0) / 12 / n), 0 for no counted member."""
        terms = [Term("I", income, figure="annual_income_fen")]
        if deducted is not None:
            terms.append(Term("D", deducted, figure="deductions_fen"))
        terms.append(Term("n", n, figure="household_size"))
        net = max(income - (deducted or 0), 0)
        value = round_half_up(Fraction(net, 12 * n)) if n else 0
        numerator = f"max({income} - {deducted}, 0)" if deducted is not None else str(income)
        arithmetic = f"round_half_up({numerator} / 12 / {n}) = {value}" if n else f"n = 0: {value}"
        return Derivation(
            figure,
            value,
            PolicySection.PER_CAPITA,
            self.version,
            Operation.PER_CAPITA_MONTHLY,
            tuple(terms),
            arithmetic,
        )

    def product(
        self, figure: str, rule: PolicySection, terms: Sequence[Term], parameters: Sequence[Parameter]
    ) -> Derivation:
        """round_half_up(the terms' values times the parameters')."""
        exact = Fraction(1)
        for t in terms:
            exact *= t.value
        for p in parameters:
            exact *= Fraction(p.value)
        value = round_half_up(exact)
        shown = " * ".join([*(str(t.value) for t in terms), *(p.value for p in parameters)])
        return Derivation(
            figure,
            value,
            rule,
            self.version,
            Operation.PRODUCT,
            tuple(terms),
            f"round_half_up({shown}) = {value}",
            tuple(parameters),
        )

    def household_size(self, members: Sequence[MemberFigures]) -> Derivation:
        """n: one per declared member counted (alive and not in custody), the register's record of each."""
        terms = [
            Term(
                "member",
                1 if m.counted_in_household else 0,
                m.id_number,
                records=self.uses(s.record for s in m.supplied if isinstance(s.record, PersonRecord)),
            )
            for m in members
        ]
        return self.total("household_size", PolicySection.MONEY_DATES_WINDOWS, terms)

    def category(self, category: str, measures: Measures) -> Derivation:
        """One income category: the sum over counted members of what their records gave (or was declared);
        a member with nothing in it is left out (a term of 0 with no record explains nothing)."""
        terms: list[Term] = []
        working: list[str] = []
        for m in measures.members:
            income = measures.incomes.get(m.id_number)
            if income is None:
                continue
            if category == "declared_unverified":
                value = m.income_by_category.get(category, 0)
                if value:
                    terms.append(Term(category, value, m.id_number))
                    verified = m.verified_annual_income_fen
                    working.append(f"max({m.declared_annual_income_fen}, {verified}) - {verified}")
                continue
            used = self.uses(income.used.get(category, ()))
            if used or income.by_category.get(category, 0):
                terms.append(Term(category, income.by_category.get(category, 0), m.id_number, records=used))
        derivation = self.total(f"income_by_category.{category}", PolicySection.INCOME, terms)
        return _with_arithmetic(derivation, " + ".join(working)) if working else derivation

    def deductions(self, lines: Sequence[DeductionLine]) -> Derivation:
        """D: the sum of the allowed amounts of the deduction lines."""
        terms = [Term(line.kind, line.allowed_fen, line.id_number, records=self.uses(line.records)) for line in lines]
        return self.total("deductions_fen", PolicySection.DEDUCTIONS, terms)


def _with_arithmetic(derivation: Derivation, prefix: str) -> Derivation:
    """The derivation with its arithmetic starting from ``prefix`` (the terms' own working)."""
    return Derivation(
        derivation.figure,
        derivation.value,
        derivation.rule,
        derivation.policy_version,
        derivation.operation,
        derivation.terms,
        f"{prefix} = {derivation.value}",
        derivation.parameters,
    )


def derive(ctx: Context, measures: Measures, deducted: int) -> tuple[Derivation, ...]:
    """Every figure of the assessment with its derivation, in the report's order of the figures."""
    d = _Deriver(ctx)
    policy, area = ctx.policy, ctx.request.area
    size = d.household_size(measures.members)
    categories = [d.category(c, measures) for c in INCOME_CATEGORIES]
    annual = d.total(
        "annual_income_fen",
        PolicySection.INCOME,
        [Term(c.figure.split(".", 1)[1], c.value, figure=c.figure) for c in categories],
    )
    standard = Derivation(
        "standard_fen",
        ctx.standard,
        PolicySection.PER_CAPITA,
        d.version,
        Operation.POLICY_VALUE,
        (),
        f"standard.{area} = {ctx.standard}",
        (Parameter(f"standard.{area}", str(ctx.standard)),),
    )
    s_term, n_term = Term("S", ctx.standard, figure="standard_fen"), Term("n", size.value, figure="household_size")
    return (
        size,
        annual,
        *categories,
        d.deductions(measures.lines),
        d.per_capita("per_capita_monthly_income_before_fen", annual.value, None, size.value),
        d.per_capita("per_capita_monthly_income_fen", annual.value, deducted, size.value),
        standard,
        d.product(
            "marginal_standard_fen",
            PolicySection.CLASSIFICATION,
            [s_term],
            [Parameter("classification.marginal_multiplier", _decimal(policy.marginal_multiplier))],
        ),
        d.total(
            "financial_assets_fen",
            PolicySection.ASSETS,
            [Term(r.account_kind, r.balance_fen, r.id_number, records=d.uses([r])) for r in measures.accounts],
        ),
        d.product(
            "financial_assets_limit_fen",
            PolicySection.ASSETS,
            [s_term, n_term],
            [Parameter("assets.financial_assets_months", str(policy.financial_assets_months))],
        ),
        d.total(
            "residential_properties",
            PolicySection.ASSETS,
            [Term("property", 1, r.owner_id, records=d.uses([r])) for r in measures.residential],
        ),
    )
