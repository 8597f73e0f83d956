"""The report as a printable A4 document in Chinese (HTML, for the case file).

:func:`render_report_html` takes the plain report (``message_to_plain(report_pb)``, the
JSON form of interfaces.md) and fills ``templates/report.html.j2``. Everything shown is
prepared here as display strings: money as yuan with two decimals by integer arithmetic
(:func:`verifier.flags.yuan`), identity numbers masked (first 6, last 4) wherever they
occur — columns, record ids, evidence, free text — and the template only lays them out,
with Jinja2's autoescaping on. The document is self-contained: no scripts, no external
fonts, stylesheets or images.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import jinja2

from consent.identity import mask, scrub
from verifier.flags import department_zh, yuan

__all__ = ["TEMPLATE", "render_report_html"]

TEMPLATE: Final = "report.html.j2"

# An 18-character identity number standing on its own (also inside record ids such as
# "H-533401-0001:533401197803120118"); 15-digit numbers of the first generation too.

RELATION_ZH: Final = {
    "applicant": "申请人",
    "spouse": "配偶",
    "child": "子女",
    "parent": "父母",
    "sibling": "兄弟姐妹",
    "other": "其他",
    "head": "户主",
}
MEMBER_STATUS_ZH: Final = {"active": "正常", "deceased": "已死亡", "in_custody": "服刑中", "unknown": "未核实"}
SOURCE_STATUS_ZH: Final = {"ok": "已反馈", "unavailable": "无法查询", "pending": "待反馈", "not_queried": "未查询"}
AREA_ZH: Final = {"urban": "城市", "rural": "农村"}
PURPOSE_ZH: Final = {"ASSESSMENT": "申请审核", "RECHECK": "定期复核", "TEMPORARY_ASSISTANCE": "临时救助"}
SEVERITY_ZH: Final = {"HIGH": "高", "MEDIUM": "中", "LOW": "低"}
CLASSIFICATION_ZH: Final = {
    "INCONCLUSIVE": "无法得出结论（核对数据不完整）",
    "NOT_ELIGIBLE_ASSETS": "财产状况不符合条件",
    "DIBAO": "符合低保收入条件",
    "DIBAO_AFTER_DEDUCTIONS": "扣减刚性支出后符合低保收入条件（支出型）",
    "MARGINAL": "低保边缘家庭",
    "NOT_ELIGIBLE_INCOME": "收入不符合条件",
}
INCOME_CATEGORY_ZH: Final = {
    "wages": "工资性收入",
    "business": "经营净收入",
    "property": "财产净收入",
    "pensions": "养老金",
    "benefits": "社会保障待遇",
    "other": "其他收入",
    "declared_unverified": "申报未核实部分（按申报计入）",
}
INCOME_CATEGORY_ORDER: Final = ("wages", "business", "property", "pensions", "benefits", "other", "declared_unverified")
DEDUCTION_KIND_ZH: Final = {
    "medical": "医疗支出",
    "rehabilitation": "残疾康复支出",
    "education": "教育支出",
    "pension_contribution": "个人缴纳养老保险费",
    "employment_cost": "就业成本",
}
TAX_CATEGORY_ZH: Final = {"wages": "工资薪金所得", "business": "经营所得", "property": "财产所得", "other": "其他所得"}
SCHEME_ZH: Final = {
    "enterprise_employee": "企业职工养老保险",
    "public_institution": "机关事业单位养老保险",
    "urban_rural_resident": "城乡居民养老保险",
}
ACCOUNT_KIND_ZH: Final = {
    "deposit": "存款",
    "fund": "基金",
    "wealth": "理财产品",
    "securities": "证券",
    "insurance_cash_value": "保险现金价值",
}
USAGE_ZH: Final = {"residential": "住宅", "commercial": "商业用房", "office": "办公用房", "industrial": "工业用房"}
VEHICLE_TYPE_ZH: Final = {
    "car": "小型汽车",
    "truck": "货车",
    "motorcycle": "摩托车",
    "tricycle": "三轮车",
    "disability": "残疾人专用车",
}
VEHICLE_USE_ZH: Final = {"private": "非营运", "operating": "营运"}
ROLE_ZH: Final = {"legal_representative": "法定代表人", "shareholder": "股东", "executive": "高级管理人员"}
DEPARTMENT_ORDER: Final = ("police", "housing", "tax", "vehicles", "banks", "social_security")
# Short department names for the record tables.
DEPARTMENT_SHORT_ZH: Final = {
    "police": "公安",
    "housing": "不动产",
    "tax": "税务",
    "vehicles": "车管",
    "banks": "银行",
    "social_security": "人社",
    "consent": "授权",
    "computed": "核算",
}
# Asset rows: money first, then real estate, vehicles, enterprises.
ASSET_ORDER: Final = {DEPARTMENT_SHORT_ZH[d]: i for i, d in enumerate(("banks", "housing", "vehicles", "tax"))}
# Deduction notes the assessment writes (English, fen) and their Chinese wording.
_NOTES_ZH: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"capped at (\d+) fen per disabled member per year"), "按每名残疾成员每年 {yuan} 元上限核定"),
    (re.compile(r"personal part in social-security records"), "按社保记录中的个人缴费部分核定"),
    (re.compile(r"no social-security record; declared amount"), "社保无记录，按申报金额核定"),
    (re.compile(r"social security did not answer; declared amount"), "社保部门未反馈，按申报金额核定"),
    (re.compile(r"member not counted in the household"), "该成员不计入家庭人口，不予扣减"),
)


def masked_text(text: str) -> str:
    """``text`` with every identity number in it masked (first 6, last 4)."""
    return scrub(text)


def instant(value: str | None) -> str:
    """An RFC 3339 UTC instant as "2026-11-23 12:51:13 UTC"; empty for none."""
    if not value:
        return ""
    return value.replace("T", " ").removesuffix("Z") + " UTC" if value.endswith("Z") else value.replace("T", " ")


def _zh(table: Mapping[str, str], code: str | None) -> str:
    if not code:
        return ""
    return table.get(code, code)


def _lt(a: int, b: int) -> str:
    return "<" if a < b else "≥"


def _note_zh(note: str) -> str:
    for pattern, zh in _NOTES_ZH:
        found = pattern.fullmatch(note)
        if found:
            return zh.format(yuan=yuan(int(found.group(1))) if found.groups() else "")
    return masked_text(note)


# --- the view model --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberRow:
    name: str
    id_masked: str
    relation: str
    status: str
    status_code: str
    counted: bool
    declared: str
    verified: str
    counted_income: str
    hukou: str


@dataclass(frozen=True, slots=True)
class SourceRow:
    department: str
    department_code: str
    status: str
    status_code: str
    records: int
    answered_at: str
    detail: str
    not_queried: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecordRow:
    member: str
    department: str
    record_id: str
    when: str
    item: str
    amount: str
    note: str
    outside_window: bool = False


@dataclass(frozen=True, slots=True)
class FigureRow:
    label: str
    amount: str
    total: bool = False


@dataclass(frozen=True, slots=True)
class DeductionRow:
    member: str
    kind: str
    declared: str
    allowed: str
    capped: bool
    evidence: str
    note: str


@dataclass(frozen=True, slots=True)
class Step:
    label: str
    formula: str
    result: str
    comparison: str = ""


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    department: str
    record_id: str
    field: str
    field_code: str
    value: str


@dataclass(frozen=True, slots=True)
class FlagRow:
    code: str
    severity: str
    severity_code: str
    member: str
    department: str
    evidence: tuple[EvidenceLine, ...]
    message_zh: str
    message_en: str


@dataclass(frozen=True, slots=True)
class Computation:
    window: str
    household_size: int
    income: tuple[FigureRow, ...]
    zero_categories: tuple[str, ...]
    deductions: tuple[DeductionRow, ...]
    deductions_total: str
    steps: tuple[Step, ...]
    assets: tuple[Step, ...]
    classification: str
    classification_zh: str
    reason: str


@dataclass(frozen=True, slots=True)
class MemberChangeRow:
    member: str
    id_masked: str
    change: str
    counted: str
    income: str
    wages: str


@dataclass(frozen=True, slots=True)
class WarningChangeRow:
    code: str
    severity: str
    severity_code: str
    member: str
    change: str
    change_code: str
    message_zh: str


@dataclass(frozen=True, slots=True)
class Changes:
    previous_report_id: str
    previous_report: str
    rows: tuple[FigureRow, ...]
    members_added: tuple[str, ...]
    members_removed: tuple[str, ...]
    warnings_appeared: tuple[str, ...]
    warnings_cleared: tuple[str, ...]
    classification_before: str
    classification_after: str = ""
    member_rows: tuple[MemberChangeRow, ...] = ()
    warning_rows: tuple[WarningChangeRow, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    report_id: str
    version: int
    verification_id: str
    resource_name: str
    generated_at: str
    commissioned_by: str
    authorizations: tuple[str, ...]
    policy_locality: str
    policy_effective_from: str
    policy_version: str
    policy_sha256: str
    application_date: str
    area: str
    purpose: str
    previous_version: str
    previous_report_id: str
    hearing_required: bool
    filing_for_review_required: bool
    next_recheck_date: str
    gradual_exit_until: str
    severity_counts: tuple[tuple[str, str, int], ...]
    members: tuple[MemberRow, ...]
    sources: tuple[SourceRow, ...]
    income_records: tuple[RecordRow, ...]
    asset_records: tuple[RecordRow, ...]
    computation: Computation
    flags: tuple[FlagRow, ...]
    changes: Changes | None = None


class _People:
    """Display names of the identity numbers the report mentions."""

    def __init__(self, members: Iterable[Mapping[str, Any]]) -> None:
        self._names = {str(m["id_number"]): str(m["name"]) for m in members}

    def __call__(self, id_number: str | None) -> str:
        if not id_number:
            return "全户"
        name = self._names.get(id_number)
        return f"{name}（{mask(id_number)}）" if name else mask(id_number)

    def name(self, id_number: str) -> str:
        return self._names.get(id_number) or mask(id_number)


def _members(report: Mapping[str, Any]) -> tuple[MemberRow, ...]:
    rows = []
    for m in report["members"]:
        hukou = next((r["person"]["hukou_id"] for r in m["records"] if r.get("person")), "")
        rows.append(
            MemberRow(
                name=m["name"],
                id_masked=mask(m["id_number"]),
                relation=_zh(RELATION_ZH, m["relation"]),
                status=_zh(MEMBER_STATUS_ZH, m["status"]),
                status_code=m["status"],
                counted=bool(m["counted_in_household"]),
                declared=yuan(m["declared_annual_income_fen"]),
                verified=yuan(m["verified_annual_income_fen"]),
                counted_income=yuan(m["counted_annual_income_fen"]),
                hukou=masked_text(hukou),
            )
        )
    return tuple(rows)


def _sources(report: Mapping[str, Any]) -> tuple[SourceRow, ...]:
    order = {d: i for i, d in enumerate(DEPARTMENT_ORDER)}
    sources = sorted(report["sources"], key=lambda s: (order.get(s["department"], len(order)), s["department"]))
    return tuple(
        SourceRow(
            department=department_zh(s["department"]),
            department_code=s["department"],
            status=_zh(SOURCE_STATUS_ZH, s["status"]),
            status_code=s["status"],
            records=int(s["records"]),
            answered_at=instant(s["answered_at"]),
            detail=masked_text(s["detail"]),
            not_queried=tuple(mask(n) for n in s["not_queried"]),
        )
        for s in sources
    )


def _record_body(record: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The kind of a department record ("tax_income", …) and its fields."""
    for key, value in record.items():
        if key != "department" and value:
            return key, value
    return "", {}


