"""verifier.report.html_records: one row per department record — what each kind shows, the order of the two
tables, periods outside the window, and the department that supplied the record by its short or declared name."""

from __future__ import annotations

from typing import Any

import pytest
from assessment_kit import APPLICANT, MARKET_REGULATION, SPOUSE

from connectors.departments import DepartmentCatalogue, RecordKind
from hedui.v1 import records_pb2, report_pb2
from verifier.report.html_model import RecordRow
from verifier.report.html_records import record_rows

WINDOW = ("2025-11", "2026-10")
NAMES = {APPLICANT: "张建国", SPOUSE: "李秀英"}
DEFAULT = DepartmentCatalogue()


def rec(department: str, **kind: Any) -> records_pb2.DepartmentRecord:
    """A department record of one kind: ``tax_income={...}`` and so on."""
    ((name, fields),) = kind.items()
    message = records_pb2.DepartmentRecord(department=department)
    getattr(message, name).CopyFrom(getattr(records_pb2, _TYPES[name])(**fields))
    return message


_TYPES = {
    "person": "PersonRecord",
    "property": "PropertyRecord",
    "provident_fund": "ProvidentFundRecord",
    "rental": "RentalRecord",
    "tax_income": "TaxIncomeRecord",
    "enterprise": "EnterpriseRecord",
    "vehicle": "VehicleRecord",
    "account": "AccountRecord",
    "insurance_premium": "InsurancePremiumRecord",
    "contribution": "ContributionRecord",
    "pension": "PensionRecord",
    "benefit": "BenefitRecord",
}


def report(*members: tuple[str, list[records_pb2.DepartmentRecord]]) -> report_pb2.Report:
    return report_pb2.Report(
        members=[report_pb2.MemberReport(id_number=i, name=NAMES[i], records=records) for i, records in members]
    )


def rows(
    *records: records_pb2.DepartmentRecord,
    window: tuple[str, str] = WINDOW,
    catalogue: DepartmentCatalogue = DEFAULT,
) -> tuple[tuple[RecordRow, ...], tuple[RecordRow, ...]]:
    return record_rows(report((APPLICANT, list(records))), NAMES.__getitem__, window, catalogue)


def only(*records: records_pb2.DepartmentRecord) -> RecordRow:
    income, assets = rows(*records)
    (row,) = income + assets
    return row


def shown(row: RecordRow) -> tuple[str, str, str, str]:
    return row.when, row.item, row.amount, row.note


def test_a_tax_return_by_its_category() -> None:
    row = only(
        rec("tax", tax_income={"record_id": "TX-1", "period": "2026-01", "category": "wages", "amount_fen": 600_000})
    )
    assert shown(row) == ("2026-01", "纳税申报：工资薪金所得", "6,000.00", "")
    assert (row.member, row.department, row.record_id, row.outside_window) == ("张建国", "税务", "TX-1", False)


def test_a_contribution_shows_its_base_and_both_parts() -> None:
    fields = {"period": "2026-02", "scheme": "enterprise_employee", "base_fen": 500_000}
    parts = {"employer_part_fen": 80_000, "personal_part_fen": 40_000}
    row = only(rec("social_security", contribution={**fields, **parts, "employer": "某厂"}))
    assert shown(row) == (
        "2026-02",
        "社保缴费：企业职工养老保险（某厂）",
        "5,000.00",
        "缴费基数；单位缴 800.00，个人缴 400.00",
    )
    without_employer = only(rec("social_security", contribution=fields))
    assert without_employer.item == "社保缴费：企业职工养老保险"
    assert without_employer.note == "缴费基数；单位缴 0.00，个人缴 0.00"


def test_a_provident_fund_deposit_is_the_sum_of_its_parts() -> None:
    fund = {"period": "2026-03", "employer": "公积金单位", "employer_part_fen": 30_050, "personal_part_fen": 29_950}
    row = only(rec("housing", provident_fund=fund))
    assert shown(row) == ("2026-03", "住房公积金缴存（公积金单位）", "600.00", "单位缴 300.50，个人缴 299.50")
    assert row.department == "不动产"


def test_pensions_benefits_and_rent() -> None:
    income, assets = rows(
        rec("social_security", pension={"record_id": "P-1", "period": "2026-04", "amount_fen": 250_000}),
        rec(
            "social_security",
            benefit={"record_id": "B-1", "period": "2026-05", "kind": "unemployment", "amount_fen": 1},
        ),
        rec("housing", rental={"record_id": "R-1", "period": "2026-06", "rent_fen": 150_000}),
    )
    assert [shown(r) for r in income] == [
        ("2026-04", "养老金", "2,500.00", ""),
        ("2026-05", "社会保障待遇：unemployment", "0.01", ""),  # a benefit's kind is the department's own word
        ("2026-06", "房屋租金", "1,500.00", ""),
    ]
    assert [r.department for r in income] == ["人社", "人社", "不动产"] and assets == ()


def test_a_negative_amount_keeps_its_sign() -> None:
    row = only(rec("tax", tax_income={"period": "2026-01", "category": "other", "amount_fen": -12_345}))
    assert (row.item, row.amount) == ("纳税申报：其他所得", "-123.45")


def test_money_holdings() -> None:
    account = {
        "record_id": "AC-1",
        "institution": "农业银行",
        "kind": "deposit",
        "balance_fen": 12_345_678,
        "as_of": "2026-10-31",
    }
    premium = {"record_id": "IP-1", "insurer": "某保险", "period": "2026-03", "amount_fen": 500_000}
    _, assets = rows(rec("banks", account=account), rec("banks", insurance_premium=premium))
    assert [shown(r) for r in assets] == [
        ("2026-10-31", "存款（农业银行）", "123,456.78", "余额"),
        ("2026-03", "商业保险保费（某保险）", "5,000.00", "保费"),
    ]
    assert all(r.department == "银行" and not r.outside_window for r in assets)


