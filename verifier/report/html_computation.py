"""The computation section of the printable document: income by category, deductions, per-capita steps, assets.

Deduction notes are shown from their codes (:class:`~verifier.assessment.notes.DeductionNote`): the
report carries a note's English text, read back as its code and parameters; a text no code writes is
shown as it is (masked).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

from hedui.v1 import report_pb2
from verifier.assessment.figures import INCOME_CATEGORIES
from verifier.assessment.flags import yuan
from verifier.assessment.notes import DeductionNote, NoteCode
from verifier.report.display import masked_text
from verifier.report.html_model import Computation, DeductionRow, FigureRow, Step
from verifier.report.labels_zh import AREA_ZH, CLASSIFICATION_ZH, DEDUCTION_KIND_ZH, INCOME_CATEGORY_ZH, label
from verifier.vocabulary import Classification

__all__ = ["computation", "evidence_zh", "note_zh", "ordered_categories"]

_DECLARED_UNVERIFIED: Final = "declared_unverified"


def ordered_categories(categories: Mapping[str, int] | set[str]) -> list[str]:
    """Income categories in the report's order, unknown ones after (by name)."""
    known = [c for c in INCOME_CATEGORIES if c in categories]
    return known + sorted(c for c in categories if c not in INCOME_CATEGORIES)


def note_zh(deduction: report_pb2.Deduction) -> str:
    """A deduction's note in Chinese: the text the report carries with its code. A report made before notes
    carried codes has the English text only: its code is read back from it (:meth:`DeductionNote.from_text`),
    and a text no code writes is shown as it is (masked)."""
    if deduction.note_code:
        return deduction.note_zh
    decoded = DeductionNote.from_text(deduction.note)
    return decoded.zh if decoded is not None else masked_text(deduction.note)


_EMPLOYMENT_ZH: Final = {"fresh_graduate": "应届毕业生", "released_prisoner": "刑满释放人员", "veteran": "退役军人"}
_RECORDS_EVIDENCE: Final = re.compile(r"social security records (?P<ids>.+)")
_EMPLOYMENT_EVIDENCE: Final = re.compile(r"(?P<category>[a-z_]+), wages in (?P<months>[0-9]+) month\(s\)")


def evidence_zh(deduction: report_pb2.Deduction) -> str:
    """A deduction's evidence as printed: the texts hedui itself writes in Chinese, the case system's as given."""
    records = _RECORDS_EVIDENCE.fullmatch(deduction.evidence)
    if records is not None:
        return masked_text(f"社保缴费记录 {records['ids']}")
    employment = _EMPLOYMENT_EVIDENCE.fullmatch(deduction.evidence)
    if employment is not None and employment["category"] in _EMPLOYMENT_ZH:
        return f"{_EMPLOYMENT_ZH[employment['category']]}，核对期内有工资收入 {employment['months']} 个月"
    return masked_text(deduction.evidence)


def _printed_note(deduction: report_pb2.Deduction) -> str:
    """The employment-cost formula in Chinese words for the paper (its note reads the same in both languages)."""
    note = DeductionNote.from_text(deduction.note) if deduction.note else None
    if note is None or note.code != NoteCode.EMPLOYMENT_COST:
        return ""
    params = dict(note.params)
    standard = params.get("standard", "")
    shown = yuan(int(standard)) + " 元" if standard.isdigit() else standard
    return f"{params.get('rate', '')} × 低保标准 {shown} × {params.get('months', '')} 个月"


def _lt(a: int, b: int) -> str:
    """ "<" or "≥" between two amounts."""
    return "<" if a < b else "≥"


def _reason(a: report_pb2.Assessment) -> str:
    """Why the classification holds, in one sentence (an INCONCLUSIVE report's own reasons, when it states them)."""
    if a.classification == Classification.INCONCLUSIVE and a.classification_reasons:
        return "".join(r.message_zh for r in a.classification_reasons)
    before, after = a.per_capita_monthly_income_before_fen, a.per_capita_monthly_income_fen
    s, marginal = a.standard_fen, a.marginal_standard_fen
    reasons: dict[str, str] = {
        Classification.INCONCLUSIVE: "必需的核对部门未反馈、无法查询或因缺少有效授权未查询，数据不完整，不作收入判断。",
        Classification.NOT_ELIGIBLE_ASSETS: "存在财产类预警（金融资产、房产、车辆或企业），财产状况不符合条件。",
        Classification.DIBAO: f"扣减前人均月收入 {yuan(before)} 元 < 低保标准 {yuan(s)} 元。",
        Classification.DIBAO_AFTER_DEDUCTIONS: (
            f"扣减前人均月收入 {yuan(before)} 元 ≥ 低保标准 {yuan(s)} 元，"
            f"扣减刚性支出后 {yuan(after)} 元 < {yuan(s)} 元。"
        ),
        Classification.MARGINAL: (
            f"扣减后人均月收入 {yuan(after)} 元 ≥ 低保标准 {yuan(s)} 元，且 < 低保边缘标准 {yuan(marginal)} 元。"
        ),
        Classification.NOT_ELIGIBLE_INCOME: f"扣减后人均月收入 {yuan(after)} 元 ≥ 低保边缘标准 {yuan(marginal)} 元。",
    }
    return reasons.get(a.classification, "")


