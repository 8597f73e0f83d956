"""The warning codes of warnings.md: severities, departments and their bilingual messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CATALOGUE", "Evidence", "WarningFlag", "department_zh", "flag", "yuan"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """A record (or computed figure) that triggered a warning."""

    department: str
    record_id: str
    field: str
    value: str


@dataclass(frozen=True, slots=True)
class WarningFlag:
    code: str
    severity: str
    id_number: str | None
    department: str
    evidence: tuple[Evidence, ...]
    message_zh: str
    message_en: str


# code → (severity, message_zh, message_en); messages are str.format templates.
CATALOGUE: Final[dict[str, tuple[str, str, str]]] = {
    "INCOME_ABOVE_STANDARD": (
        "HIGH",
        "扣减刚性支出后家庭月人均收入 {per_capita} 元，不低于低保标准 {standard} 元。",
        "Per-capita monthly income after deductions ({per_capita} yuan) is not below the dibao standard ({standard} yuan).",
    ),
    "FINANCIAL_ASSETS_ABOVE_LIMIT": (
        "HIGH",
        "家庭人均金融资产 {per_capita} 元，超过 {limit} 元的限额。",
        "Financial assets per capita ({per_capita} yuan) exceed the limit of {limit} yuan.",
    ),
    "MULTIPLE_PROPERTIES": (
        "HIGH",
        "家庭拥有 {count} 套住房，超过政策允许的 {allowed} 套。",
        "The household owns {count} residential properties, more than the {allowed} allowed.",
    ),
    "NON_RESIDENTIAL_PROPERTY": (
        "HIGH",
        "该成员拥有非住宅类房产（{usage}）。",
        "The member owns a non-residential property ({usage}).",
    ),
    "VEHICLE_OWNED": (
        "MEDIUM",
        "该成员拥有非豁免车辆（{plate}，{type}）。",
        "The member owns a non-exempt vehicle ({plate}, {type}).",
    ),
    "BUSINESS_REGISTERED": (
        "HIGH",
        "该成员是企业“{enterprise}”的{role_zh}。",
        "The member is {role_en} of the enterprise '{enterprise}'.",
    ),
    "PUBLIC_EMPLOYEE": (
        "MEDIUM",
        "该成员为财政供养人员（机关事业单位参保），需备案审查。",
        "The member is paid from public funds (public-institution insurance); the case must be filed for review.",
    ),
    "MEMBER_DECEASED": (
        "HIGH",
        "公安户籍记录显示该成员已死亡（{date}）。",
        "Police records show the member as deceased ({date}).",
    ),
    "MEMBER_IN_CUSTODY": (
        "MEDIUM",
        "公安记录显示该成员正在服刑（{date}）。",
        "Police records show the member as serving a sentence ({date}).",
    ),
    "IDENTITY_MISMATCH": (
        "HIGH",
        "申报的姓名或身份证号与户籍登记不符：{reason_zh}。",
        "The declared identity does not match the household register: {reason_en}.",
    ),
    "UNDECLARED_MEMBER": (
        "MEDIUM",
        "户籍登记中有未申报的{relation_zh}（{masked}）。",
        "The household register lists an undeclared {relation_en} ({masked}).",
    ),
    "DECLARED_INCOME_MISMATCH": (
        "MEDIUM",
        "核对收入 {verified} 元超过申报收入 {declared} 元。",
        "Verified annual income ({verified} yuan) exceeds the declared {declared} yuan.",
    ),
    "EMPLOYER_CONTRIBUTIONS": (
        "LOW",
        "核对期内有单位缴纳的社会保险或住房公积金，表明有工资收入。",
        "An employer paid social-security or provident-fund contributions inside the window: evidence of wages.",
    ),
    "RECENT_PROPERTY_TRANSFER": (
        "HIGH",
        "该成员于 {date} 出售或转让了不动产。",
        "The member sold or transferred real estate on {date}.",
    ),
    "LARGE_INSURANCE_PREMIUM": (
        "MEDIUM",
        "核对期内商业保险保费 {amount} 元，超过 {limit} 元。",
        "Commercial insurance premiums in the window ({amount} yuan) exceed {limit} yuan.",
    ),
    "SOURCE_UNAVAILABLE": (
        "HIGH",
        "{department_zh}无法查询，报告不完整。",
        "The {department} department could not be queried; the report is incomplete.",
    ),
    "SOURCE_PENDING": (
        "MEDIUM",
        "{department_zh}已受理查询，尚未反馈结果。",
        "The {department} department accepted the query but has not answered yet.",
    ),
    "CONSENT_MISSING": (
        "HIGH",
        "该成员没有覆盖{target_zh}的有效授权，未向该部门查询。",
        "The member has no valid authorization covering {target}; that department was not queried.",
    ),
    "GRADUAL_EXIT": (
        "LOW",
        "家庭因成员工资收入增加超过低保标准，进入渐退期至 {until}。",
        "The household rose above the standard through wages and enters the gradual-exit period until {until}.",
    ),
}

DEPARTMENT_ZH: Final = {
    "police": "公安部门",
    "housing": "住房和不动产部门",
    "tax": "税务部门",
    "vehicles": "车辆管理部门",
    "banks": "银行等金融机构",
    "social_security": "人力资源和社会保障部门",
}


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals and thousands separators: 1234567 → "12,345.67"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def department_zh(department: str) -> str:
    return DEPARTMENT_ZH.get(department, department)


def flag(
    code: str,
    *,
    id_number: str | None,
    department: str,
    evidence: tuple[Evidence, ...] = (),
    **params: str,
) -> WarningFlag:
    """A warning flag with its severity and its messages filled in from the catalogue."""
    severity, zh, en = CATALOGUE[code]
    if "department" in params or department in DEPARTMENT_ZH:
        params.setdefault("department", department)
        params.setdefault("department_zh", DEPARTMENT_ZH.get(department, department))
    return WarningFlag(
        code=code,
        severity=severity,
        id_number=id_number,
        department=department,
        evidence=evidence,
        message_zh=zh.format(**params),
        message_en=en.format(**params),
    )