def _outside(period: str, window: tuple[str, str]) -> bool:
    start, end = window
    return bool(start and end) and not (start <= period <= end)


def _records(
    report: Mapping[str, Any], people: _People, window: tuple[str, str]
) -> tuple[tuple[RecordRow, ...], tuple[RecordRow, ...]]:
    """(income records, asset records) of every member, in member order."""
    income_all: list[RecordRow] = []
    assets_all: list[RecordRow] = []
    for m in report["members"]:
        who = people.name(m["id_number"])
        income: list[RecordRow] = []
        assets: list[RecordRow] = []
        for record in m["records"]:
            dept = _zh(DEPARTMENT_SHORT_ZH, record["department"])
            kind, r = _record_body(record)
            rid = masked_text(str(r.get("record_id", "")))
            if kind == "tax_income":
                income.append(
                    RecordRow(
                        who,
                        dept,
                        rid,
                        r["period"],
                        f"纳税申报：{_zh(TAX_CATEGORY_ZH, r['category'])}",
                        yuan(r["amount_fen"]),
                        "",
                        _outside(r["period"], window),
                    )
                )
            elif kind == "contribution":
                employer = r.get("employer") or ""
                income.append(
                    RecordRow(
                        who,
                        dept,
                        rid,
                        r["period"],
                        f"社保缴费：{_zh(SCHEME_ZH, r['scheme'])}" + (f"（{employer}）" if employer else ""),
                        yuan(r["base_fen"]),
                        f"缴费基数；单位缴 {yuan(r['employer_part_fen'])}，个人缴 {yuan(r['personal_part_fen'])}",
                        _outside(r["period"], window),
                    )
                )
            elif kind == "provident_fund":
                employer = r.get("employer") or ""
                income.append(
                    RecordRow(
                        who,
                        dept,
                        rid,
                        r["period"],
                        "住房公积金缴存" + (f"（{employer}）" if employer else ""),
                        yuan(r["employer_part_fen"] + r["personal_part_fen"]),
                        f"单位缴 {yuan(r['employer_part_fen'])}，个人缴 {yuan(r['personal_part_fen'])}",
                        _outside(r["period"], window),
                    )
                )
            elif kind == "pension":
                income.append(
                    RecordRow(
                        who, dept, rid, r["period"], "养老金", yuan(r["amount_fen"]), "", _outside(r["period"], window)
                    )
                )
            elif kind == "benefit":
                income.append(
                    RecordRow(
                        who,
                        dept,
                        rid,
                        r["period"],
                        f"社会保障待遇：{r['kind']}",
                        yuan(r["amount_fen"]),
                        "",
                        _outside(r["period"], window),
                    )
                )
            elif kind == "rental":
                income.append(
                    RecordRow(
                        who, dept, rid, r["period"], "房屋租金", yuan(r["rent_fen"]), "", _outside(r["period"], window)
                    )
                )
            elif kind == "account":
                assets.append(
                    RecordRow(
                        who,
                        dept,
                        rid,
                        r["as_of"],
                        f"{_zh(ACCOUNT_KIND_ZH, r['kind'])}（{r['institution']}）",
                        yuan(r["balance_fen"]),
                        "余额",
                    )
                )
            elif kind == "insurance_premium":
                assets.append(
                    RecordRow(
                        who,
                        dept,
                        rid,
                        r["period"],
                        f"商业保险保费（{r['insurer']}）",
                        yuan(r["amount_fen"]),
                        "保费",
                    )
                )
            elif kind == "property":
                note = f"{r['area_m2']:g} 平方米"
                note += f"；{r['acquired']} 取得" if r.get("acquired") else ""
                note += f"；{r['disposed']} 转让" if r.get("disposed") else ""
                assets.append(
                    RecordRow(
                        who,
                        dept,
                        rid,
                        r.get("acquired") or "",
                        f"不动产：{_zh(USAGE_ZH, r['usage'])}",
                        yuan(r["value_fen"]),
                        note,
                    )
                )
            elif kind == "vehicle":
                assets.append(
                    RecordRow(
                        who,
                        dept,
                        rid,
                        r.get("registered") or "",
                        f"车辆：{r['plate']}，{_zh(VEHICLE_TYPE_ZH, r['type'])}，{_zh(VEHICLE_USE_ZH, r['use'])}",
                        yuan(r["value_fen"]),
                        "登记日期",
                    )
                )
            elif kind == "enterprise":
                assets.append(
                    RecordRow(
                        who,
                        dept,
                        rid,
                        r.get("registered") or "",
                        f"企业：{r['enterprise']}（{_zh(ROLE_ZH, r['role'])}）",
                        "—",
                        "工商登记",
                    )
                )
        income_all += sorted(income, key=lambda row: (row.when, row.record_id))
        assets_all += sorted(assets, key=lambda row: (ASSET_ORDER.get(row.department, 9), row.record_id))
    return tuple(income_all), tuple(assets_all)