def _income(a: report_pb2.Assessment) -> tuple[tuple[FigureRow, ...], tuple[str, ...]]:
    """The income rows (non-zero categories and the total) and the names of the zero categories."""
    by_category = dict(a.income_by_category)
    categories = ordered_categories(by_category)
    rows = tuple(FigureRow(label(INCOME_CATEGORY_ZH, c), yuan(by_category[c])) for c in categories if by_category[c])
    rows += (FigureRow("家庭年收入合计 I", yuan(a.annual_income_fen), total=True),)
    zero = tuple(label(INCOME_CATEGORY_ZH, c) for c in categories if not by_category[c] and c != _DECLARED_UNVERIFIED)
    return rows, zero


def _per_capita(a: report_pb2.Assessment) -> tuple[Step, ...]:
    """The per-capita steps (one line when no member is counted)."""
    n, income_fen, deductions_fen = a.household_size, a.annual_income_fen, a.deductions_fen
    before, after = a.per_capita_monthly_income_before_fen, a.per_capita_monthly_income_fen
    s, marginal = a.standard_fen, a.marginal_standard_fen
    if not n:
        return (Step("家庭月人均收入", "计入家庭人口为 0，不计算人均收入", "—"),)
    return (
        Step(
            "扣减前家庭月人均收入",
            f"I ÷ 12 ÷ n = {yuan(income_fen)} ÷ 12 ÷ {n}",
            yuan(before),
            f"{yuan(before)} {_lt(before, s)} 低保标准 {yuan(s)}",
        ),
        Step(
            "扣减后家庭月人均收入",
            f"(I − D) ÷ 12 ÷ n = ({yuan(income_fen)} − {yuan(deductions_fen)}) ÷ 12 ÷ {n}",
            yuan(after),
            f"{yuan(after)} {_lt(after, s)} 低保标准 {yuan(s)}；"
            f"{yuan(after)} {_lt(after, marginal)} 边缘标准 {yuan(marginal)}",
        ),
    )


def _assets(a: report_pb2.Assessment) -> tuple[Step, ...]:
    """The asset steps: financial assets against the limit, residential properties."""
    fa, limit = a.financial_assets_fen, a.financial_assets_limit_fen
    return (
        Step(
            "家庭金融资产",
            "存款、基金、理财、证券、保险现金价值（申请日余额）",
            yuan(fa),
            f"{yuan(fa)} {'≤' if fa <= limit else '>'} 限额 {yuan(limit)}",
        ),
        Step("住宅套数", "不动产登记中的住宅", str(a.residential_properties)),
    )


def computation(report: report_pb2.Report, name: Callable[[str], str]) -> Computation:
    """The computation section; ``name`` names a member."""
    a = report.assessment
    income, zero_categories = _income(a)
    deductions = tuple(
        DeductionRow(
            member=name(d.id_number),
            kind=label(DEDUCTION_KIND_ZH, d.kind),
            declared=yuan(d.declared_fen),
            allowed=yuan(d.allowed_fen),
            capped=d.allowed_fen < d.declared_fen,
            evidence=evidence_zh(d),
            note=note_zh(d) if d.note else "",
            note_printed=_printed_note(d),
        )
        for d in a.deductions
    )
    steps = (
        Step("家庭年收入 I", "各类收入之和（见上表）", yuan(a.annual_income_fen)),
        Step("刚性支出扣减 D", "各项核定扣减之和（见上表）", yuan(a.deductions_fen)),
        *_per_capita(a),
        Step(f"低保标准 S（{label(AREA_ZH, report.area)}）", "当地政策，每人每月", yuan(a.standard_fen)),
        Step("低保边缘标准", "S × 边缘系数（当地政策）", yuan(a.marginal_standard_fen)),
    )
    return Computation(
        window=f"{a.window_start} 至 {a.window_end}" if a.window_start else "",
        household_size=a.household_size,
        income=income,
        zero_categories=zero_categories,
        deductions=deductions,
        deductions_total=yuan(a.deductions_fen),
        steps=steps,
        assets=_assets(a),
        classification=a.classification,
        classification_zh=label(CLASSIFICATION_ZH, a.classification),
        reason=_reason(a),
    )
