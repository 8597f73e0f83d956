"""The change section of a recheck's printable document: figures before → after, members, warnings."""

from __future__ import annotations

from collections.abc import Callable

from consent.identity import mask
from hedui.v1 import report_pb2
from verifier.report.display import arrow, css_safe, masked_text
from verifier.report.html_computation import ordered_categories
from verifier.report.html_model import ChangesView, FigureRow, MemberChangeRow, WarningChangeRow
from verifier.report.labels_zh import (
    CLASSIFICATION_ZH,
    INCOME_CATEGORY_ZH,
    MEMBER_CHANGE_ZH,
    SEVERITY_ZH,
    WARNING_CHANGE_ZH,
    label,
)

__all__ = ["changes_view"]


def _yes(value: bool) -> str:
    """是 or 否."""
    return "是" if value else "否"


def _rows(c: report_pb2.ReportChanges) -> list[FigureRow]:
    """Household size, income by category, totals, assets: before → after."""
    before, after = dict(c.income_by_category_before), dict(c.income_by_category_after)
    rows = [FigureRow("家庭人口（计入）", f"{c.household_size_before} → {c.household_size_after}")]
    rows += [
        FigureRow(label(INCOME_CATEGORY_ZH, k), arrow(before.get(k, 0), after.get(k, 0)))
        for k in ordered_categories(set(before) | set(after))
        if before.get(k, 0) or after.get(k, 0)
    ]
    rows += [
        FigureRow("家庭年收入 I", arrow(c.annual_income_before_fen, c.annual_income_after_fen), total=True),
        FigureRow("刚性支出扣减 D", arrow(c.deductions_before_fen, c.deductions_after_fen)),
        FigureRow(
            "扣减后月人均收入",
            arrow(c.per_capita_monthly_income_before_fen, c.per_capita_monthly_income_after_fen),
            total=True,
        ),
        FigureRow("家庭金融资产", arrow(c.financial_assets_before_fen, c.financial_assets_after_fen)),
        FigureRow("住房（套）", f"{c.residential_properties_before} → {c.residential_properties_after}"),
    ]
    return rows


def _member_rows(c: report_pb2.ReportChanges) -> tuple[MemberChangeRow, ...]:
    """Each member who joined, left or stayed."""
    return tuple(
        MemberChangeRow(
            member=masked_text(m.name),
            id_masked=mask(m.id_number),
            change=label(MEMBER_CHANGE_ZH, m.change),
            counted=f"{_yes(m.counted_before)} → {_yes(m.counted_after)}",
            income=arrow(m.counted_annual_income_before_fen, m.counted_annual_income_after_fen),
            wages=arrow(m.wages_before_fen, m.wages_after_fen),
        )
        for m in c.member_changes
    )


def _warning_rows(c: report_pb2.ReportChanges, people: Callable[[str | None], str]) -> tuple[WarningChangeRow, ...]:
    """Each warning that appeared or cleared."""
    return tuple(
        WarningChangeRow(
            code=w.code,
            severity=label(SEVERITY_ZH, w.severity),
            severity_code=css_safe(w.severity),
            member=people(w.id_number),
            change=label(WARNING_CHANGE_ZH, w.change),
            change_code=css_safe(w.change),
            message_zh=masked_text(w.message_zh),
        )
        for w in c.warning_changes
    )


def changes_view(report: report_pb2.Report, people: Callable[[str | None], str]) -> ChangesView | None:
    """The change section, or None for a report that is not a recheck's."""
    if not report.HasField("changes"):
        return None
    c = report.changes
    previous = c.previous_report_id
    if c.previous_version:
        previous = (
            f"{c.previous_report_id}（核对 {c.previous_verification_id} 第 {c.previous_version} 版，"
            f"申请日期 {c.previous_application_date}）"
        )
    return ChangesView(
        previous_report_id=c.previous_report_id,
        previous_report=previous,
        rows=tuple(_rows(c)),
        members_added=tuple(people(n) for n in c.members_added),
        members_removed=tuple(people(n) for n in c.members_removed),
        warnings_appeared=tuple(c.warnings_appeared),
        warnings_cleared=tuple(c.warnings_cleared),
        classification_before=label(CLASSIFICATION_ZH, c.classification_before),
        classification_after=label(CLASSIFICATION_ZH, c.classification_after) if c.classification_after else "",
        member_rows=_member_rows(c),
        warning_rows=_warning_rows(c, people),
    )
