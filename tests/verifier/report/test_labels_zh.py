"""Every code a report can carry has its Chinese label, and the labels read as the document always showed them."""

from __future__ import annotations

from assessment_kit import MARKET_REGULATION

from connectors.departments import DEFAULT_DEPARTMENTS
from connectors.records import (
    AccountRecord,
    ContributionRecord,
    EnterpriseRecord,
    PersonRecord,
    PropertyRecord,
    TaxIncomeRecord,
    VehicleRecord,
)
from verifier.assessment import INCOME_CATEGORIES
from verifier.report import labels_zh as labels
from verifier.vocabulary import Area, Classification, DeductionKind, Purpose, Relation, Severity

REPORT_SOURCE_STATUSES = ("ok", "unavailable", "pending", "not_queried")


def test_every_value_of_every_vocabulary_has_a_label() -> None:
    complete = [
        (labels.MEMBER_RELATION_ZH, set(Relation)),
        (labels.REGISTER_RELATION_ZH, PersonRecord.vocabularies["relation_to_head"]),
        (labels.MEMBER_STATUS_ZH, {*PersonRecord.vocabularies["status"], "unknown"}),
        (labels.SOURCE_STATUS_ZH, set(REPORT_SOURCE_STATUSES)),
        (labels.AREA_ZH, set(Area)),
        (labels.PURPOSE_ZH, set(Purpose)),
        (labels.SEVERITY_ZH, set(Severity)),
        (labels.CLASSIFICATION_ZH, set(Classification)),
        (labels.DEDUCTION_KIND_ZH, set(DeductionKind)),
        (labels.INCOME_CATEGORY_ZH, set(INCOME_CATEGORIES)),
        (labels.TAX_CATEGORY_ZH, TaxIncomeRecord.vocabularies["category"]),
        (labels.SCHEME_ZH, ContributionRecord.vocabularies["scheme"]),
        (labels.ACCOUNT_KIND_ZH, AccountRecord.vocabularies["account_kind"]),
        (labels.USAGE_ZH, PropertyRecord.vocabularies["usage"]),
        (labels.VEHICLE_TYPE_ZH, VehicleRecord.vocabularies["type"]),
        (labels.VEHICLE_USE_ZH, VehicleRecord.vocabularies["use"]),
        (labels.ENTERPRISE_ROLE_ZH, EnterpriseRecord.vocabularies["role"]),
        (labels.DEPARTMENT_SHORT_ZH, {d.id for d in DEFAULT_DEPARTMENTS} | {"consent", "computed"}),
        (labels.MEMBER_CHANGE_ZH, {"joined", "left", "stayed"}),
        (labels.WARNING_CHANGE_ZH, {"appeared", "cleared"}),
    ]
    for table, values in complete:
        assert set(table) == set(values), table
        assert all(label.strip() for label in table.values())


def test_the_two_relation_vocabularies_keep_their_words() -> None:
    assert labels.MEMBER_RELATION_ZH["applicant"] == "申请人" and labels.MEMBER_RELATION_ZH["sibling"] == "兄弟姐妹"
    assert labels.REGISTER_RELATION_ZH["head"] == "户主" and labels.REGISTER_RELATION_ZH["child"] == "子女"
    # an undeclared register mate, as the warning names them
    assert labels.UNDECLARED_RELATION_ZH == {"head": "配偶", "spouse": "配偶", "child": "未成年子女"}


def test_label_falls_back_to_the_code_and_is_empty_for_none() -> None:
    assert labels.label(labels.AREA_ZH, "rural") == "农村"
    assert labels.label(labels.AREA_ZH, "suburban") == "suburban"
    assert labels.label(labels.AREA_ZH, None) == labels.label(labels.AREA_ZH, "") == ""


def test_a_department_in_a_table_short_for_the_defaults_else_by_its_declared_name() -> None:
    catalogue = MARKET_REGULATION
    assert labels.department_short_zh("tax", catalogue) == "税务"
    assert labels.department_short_zh("computed", catalogue) == "核算"
    assert labels.department_short_zh("market_regulation", catalogue) == "市场监督管理部门"
    assert labels.department_short_zh("courts", catalogue) == "courts"
