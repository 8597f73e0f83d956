"""The appendix of the printed report: how each figure was reached, from the report's derivations.

One row per figure (:class:`~hedui.v1.report_pb2.Derivation`): its Chinese name, its value, the
arithmetic with the amounts in yuan, the rule (the policy.md section in Chinese and the policy
version) and the records used (department, record id, as-of date). Figures that are 0 and used no
record are listed in one line instead of a row each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from connectors.departments import DepartmentCatalogue
from hedui.v1 import report_pb2
from verifier.assessment.flags import yuan
from verifier.report.display import masked_text
from verifier.report.labels_zh import (
    ACCOUNT_KIND_ZH,
    DEDUCTION_KIND_ZH,
    INCOME_CATEGORY_ZH,
    department_short_zh,
    label,
)

__all__ = ["FIGURE_ZH", "POLICY_SECTION_ZH", "Appendix", "DerivationRow", "appendix"]

FIGURE_ZH: Final = {
    "household_size": "计入家庭人口 n",
    "annual_income_fen": "家庭年收入 I",
    "deductions_fen": "刚性支出扣减 D",
    "per_capita_monthly_income_before_fen": "扣减前家庭月人均收入",
    "per_capita_monthly_income_fen": "扣减后家庭月人均收入",
    "standard_fen": "低保标准 S",
    "marginal_standard_fen": "低保边缘标准",
    "financial_assets_fen": "家庭金融资产",
    "financial_assets_limit_fen": "金融资产限额",
    "residential_properties": "住宅套数",
}
POLICY_SECTION_ZH: Final = {
    "policy.md § Money, dates, windows": "核对规则「金额、日期与核对期」",
    "policy.md § Income": "核对规则「收入」",
    "policy.md § Rigid-expenditure deductions": "核对规则「刚性支出扣减」",
    "policy.md § Per-capita figures": "核对规则「人均收入」",
    "policy.md § Assets": "核对规则「财产」",
    "policy.md § Indicative classification": "核对规则「指示性分类」",
}
_PARAMETER_ZH: Final = {
    "classification.marginal_multiplier": "边缘系数",
    "assets.financial_assets_months": "金融资产月数",
    "standard.urban": "城市低保标准",
    "standard.rural": "农村低保标准",
}
_COUNTS: Final = frozenset({"household_size", "residential_properties"})


@dataclass(frozen=True, slots=True)
class DerivationRow:
    """One figure explained."""

    figure: str
    value: str
    arithmetic: str
    rule: str
    records: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Appendix:
    """The appendix: a row per figure, and the figures that are 0 without records, in one line."""

    rows: tuple[DerivationRow, ...]
    zero: tuple[str, ...]


def _figure_zh(figure: str) -> str:
    """A figure's Chinese name (an income category by its label)."""
    if figure.startswith("income_by_category."):
        return "收入：" + label(INCOME_CATEGORY_ZH, figure.split(".", 1)[1])
    return FIGURE_ZH.get(figure, figure)


def _amount(figure: str, value: int) -> str:
    """A figure's value as shown: a count as it is, money in yuan."""
    return str(value) if figure in _COUNTS else yuan(value)


def _term_zh(term: report_pb2.DerivationTerm, name: Callable[[str], str]) -> str:
    """What a term is, in Chinese: another figure, a member's share, a deduction or an account."""
    if term.figure:
        return _figure_zh(term.figure)
    what = label(DEDUCTION_KIND_ZH, term.name) if term.name in DEDUCTION_KIND_ZH else label(ACCOUNT_KIND_ZH, term.name)
    if term.name in ("member", "property") or term.name in INCOME_CATEGORY_ZH:
        what = ""
    who = name(term.id_number) if term.id_number else ""
    return "".join(p for p in (who, what) if p) or term.name


def _arithmetic(d: report_pb2.Derivation, name: Callable[[str], str]) -> str:
    """The derivation's arithmetic in Chinese, amounts in yuan."""
    shown = _amount(d.figure, d.value)
    named = {t.name: t for t in d.terms}
    if d.operation == "PER_CAPITA_MONTHLY":
        n = named["n"].value
        if not n:
            return "计入家庭人口为 0，不计算人均收入：0.00"
        if "D" in named:
            return f"({yuan(named['I'].value)} − {yuan(named['D'].value)}) ÷ 12 ÷ {n} = {shown}（四舍五入到分）"
        return f"{yuan(named['I'].value)} ÷ 12 ÷ {n} = {shown}（四舍五入到分）"
    if d.operation == "PRODUCT":
        factors = [_amount(t.figure, t.value) for t in d.terms]
        factors += [f"{p.value}（{_PARAMETER_ZH.get(p.key, p.key)}）" for p in d.parameters]
        return " × ".join(factors) + f" = {shown}"
    if d.operation == "POLICY_VALUE":
        return f"当地政策{'、'.join(_PARAMETER_ZH.get(p.key, p.key) for p in d.parameters)}：{shown}"
    terms = [f"{_term_zh(t, name)} {_amount(d.figure, t.value)}" for t in d.terms if t.value or t.records]
    return (" + ".join(terms) or "无") + f" = {shown}"


def _records(d: report_pb2.Derivation, catalogue: DepartmentCatalogue) -> tuple[str, ...]:
    """The records the derivation's terms used: department, record id, as of."""
    return tuple(
        f"{department_short_zh(r.department, catalogue)} {masked_text(r.record_id)}"
        + (f"（截至 {r.as_of}）" if r.as_of else "")
        for t in d.terms
        for r in t.records
    )


def appendix(report: report_pb2.Report, name: Callable[[str], str], catalogue: DepartmentCatalogue) -> Appendix:
    """The appendix of ``report``; ``name`` names a member."""
    rows: list[DerivationRow] = []
    zero: list[str] = []
    for d in report.assessment.derivations:
        records = _records(d, catalogue)
        if not d.value and not records and d.operation == "SUM":
            zero.append(_figure_zh(d.figure))
            continue
        rule = POLICY_SECTION_ZH.get(d.rule, d.rule)
        version = f"（政策版本 {d.policy_version}）" if d.policy_version else ""
        rows.append(
            DerivationRow(
                _figure_zh(d.figure), _amount(d.figure, d.value), _arithmetic(d, name), rule + version, records
            )
        )
    return Appendix(tuple(rows), tuple(zero))