def _reason(a: Mapping[str, Any]) -> str:
    before, after = a["per_capita_monthly_income_before_fen"], a["per_capita_monthly_income_fen"]
    s, marginal = a["standard_fen"], a["marginal_standard_fen"]
    match a["classification"]:
        case "INCONCLUSIVE":
            return "必需的核对部门未反馈、无法查询或因缺少有效授权未查询，数据不完整，不作收入判断。"
        case "NOT_ELIGIBLE_ASSETS":
            return "存在财产类预警（金融资产、房产、车辆或企业），财产状况不符合条件。"
        case "DIBAO":
            return f"扣减前人均月收入 {yuan(before)} 元 < 低保标准 {yuan(s)} 元。"
        case "DIBAO_AFTER_DEDUCTIONS":
            return (
                f"扣减前人均月收入 {yuan(before)} 元 ≥ 低保标准 {yuan(s)} 元，"
                f"扣减刚性支出后 {yuan(after)} 元 < {yuan(s)} 元。"
            )
        case "MARGINAL":
            return f"扣减后人均月收入 {yuan(after)} 元 ≥ 低保标准 {yuan(s)} 元，且 < 低保边缘标准 {yuan(marginal)} 元。"
        case "NOT_ELIGIBLE_INCOME":
            return f"扣减后人均月收入 {yuan(after)} 元 ≥ 低保边缘标准 {yuan(marginal)} 元。"
    return ""


