"""The warning codes of warnings.md: their severities and bilingual messages, and the flag a rule raises.

A flag names the department that supplied the record behind it (the :class:`Evidence` does too);
``computed``, ``consent`` and ``any`` are the pseudo-departments warnings.md uses. Department names
in the messages come from a :class:`~connectors.departments.DepartmentCatalogue`, so a configured
department reads by its declared name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple

from connectors.departments import DepartmentCatalogue
from verifier.vocabulary import Severity

__all__ = [
    "CATALOGUE",
    "DEFAULT_CATALOGUE",
    "ENTERPRISE_ROLE_ZH",
    "UNDECLARED_RELATION_ZH",
    "Evidence",
    "WarningCode",
    "WarningDefinition",
    "WarningFlag",
    "department_zh",
    "flag",
    "yuan",
]

# The departments a flag names when the caller gives no catalogue: the six of interfaces.md.
DEFAULT_CATALOGUE: Final = DepartmentCatalogue()


class WarningCode(StrEnum):
    """Every warning code of warnings.md."""

    INCOME_ABOVE_STANDARD = "INCOME_ABOVE_STANDARD"
    FINANCIAL_ASSETS_ABOVE_LIMIT = "FINANCIAL_ASSETS_ABOVE_LIMIT"
    MULTIPLE_PROPERTIES = "MULTIPLE_PROPERTIES"
    NON_RESIDENTIAL_PROPERTY = "NON_RESIDENTIAL_PROPERTY"
    VEHICLE_OWNED = "VEHICLE_OWNED"
    BUSINESS_REGISTERED = "BUSINESS_REGISTERED"
    PUBLIC_EMPLOYEE = "PUBLIC_EMPLOYEE"
    MEMBER_DECEASED = "MEMBER_DECEASED"
    MEMBER_IN_CUSTODY = "MEMBER_IN_CUSTODY"
    IDENTITY_MISMATCH = "IDENTITY_MISMATCH"
    UNDECLARED_MEMBER = "UNDECLARED_MEMBER"
    DECLARED_INCOME_MISMATCH = "DECLARED_INCOME_MISMATCH"
    EMPLOYER_CONTRIBUTIONS = "EMPLOYER_CONTRIBUTIONS"
    RECENT_PROPERTY_TRANSFER = "RECENT_PROPERTY_TRANSFER"
    LARGE_INSURANCE_PREMIUM = "LARGE_INSURANCE_PREMIUM"
    SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"
    SOURCE_PENDING = "SOURCE_PENDING"
    CONSENT_MISSING = "CONSENT_MISSING"
    GRADUAL_EXIT = "GRADUAL_EXIT"


@dataclass(frozen=True, slots=True)
class Evidence:
    """A record (or computed figure) that triggered a warning, under the department that supplied it."""

    department: str
    record_id: str
    field: str
    value: str


@dataclass(frozen=True, slots=True)
class WarningFlag:
    """One raised warning: its code and severity, whom and which department it concerns, why, and its messages."""

    code: str
    severity: str
    id_number: str | None
    department: str
    evidence: tuple[Evidence, ...]
    message_zh: str
    message_en: str


class WarningDefinition(NamedTuple):
    """A code's severity and its messages (``str.format`` templates over the flag's parameters)."""

    severity: Severity
    message_zh: str
    message_en: str


_H, _M, _L = Severity.HIGH, Severity.MEDIUM, Severity.LOW
W = WarningCode
CATALOGUE: Final[dict[str, WarningDefinition]] = {
    W.INCOME_ABOVE_STANDARD: WarningDefinition(
        _H,
        "扣减刚性支出后家庭月人均收入 {per_capita} 元，不低于低保标准 {standard} 元。",
        "Per-capita monthly income after deductions ({per_capita} yuan) "
        "is not below the dibao standard ({standard} yuan).",
    ),
    W.FINANCIAL_ASSETS_ABOVE_LIMIT: WarningDefinition(
        _H,
        "家庭人均金融资产 {per_capita} 元，超过 {limit} 元的限额。",
        "Financial assets per capita ({per_capita} yuan) exceed the limit of {limit} yuan.",
    ),
    W.MULTIPLE_PROPERTIES: WarningDefinition(
        _H,
        "家庭拥有 {count} 套住房，超过政策允许的 {allowed} 套。",
        "The household owns {count} residential properties, more than the {allowed} allowed.",
    ),
    W.NON_RESIDENTIAL_PROPERTY: WarningDefinition(
        _H, "该成员拥有非住宅类房产（{usage}）。", "The member owns a non-residential property ({usage})."
    ),
    W.VEHICLE_OWNED: WarningDefinition(
        _M, "该成员拥有非豁免车辆（{plate}，{type}）。", "The member owns a non-exempt vehicle ({plate}, {type})."
    ),
    W.BUSINESS_REGISTERED: WarningDefinition(
        _H, "该成员是企业“{enterprise}”的{role_zh}。", "The member is {role_en} of the enterprise '{enterprise}'."
    ),
    W.PUBLIC_EMPLOYEE: WarningDefinition(
        _M,
        "该成员为财政供养人员（机关事业单位参保），需备案审查。",
        "The member is paid from public funds (public-institution insurance); the case must be filed for review.",
    ),
    W.MEMBER_DECEASED: WarningDefinition(
        _H, "公安户籍记录显示该成员已死亡（{date}）。", "Police records show the member as deceased ({date})."
    ),
    W.MEMBER_IN_CUSTODY: WarningDefinition(
        _M, "公安记录显示该成员正在服刑（{date}）。", "Police records show the member as serving a sentence ({date})."
    ),
    W.IDENTITY_MISMATCH: WarningDefinition(
        _H,
        "申报的姓名或身份证号与户籍登记不符：{reason_zh}。",
        "The declared identity does not match the household register: {reason_en}.",
    ),
    W.UNDECLARED_MEMBER: WarningDefinition(
        _M,
        "户籍登记中有未申报的{relation_zh}（{masked}）。",
        "The household register lists an undeclared {relation_en} ({masked}).",
    ),
    W.DECLARED_INCOME_MISMATCH: WarningDefinition(
        _M,
        "核对收入 {verified} 元超过申报收入 {declared} 元。",
        "Verified annual income ({verified} yuan) exceeds the declared {declared} yuan.",
    ),
    W.EMPLOYER_CONTRIBUTIONS: WarningDefinition(
        _L,
        "核对期内有单位缴纳的社会保险或住房公积金，表明有工资收入。",
        "An employer paid social-security or provident-fund contributions inside the window: evidence of wages.",
    ),
    W.RECENT_PROPERTY_TRANSFER: WarningDefinition(
        _H, "该成员于 {date} 出售或转让了不动产。", "The member sold or transferred real estate on {date}."
    ),
    W.LARGE_INSURANCE_PREMIUM: WarningDefinition(
        _M,
        "核对期内商业保险保费 {amount} 元，超过 {limit} 元。",
        "Commercial insurance premiums in the window ({amount} yuan) exceed {limit} yuan.",
    ),
    W.SOURCE_UNAVAILABLE: WarningDefinition(
        _H,
        "{department_zh}无法查询，报告不完整。",
        "The {department} department could not be queried; the report is incomplete.",
    ),
    W.SOURCE_PENDING: WarningDefinition(
        _M,
        "{department_zh}已受理查询，尚未反馈结果。",
        "The {department} department accepted the query but has not answered yet.",
    ),
    W.CONSENT_MISSING: WarningDefinition(
        _H,
        "该成员没有覆盖{target_zh}的有效授权，未向该部门查询。",
        "The member has no valid authorization covering {target}; that department was not queried.",
    ),
    W.GRADUAL_EXIT: WarningDefinition(
        _L,
        "家庭因成员工资收入增加超过低保标准，进入渐退期至 {until}。",
        "The household rose above the standard through wages and enters the gradual-exit period until {until}.",
    ),
}
del W

# The words the messages put in: an enterprise record's role, and what an undeclared register mate is to the
# declared household (a register's relation_to_head: the head's or the spouse's partner; a minor child).
ENTERPRISE_ROLE_ZH: Final = {"legal_representative": "法定代表人", "shareholder": "股东", "executive": "高级管理人员"}
UNDECLARED_RELATION_ZH: Final = {"spouse": "配偶", "head": "配偶", "child": "未成年子女"}


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals and thousands separators: 1234567 → "12,345.67"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def department_zh(department: str, catalogue: DepartmentCatalogue = DEFAULT_CATALOGUE) -> str:
    """A department's Chinese name from ``catalogue``, or its id when it is not declared there."""
    return catalogue.name_zh(department)


def flag(
    code: str,
    *,
    id_number: str | None,
    department: str,
    evidence: tuple[Evidence, ...] = (),
    catalogue: DepartmentCatalogue = DEFAULT_CATALOGUE,
    **params: str,
) -> WarningFlag:
    """A warning flag with its severity and its messages filled in from the catalogue.

    The templates may name ``{department}`` (the id) and ``{department_zh}`` (its name in ``catalogue``).
    """
    definition = CATALOGUE[code]
    params.setdefault("department", department)
    params.setdefault("department_zh", catalogue.name_zh(department))
    return WarningFlag(
        code=code,
        severity=definition.severity,
        id_number=id_number,
        department=department,
        evidence=evidence,
        message_zh=definition.message_zh.format(**params),
        message_en=definition.message_en.format(**params),
    )
