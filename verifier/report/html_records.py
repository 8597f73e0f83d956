"""The records tables of the printable document: one row per department record, one builder per record kind.

Income records (by period, then record id) and asset records (money, real estate, vehicles,
enterprises, then by record id), member by member. The department column is the department that
supplied the record, by its short name (a configured department: its declared Chinese name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from connectors.departments import DepartmentCatalogue
from hedui.v1 import records_pb2, report_pb2
from verifier.assessment.flags import yuan
from verifier.report.display import masked_text
from verifier.report.html_model import RecordRow
from verifier.report.labels_zh import (
    ACCOUNT_KIND_ZH,
    ENTERPRISE_ROLE_ZH,
    SCHEME_ZH,
    TAX_CATEGORY_ZH,
    USAGE_ZH,
    VEHICLE_TYPE_ZH,
    VEHICLE_USE_ZH,
    department_short_zh,
    label,
)

__all__ = ["record_rows"]


@dataclass(frozen=True, slots=True)
class _Cell:
    """What every row of one record shows first: member, department, record id; and the window."""

    who: str
    department: str
    record_id: str
    window: tuple[str, str]

    def row(self, when: str, item: str, amount: str, note: str = "", *, period: bool = False) -> RecordRow:
        """The row; a period outside the window is marked."""
        outside = period and _outside(when, self.window)
        return RecordRow(self.who, self.department, self.record_id, when, item, amount, note, outside)


def _outside(period: str, window: tuple[str, str]) -> bool:
    """Whether ``period`` lies outside a known window."""
    start, end = window
    return bool(start and end) and not (start <= period <= end)


def _employer(name: str) -> str:
    """ "（employer）" when there is one."""
    return f"（{name}）" if name else ""


def _tax_income(c: _Cell, r: records_pb2.TaxIncomeRecord) -> RecordRow:
    """A tax return: category and amount."""
    return c.row(r.period, f"纳税申报：{label(TAX_CATEGORY_ZH, r.category)}", yuan(r.amount_fen), period=True)


def _contribution(c: _Cell, r: records_pb2.ContributionRecord) -> RecordRow:
    """A social-security contribution: scheme and employer, the base, both parts."""
    parts = f"缴费基数；单位缴 {yuan(r.employer_part_fen)}，个人缴 {yuan(r.personal_part_fen)}"
    item = f"社保缴费：{label(SCHEME_ZH, r.scheme)}" + _employer(r.employer)
    return c.row(r.period, item, yuan(r.base_fen), parts, period=True)


def _provident_fund(c: _Cell, r: records_pb2.ProvidentFundRecord) -> RecordRow:
    """A provident-fund deposit: both parts."""
    parts = f"单位缴 {yuan(r.employer_part_fen)}，个人缴 {yuan(r.personal_part_fen)}"
    amount = yuan(r.employer_part_fen + r.personal_part_fen)
    return c.row(r.period, "住房公积金缴存" + _employer(r.employer), amount, parts, period=True)


def _pension(c: _Cell, r: records_pb2.PensionRecord) -> RecordRow:
    """A pension payment."""
    return c.row(r.period, "养老金", yuan(r.amount_fen), period=True)


def _benefit(c: _Cell, r: records_pb2.BenefitRecord) -> RecordRow:
    """A social-security benefit, by its kind."""
    return c.row(r.period, f"社会保障待遇：{r.kind}", yuan(r.amount_fen), period=True)


def _rental(c: _Cell, r: records_pb2.RentalRecord) -> RecordRow:
    """Rent received."""
    return c.row(r.period, "房屋租金", yuan(r.rent_fen), period=True)


def _account(c: _Cell, r: records_pb2.AccountRecord) -> RecordRow:
    """A holding: its kind, the institution, the balance."""
    return c.row(r.as_of, f"{label(ACCOUNT_KIND_ZH, r.kind)}（{r.institution}）", yuan(r.balance_fen), "余额")


def _premium(c: _Cell, r: records_pb2.InsurancePremiumRecord) -> RecordRow:
    """A commercial insurance premium."""
    return c.row(r.period, f"商业保险保费（{r.insurer}）", yuan(r.amount_fen), "保费")


def _property(c: _Cell, r: records_pb2.PropertyRecord) -> RecordRow:
    """Real estate: usage, value, area, when acquired and disposed of."""
    note = f"{r.area_m2:g} 平方米"
    note += f"；{r.acquired} 取得" if r.acquired else ""
    note += f"；{r.disposed} 转让" if r.disposed else ""
    return c.row(r.acquired, f"不动产：{label(USAGE_ZH, r.usage)}", yuan(r.value_fen), note)


def _vehicle(c: _Cell, r: records_pb2.VehicleRecord) -> RecordRow:
    """A vehicle: plate, type, use and value."""
    item = f"车辆：{r.plate}，{label(VEHICLE_TYPE_ZH, r.type)}，{label(VEHICLE_USE_ZH, r.use)}"
    return c.row(r.registered, item, yuan(r.value_fen), "登记日期")


def _enterprise(c: _Cell, r: records_pb2.EnterpriseRecord) -> RecordRow:
    """An enterprise registration and the member's role."""
    return c.row(r.registered, f"企业：{r.enterprise}（{label(ENTERPRISE_ROLE_ZH, r.role)}）", "—", "工商登记")


# record kind → (asset order, or None for an income record; the row builder)
_ROWS: Final[dict[str, tuple[int | None, Callable[[_Cell, Any], RecordRow]]]] = {
    "tax_income": (None, _tax_income),
    "contribution": (None, _contribution),
    "provident_fund": (None, _provident_fund),
    "pension": (None, _pension),
    "benefit": (None, _benefit),
    "rental": (None, _rental),
    "account": (0, _account),
    "insurance_premium": (0, _premium),
    "property": (1, _property),
    "vehicle": (2, _vehicle),
    "enterprise": (3, _enterprise),
}


def record_rows(
    report: report_pb2.Report, people: Callable[[str], str], window: tuple[str, str], catalogue: DepartmentCatalogue
) -> tuple[tuple[RecordRow, ...], tuple[RecordRow, ...]]:
    """(income records, asset records) of every member, in member order; ``people`` names a member."""
    income_all: list[RecordRow] = []
    assets_all: list[tuple[int, RecordRow]] = []
    for m in report.members:
        income: list[RecordRow] = []
        assets: list[tuple[int, RecordRow]] = []
        for record in m.records:
            kind = record.WhichOneof("record")
            if kind not in _ROWS:
                continue  # a person record: shown with the member
            body = getattr(record, kind)
            department = department_short_zh(record.department, catalogue)
            cell = _Cell(people(m.id_number), department, masked_text(str(body.record_id)), window)
            order, build = _ROWS[kind]
            row = build(cell, body)
            if order is None:
                income.append(row)
            else:
                assets.append((order, row))
        income_all += sorted(income, key=lambda row: (row.when, row.record_id))
        assets_all += sorted(assets, key=lambda pair: (pair[0], pair[1].record_id))
    return tuple(income_all), tuple(row for _, row in assets_all)