def _computation(report: Mapping[str, Any], people: _People) -> Computation:
    a = report["assessment"]
    n = int(a["household_size"])
    income_fen, deductions_fen = int(a["annual_income_fen"]), int(a["deductions_fen"])
    before, after = int(a["per_capita_monthly_income_before_fen"]), int(a["per_capita_monthly_income_fen"])
    s, marginal = int(a["standard_fen"]), int(a["marginal_standard_fen"])
    by_category: Mapping[str, int] = a["income_by_category"]
    categories = [c for c in INCOME_CATEGORY_ORDER if c in by_category]
    categories += sorted(c for c in by_category if c not in INCOME_CATEGORY_ORDER)
    income = tuple(FigureRow(_zh(INCOME_CATEGORY_ZH, c), yuan(by_category[c])) for c in categories if by_category[c])
    income += (FigureRow("家庭年收入合计 I", yuan(income_fen), total=True),)
    zero_categories = tuple(
        _zh(INCOME_CATEGORY_ZH, c) for c in categories if not by_category[c] and c != "declared_unverified"
    )
    deductions = tuple(
        DeductionRow(
            member=people.name(d["id_number"]),
            kind=_zh(DEDUCTION_KIND_ZH, d["kind"]),
            declared=yuan(d["declared_fen"]),
            allowed=yuan(d["allowed_fen"]),
            capped=d["allowed_fen"] < d["declared_fen"],
            evidence=masked_text(d["evidence"]),
            note=_note_zh(d["note"]) if d["note"] else "",
        )
        for d in a["deductions"]
    )
    per_capita: tuple[Step, ...]
    if n:
        per_capita = (
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
    else:
        per_capita = (Step("家庭月人均收入", "计入家庭人口为 0，不计算人均收入", "—"),)
    area = _zh(AREA_ZH, report["area"])
    steps = (
        Step("家庭年收入 I", "各类收入之和（见上表）", yuan(income_fen)),
        Step("刚性支出扣减 D", "各项核定扣减之和（见上表）", yuan(deductions_fen)),
        *per_capita,
        Step(f"低保标准 S（{area}）", "当地政策，每人每月", yuan(s)),
        Step("低保边缘标准", "S × 边缘系数（当地政策）", yuan(marginal)),
    )
    fa, limit = int(a["financial_assets_fen"]), int(a["financial_assets_limit_fen"])
    assets = (
        Step(
            "家庭金融资产",
            "存款、基金、理财、证券、保险现金价值（申请日余额）",
            yuan(fa),
            f"{yuan(fa)} {'≤' if fa <= limit else '>'} 限额 {yuan(limit)}",
        ),
        Step("住宅套数", "不动产登记中的住宅", str(a["residential_properties"])),
    )
    window = f"{a['window_start']} 至 {a['window_end']}" if a["window_start"] else ""
    return Computation(
        window=window,
        household_size=n,
        income=income,
        zero_categories=zero_categories,
        deductions=deductions,
        deductions_total=yuan(deductions_fen),
        steps=steps,
        assets=assets,
        classification=a["classification"],
        classification_zh=_zh(CLASSIFICATION_ZH, a["classification"]),
        reason=_reason(a),
    )


EVIDENCE_FIELD_ZH: Final = {
    "name": "登记姓名",
    "id_number": "身份证号",
    "status": "户籍状态",
    "relation_to_head": "与户主关系",
    "balance_fen": "余额",
    "value_fen": "价值",
    "amount_fen": "金额",
    "employer_part_fen": "单位缴纳",
    "personal_part_fen": "个人缴纳",
    "disposed": "转让日期",
    "usage": "用途",
    "type": "车辆类型",
    "role": "任职",
    "scheme": "参保类型",
    "detail": "原因",
    "department_not_queried": "未查询部门",
    "verified_annual_income_fen": "核对年收入",
    "declared_annual_income_fen": "申报年收入",
    "per_capita_monthly_income_fen": "扣减后月人均收入",
    "standard_fen": "低保标准",
}
# Evidence fields whose values are codes of a vocabulary: shown in Chinese, with the code.
_EVIDENCE_VOCABULARY: Final[Mapping[str, Mapping[str, str]]] = {
    "status": MEMBER_STATUS_ZH,
    "relation_to_head": RELATION_ZH,
    "usage": USAGE_ZH,
    "type": VEHICLE_TYPE_ZH,
    "role": ROLE_ZH,
    "scheme": SCHEME_ZH,
    "department_not_queried": {d: department_zh(d) for d in DEPARTMENT_ORDER},
}


def _evidence_value(field_name: str, value: str) -> str:
    shown = masked_text(value)
    if field_name.endswith("_fen") and re.fullmatch(r"-?\d+", value):
        return f"{yuan(int(value))} 元（{shown} 分）"
    vocabulary = _EVIDENCE_VOCABULARY.get(field_name, {})
    if value in vocabulary:
        return f"{vocabulary[value]}（{shown}）"
    return shown


def _flags(report: Mapping[str, Any], people: _People) -> tuple[FlagRow, ...]:
    order = {"HIGH": 0, "MEDIUM": 1, "LOW": 2}
    flags = sorted(report["flags"], key=lambda f: order.get(f["severity"], 3))
    return tuple(
        FlagRow(
            code=f["code"],
            severity=_zh(SEVERITY_ZH, f["severity"]),
            severity_code=f["severity"],
            member=people(f["id_number"]),
            department=_zh(DEPARTMENT_SHORT_ZH, f["department"]),
            evidence=tuple(
                EvidenceLine(
                    department=_zh(DEPARTMENT_SHORT_ZH, e["department"]),
                    record_id=masked_text(e["record_id"]),
                    field=_zh(EVIDENCE_FIELD_ZH, e["field"]),
                    field_code=e["field"],
                    value=_evidence_value(e["field"], e["value"]),
                )
                for e in f["evidence"]
            ),
            message_zh=masked_text(f["message_zh"]),
            message_en=masked_text(f["message_en"]),
        )
        for f in flags
    )


MEMBER_CHANGE_ZH: Final = {"joined": "新增", "left": "减少", "stayed": "未变"}
WARNING_CHANGE_ZH: Final = {"appeared": "新出现", "cleared": "已消除"}


def _arrow(before: int, after: int) -> str:
    return f"{yuan(before)} → {yuan(after)}"


def _changes(report: Mapping[str, Any], people: _People) -> Changes | None:
    c = report.get("changes")
    if not c:
        return None
    before: Mapping[str, int] = c.get("income_by_category_before") or {}
    after: Mapping[str, int] = c.get("income_by_category_after") or {}
    rows: list[FigureRow] = []
    if "household_size_before" in c:
        rows.append(FigureRow("家庭人口（计入）", f"{c['household_size_before']} → {c['household_size_after']}"))
    categories = set(before) | set(after)
    ordered = dict.fromkeys([*(k for k in INCOME_CATEGORY_ORDER if k in categories), *sorted(categories)])
    rows += [
        FigureRow(_zh(INCOME_CATEGORY_ZH, k), _arrow(before.get(k, 0), after.get(k, 0)))
        for k in ordered
        if before.get(k, 0) or after.get(k, 0)
    ]
    if "annual_income_before_fen" in c:
        rows.append(
            FigureRow("家庭年收入 I", _arrow(c["annual_income_before_fen"], c["annual_income_after_fen"]), total=True)
        )
        rows.append(FigureRow("刚性支出扣减 D", _arrow(c["deductions_before_fen"], c["deductions_after_fen"])))
        rows.append(
            FigureRow(
                "扣减后月人均收入",
                _arrow(c["per_capita_monthly_income_before_fen"], c["per_capita_monthly_income_after_fen"]),
                total=True,
            )
        )
    rows.append(FigureRow("家庭金融资产", _arrow(c["financial_assets_before_fen"], c["financial_assets_after_fen"])))
    if "residential_properties_before" in c:
        rows.append(
            FigureRow("住房（套）", f"{c['residential_properties_before']} → {c['residential_properties_after']}")
        )
    member_rows = tuple(
        MemberChangeRow(
            member=people.name(m["id_number"]) if m.get("name") is None else masked_text(str(m["name"])),
            id_masked=mask(m["id_number"]),
            change=_zh(MEMBER_CHANGE_ZH, m["change"]),
            counted=f"{'是' if m['counted_before'] else '否'} → {'是' if m['counted_after'] else '否'}",
            income=_arrow(m["counted_annual_income_before_fen"], m["counted_annual_income_after_fen"]),
            wages=_arrow(m["wages_before_fen"], m["wages_after_fen"]),
        )
        for m in c.get("member_changes") or ()
    )
    warning_rows = tuple(
        WarningChangeRow(
            code=w["code"],
            severity=_zh(SEVERITY_ZH, w["severity"]),
            severity_code=_css_safe(w["severity"]),
            member=people(w.get("id_number")),
            change=_zh(WARNING_CHANGE_ZH, w["change"]),
            change_code=_css_safe(w["change"]),
            message_zh=masked_text(w.get("message_zh") or ""),
        )
        for w in c.get("warning_changes") or ()
    )
    previous_version = c.get("previous_version") or 0
    previous = c["previous_report_id"]
    if previous_version:
        previous = (
            f"{c['previous_report_id']}（核对 {c.get('previous_verification_id', '')} 第 {previous_version} 版，"
            f"申请日期 {c.get('previous_application_date', '')}）"
        )
    return Changes(
        previous_report_id=c["previous_report_id"],
        previous_report=previous,
        rows=tuple(rows),
        members_added=tuple(people(n) for n in c.get("members_added") or ()),
        members_removed=tuple(people(n) for n in c.get("members_removed") or ()),
        warnings_appeared=tuple(c.get("warnings_appeared") or ()),
        warnings_cleared=tuple(c.get("warnings_cleared") or ()),
        classification_before=_zh(CLASSIFICATION_ZH, c["classification_before"]),
        classification_after=_zh(CLASSIFICATION_ZH, c["classification_after"]) if c.get("classification_after") else "",
        member_rows=member_rows,
        warning_rows=warning_rows,
    )


def _document(report: Mapping[str, Any]) -> Document:
    people = _People(report["members"])
    a = report["assessment"]
    window = (str(a.get("window_start") or ""), str(a.get("window_end") or ""))
    income_records, asset_records = _records(report, people, window)
    counts = {s: 0 for s in SEVERITY_ZH}
    for f in report["flags"]:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    return Document(
        report_id=report["report_id"],
        version=int(report["version"]),
        verification_id=report["verification_id"],
        resource_name=report["name"],
        generated_at=instant(report["generated_at"]),
        commissioned_by=report["commissioned_by"],
        authorizations=tuple(report["authorizations"]),
        policy_locality=report["policy"]["locality"],
        policy_effective_from=report["policy"]["effective_from"],
        policy_version=str(report.get("policy_version") or ""),
        policy_sha256=_css_safe(str(report.get("policy_sha256") or "")),
        application_date=report["application_date"],
        area=_zh(AREA_ZH, report["area"]),
        purpose=_zh(PURPOSE_ZH, report["purpose"]),
        previous_version=report.get("previous_version") or "",
        previous_report_id=report.get("previous_report_id") or "",
        hearing_required=bool(report["hearing_required"]),
        filing_for_review_required=bool(report["filing_for_review_required"]),
        next_recheck_date=report.get("next_recheck_date") or "",
        gradual_exit_until=report.get("gradual_exit_until") or "",
        severity_counts=tuple((code, _zh(SEVERITY_ZH, code), n) for code, n in counts.items()),
        members=_members(report),
        sources=_sources(report),
        income_records=income_records,
        asset_records=asset_records,
        computation=_computation(report, people),
        flags=_flags(report, people),
        changes=_changes(report, people),
    )


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("verifier", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def default_audit_reference(report: Mapping[str, Any]) -> str:
    """Where the report is found again: the audit reference it carries, else its id and version."""
    carried = report.get("audit_reference")
    return str(carried) if carried else f"{report['report_id']}/v{report['version']}"


def render_report_html(report: Mapping[str, Any], *, audit_reference: str | None = None) -> str:
    """The report as a self-contained, printable A4 HTML document in Chinese.

    ``audit_reference`` (the template variable of the same name) is where the report's creation
    is recorded in the audit log; by default the report's own ``audit_reference`` field, or its
    report id and version when it carries none.
    """
    document = _document(report)
    reference = audit_reference if audit_reference is not None else default_audit_reference(report)
    template = _environment().get_template(TEMPLATE)
    return template.render(
        doc=document,
        audit_reference=masked_text(reference),
        page_label=_css_safe(f"{document.report_id} v{document.version}"),
    )


def _css_safe(text: str, allowed: Sequence[str] = ("-", "_", ".", " ", "/")) -> str:
    """Only characters that need no escaping inside a CSS string (used in the page footer)."""
    return "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch in allowed))