def test_real_estate_with_and_without_its_dates() -> None:
    sold = {"record_id": "HP-1", "usage": "residential", "area_m2": 89.5, "value_fen": 80_000_000}
    sold |= {"acquired": "2015-06-01", "disposed": "2026-05-01"}
    shop = {"record_id": "HP-2", "usage": "commercial", "area_m2": 120.0, "value_fen": 0}
    _, assets = rows(rec("housing", property=sold), rec("housing", property=shop))
    assert [shown(r) for r in assets] == [
        ("2015-06-01", "不动产：住宅", "800,000.00", "89.5 平方米；2015-06-01 取得；2026-05-01 转让"),
        ("", "不动产：商业用房", "0.00", "120 平方米"),
    ]


def test_a_vehicle_and_an_enterprise() -> None:
    car = {"record_id": "VH-1", "plate": "云A12345", "type": "car", "use": "private", "value_fen": 5_000_000}
    firm = {"record_id": "EN-1", "enterprise": "某某商贸有限公司", "role": "legal_representative"}
    _, assets = rows(rec("vehicles", vehicle={**car, "registered": "2020-01-01"}), rec("tax", enterprise=firm))
    assert [shown(r) for r in assets] == [
        ("2020-01-01", "车辆：云A12345，小型汽车，非营运", "50,000.00", "登记日期"),
        ("", "企业：某某商贸有限公司（法定代表人）", "—", "工商登记"),
    ]
    assert [r.department for r in assets] == ["车管", "税务"]


def test_an_unknown_vocabulary_value_shows_as_its_code() -> None:
    row = only(rec("tax", tax_income={"period": "2026-01", "category": "lottery", "amount_fen": 100}))
    assert row.item == "纳税申报：lottery"


def test_person_records_are_not_rows() -> None:
    person = rec("police", person={"record_id": "H-1", "id_number": APPLICANT, "name": "张建国", "status": "active"})
    assert rows(person) == ((), ())


def test_every_record_kind_but_the_person_makes_a_row() -> None:
    # a record kind added to connectors without a row builder here would vanish from the document
    records = [rec("tax", **{kind.value: {"record_id": f"id-{kind.value}"}}) for kind in RecordKind]
    income, assets = rows(*records)
    shown_ids = {r.record_id for r in income + assets}
    assert shown_ids == {f"id-{kind.value}" for kind in RecordKind if kind is not RecordKind.PERSON}
    assert len(income) == 6 and len(assets) == 5


def test_income_by_period_then_record_id_assets_by_kind_then_record_id() -> None:
    def tax(rid: str, period: str) -> records_pb2.DepartmentRecord:
        return rec("tax", tax_income={"record_id": rid, "period": period, "category": "wages", "amount_fen": 1})

    income, assets = rows(
        tax("TX-b", "2026-02"),
        tax("TX-c", "2026-01"),
        tax("TX-a", "2026-02"),
        rec("tax", enterprise={"record_id": "EN-1"}),
        rec("vehicles", vehicle={"record_id": "VH-1"}),
        rec("housing", property={"record_id": "HP-2"}),
        rec("housing", property={"record_id": "HP-1"}),
        rec("banks", insurance_premium={"record_id": "IP-1"}),
        rec("banks", account={"record_id": "AC-9"}),
    )
    assert [r.record_id for r in income] == ["TX-c", "TX-a", "TX-b"]
    # money (accounts and premiums together), real estate, vehicles, enterprises
    assert [r.record_id for r in assets] == ["AC-9", "IP-1", "HP-1", "HP-2", "VH-1", "EN-1"]


def test_members_in_report_order_each_sorted_on_its_own() -> None:
    tax = {"category": "wages", "amount_fen": 1}
    both = report(
        (SPOUSE, [rec("tax", tax_income={"record_id": "S-1", "period": "2026-01", **tax})]),
        (APPLICANT, [rec("tax", tax_income={"record_id": "A-1", "period": "2025-12", **tax})]),
    )
    income, _ = record_rows(both, NAMES.__getitem__, WINDOW, DEFAULT)
    assert [(r.member, r.record_id) for r in income] == [("李秀英", "S-1"), ("张建国", "A-1")]


@pytest.mark.parametrize(
    ("period", "outside"),
    [("2025-10", True), ("2025-11", False), ("2026-06", False), ("2026-10", False), ("2026-11", True)],
)
def test_a_period_outside_the_window_is_marked(period: str, outside: bool) -> None:
    row = only(rec("social_security", pension={"period": period, "amount_fen": 1}))
    assert row.outside_window is outside


def test_without_a_window_nothing_is_outside_and_dated_assets_never_are() -> None:
    income, _ = rows(rec("tax", tax_income={"period": "2019-01"}), window=("", ""))
    assert not income[0].outside_window
    _, assets = rows(
        rec("banks", insurance_premium={"period": "2019-01"}), rec("banks", account={"as_of": "2019-01-01"})
    )
    assert not any(r.outside_window for r in assets)


def test_a_configured_department_by_its_declared_name_an_undeclared_one_by_its_id() -> None:
    firm = rec("market_regulation", enterprise={"record_id": "EN-1", "enterprise": "某某商贸有限公司"})
    (row,) = rows(firm, catalogue=MARKET_REGULATION)[1]
    assert row.department == "市场监督管理部门"
    (row,) = rows(firm)[1]
    assert row.department == "market_regulation"


def test_identity_numbers_in_record_ids_are_masked() -> None:
    pension = rec("social_security", pension={"record_id": f"PN-{APPLICANT}", "period": "2026-01"})
    assert only(pension).record_id == "PN-533401********0118"
