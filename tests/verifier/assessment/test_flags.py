"""The warning catalogue (warnings.md) and the flags made from it."""

from __future__ import annotations

from assessment_kit import MARKET_REGULATION, WARNINGS_MD_SEVERITY

from verifier.assessment.flags import CATALOGUE, Evidence, WarningCode, flag, yuan
from verifier.vocabulary import Severity


def test_every_code_has_its_severity_and_both_messages() -> None:
    assert set(WarningCode) == set(CATALOGUE) == set(WARNINGS_MD_SEVERITY)
    for code, definition in CATALOGUE.items():
        assert definition.severity == WARNINGS_MD_SEVERITY[code]
        assert isinstance(definition.severity, Severity)
        assert definition.message_zh and definition.message_en


def test_a_flag_fills_the_messages_and_names_a_declared_department_in_chinese() -> None:
    detail = (Evidence("market_regulation", "", "detail", "timed out"),)
    made = flag(
        "SOURCE_UNAVAILABLE",
        id_number=None,
        department="market_regulation",
        evidence=detail,
        catalogue=MARKET_REGULATION,
    )
    assert made.severity == "HIGH" and made.department == "market_regulation" and made.evidence == detail
    assert made.message_zh == "市场监督管理部门无法查询，报告不完整。"
    assert made.message_en == "The market_regulation department could not be queried; the report is incomplete."


def test_an_undeclared_department_reads_by_its_id() -> None:
    made = flag("SOURCE_PENDING", id_number=None, department="courts")
    assert made.message_zh == "courts已受理查询，尚未反馈结果。"


def test_a_default_department_reads_by_its_default_name() -> None:
    assert (
        flag("SOURCE_PENDING", id_number=None, department="banks").message_zh
        == "银行等金融机构已受理查询，尚未反馈结果。"
    )


def test_yuan_by_integer_arithmetic() -> None:
    assert (yuan(0), yuan(5), yuan(1_234_567), yuan(-250)) == ("0.00", "0.05", "12,345.67", "-2.50")
