"""Every Chinese label the renderers show, once: one table per vocabulary, keyed by its codes.

Two relation vocabularies, two tables: :data:`MEMBER_RELATION_ZH` is a declared member's relation to
the applicant (the request's ``relation``), :data:`REGISTER_RELATION_ZH` a person's relation to the
head of their household register (a person record's ``relation_to_head``). The words the warning
messages put in (an enterprise role, an undeclared register mate) belong to the warning catalogue
(:mod:`verifier.assessment.flags`) and are re-exported here. Department names come from the
:class:`~connectors.departments.DepartmentCatalogue`; :data:`DEPARTMENT_SHORT_ZH` only shortens the
default ones in tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from connectors.departments import DepartmentCatalogue
from verifier.assessment.flags import ENTERPRISE_ROLE_ZH, UNDECLARED_RELATION_ZH
from verifier.vocabulary import (
    Area,
    Classification,
    DeductionKind,
    DepartmentStatus,
    Purpose,
    Relation,
    Severity,
)

__all__ = [
    "ACCOUNT_KIND_ZH",
    "AREA_ZH",
    "CLASSIFICATION_ZH",
    "DEDUCTION_KIND_ZH",
    "DEPARTMENT_SHORT_ZH",
    "ENTERPRISE_ROLE_ZH",
    "EVIDENCE_FIELD_ZH",
    "INCOME_CATEGORY_ZH",
    "MEMBER_CHANGE_ZH",
    "MEMBER_RELATION_ZH",
    "MEMBER_STATUS_ZH",
    "PURPOSE_ZH",
    "REGISTER_RELATION_ZH",
    "SCHEME_ZH",
    "SEVERITY_ZH",
    "SOURCE_STATUS_ZH",
    "TAX_CATEGORY_ZH",
    "UNDECLARED_RELATION_ZH",
    "USAGE_ZH",
    "VEHICLE_TYPE_ZH",
    "VEHICLE_USE_ZH",
    "WARNING_CHANGE_ZH",
    "department_short_zh",
    "label",
]

MEMBER_RELATION_ZH: Final[Mapping[str, str]] = {
    Relation.APPLICANT: "申请人",
    Relation.SPOUSE: "配偶",
    Relation.CHILD: "子女",
    Relation.PARENT: "父母",
    Relation.SIBLING: "兄弟姐妹",
    Relation.OTHER: "其他",
}
REGISTER_RELATION_ZH: Final[Mapping[str, str]] = {
    "head": "户主",
    "spouse": "配偶",
    "child": "子女",
    "parent": "父母",
    "other": "其他",
}
MEMBER_STATUS_ZH: Final[Mapping[str, str]] = {
    "active": "正常",
    "deceased": "已死亡",
    "in_custody": "服刑中",
    "unknown": "未核实",
}
# The statuses a report's sources show (the others are a verification's, never in a report).
SOURCE_STATUS_ZH: Final[Mapping[str, str]] = {
    DepartmentStatus.OK: "已反馈",
    DepartmentStatus.UNAVAILABLE: "无法查询",
    DepartmentStatus.PENDING: "待反馈",
    DepartmentStatus.NOT_QUERIED: "未查询",
}
AREA_ZH: Final[Mapping[str, str]] = {Area.URBAN: "城市", Area.RURAL: "农村"}
PURPOSE_ZH: Final[Mapping[str, str]] = {
    Purpose.ASSESSMENT: "申请审核",
    Purpose.RECHECK: "定期复核",
    Purpose.TEMPORARY_ASSISTANCE: "临时救助",
}
SEVERITY_ZH: Final[Mapping[str, str]] = {Severity.HIGH: "高", Severity.MEDIUM: "中", Severity.LOW: "低"}
CLASSIFICATION_ZH: Final[Mapping[str, str]] = {
    Classification.INCONCLUSIVE: "无法得出结论（核对数据不完整）",
    Classification.NOT_ELIGIBLE_ASSETS: "财产状况不符合条件",
    Classification.DIBAO: "符合低保收入条件",
    Classification.DIBAO_AFTER_DEDUCTIONS: "扣减刚性支出后符合低保收入条件（支出型）",
    Classification.MARGINAL: "低保边缘家庭",
    Classification.NOT_ELIGIBLE_INCOME: "收入不符合条件",
}
# In the order the report lists them (verifier.assessment.INCOME_CATEGORIES).
INCOME_CATEGORY_ZH: Final[Mapping[str, str]] = {
    "wages": "工资性收入",
    "business": "经营净收入",
    "property": "财产净收入",
    "pensions": "养老金",
    "benefits": "社会保障待遇",
    "other": "其他收入",
    "declared_unverified": "申报未核实部分（按申报计入）",
}
DEDUCTION_KIND_ZH: Final[Mapping[str, str]] = {
    DeductionKind.MEDICAL: "医疗支出",
    DeductionKind.REHABILITATION: "残疾康复支出",
    DeductionKind.EDUCATION: "教育支出",
    DeductionKind.PENSION_CONTRIBUTION: "个人缴纳养老保险费",
    DeductionKind.EMPLOYMENT_COST: "就业成本",
}
TAX_CATEGORY_ZH: Final[Mapping[str, str]] = {
    "wages": "工资薪金所得",
    "business": "经营所得",
    "property": "财产所得",
    "other": "其他所得",
}
SCHEME_ZH: Final[Mapping[str, str]] = {
    "enterprise_employee": "企业职工养老保险",
    "public_institution": "机关事业单位养老保险",
    "urban_rural_resident": "城乡居民养老保险",
}
ACCOUNT_KIND_ZH: Final[Mapping[str, str]] = {
    "deposit": "存款",
    "fund": "基金",
    "wealth": "理财产品",
    "securities": "证券",
    "insurance_cash_value": "保险现金价值",
}
USAGE_ZH: Final[Mapping[str, str]] = {
    "residential": "住宅",
    "commercial": "商业用房",
    "office": "办公用房",
    "industrial": "工业用房",
}
VEHICLE_TYPE_ZH: Final[Mapping[str, str]] = {
    "car": "小型汽车",
    "truck": "货车",
    "motorcycle": "摩托车",
    "tricycle": "三轮车",
    "disability": "残疾人专用车",
}
VEHICLE_USE_ZH: Final[Mapping[str, str]] = {"private": "非营运", "operating": "营运"}
# Short names of the default departments (and of the pseudo-departments of warnings) for the tables.
DEPARTMENT_SHORT_ZH: Final[Mapping[str, str]] = {
    "police": "公安",
    "housing": "不动产",
    "tax": "税务",
    "vehicles": "车管",
    "banks": "银行",
    "social_security": "人社",
    "consent": "授权",
    "computed": "核算",
}
EVIDENCE_FIELD_ZH: Final[Mapping[str, str]] = {
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
MEMBER_CHANGE_ZH: Final[Mapping[str, str]] = {"joined": "新增", "left": "减少", "stayed": "未变"}
WARNING_CHANGE_ZH: Final[Mapping[str, str]] = {"appeared": "新出现", "cleared": "已消除"}


def label(table: Mapping[str, str], code: str | None) -> str:
    """The Chinese label of ``code`` in ``table``; the code itself when the table has none; empty for none."""
    if not code:
        return ""
    return table.get(code, code)


def department_short_zh(department: str, catalogue: DepartmentCatalogue) -> str:
    """A department's name in a table: the short name of a default one, else its declared Chinese name."""
    return DEPARTMENT_SHORT_ZH.get(department) or catalogue.name_zh(department)
