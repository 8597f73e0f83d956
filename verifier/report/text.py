"""The report as readable tables in the terminal (rich), from the typed report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from consent.identity import mask
from hedui.v1 import report_pb2
from verifier.assessment.figures import INCOME_CATEGORIES
from verifier.assessment.flags import yuan
from verifier.report.build import report_from_plain
from verifier.report.display import arrow, masked_text

__all__ = ["print_report", "yuan"]

SEVERITY_STYLE: Final = {"HIGH": "bold red", "MEDIUM": "yellow", "LOW": "cyan"}
STATUS_STYLE: Final = {"ok": "green", "unavailable": "bold red", "pending": "yellow", "not_queried": "magenta"}


def _yes(value: bool) -> str:
    """yes or no."""
    return "yes" if value else "no"


def _members(report: report_pb2.Report) -> Table:
    """The members table."""
    table = Table(title="Members 家庭成员", title_justify="left", expand=True)
    for column in ("name", "identity no.", "relation", "status", "counted", "declared ¥", "verified ¥", "counted ¥"):
        table.add_column(column, justify="right" if "¥" in column else "left")
    for m in report.members:
        table.add_row(
            m.name,
            mask(m.id_number),
            m.relation,
            m.status,
            _yes(m.counted_in_household),
            yuan(m.declared_annual_income_fen),
            yuan(m.verified_annual_income_fen),
            yuan(m.counted_annual_income_fen),
        )
    return table


def _sources(report: report_pb2.Report) -> Table:
    """The sources table; members not queried are listed in the detail."""
    table = Table(title="Sources 数据来源", title_justify="left", expand=True)
    for column in ("department", "status", "records", "answered at", "detail"):
        table.add_column(column)
    for s in report.sources:
        style = STATUS_STYLE.get(s.status, "")
        detail = s.detail
        if s.not_queried:
            detail = (detail + "; " if detail else "") + "not queried: " + ", ".join(mask(n) for n in s.not_queried)
        table.add_row(
            s.department, f"[{style}]{s.status}[/]", str(s.records), s.answered_at, escape(masked_text(detail))
        )
    return table


def _figures(report: report_pb2.Report) -> Table:
    """The assessment's figures."""
    a = report.assessment
    table = Table(
        title=f"Assessment 核算 (window {a.window_start} – {a.window_end})", title_justify="left", expand=True
    )
    table.add_column("figure")
    table.add_column("¥", justify="right")
    rows = [("household size n", str(a.household_size))]
    rows += [(f"income: {k}", yuan(v)) for k, v in sorted(a.income_by_category.items()) if v]
    rows += [("annual household income I", yuan(a.annual_income_fen))]
    rows += [
        (
            f"deduction: {d.kind} ({mask(d.id_number)})",
            yuan(d.allowed_fen) + (escape(f"  [{d.note}]") if d.note else ""),
        )
        for d in a.deductions
    ]
    rows += [
        ("deductions D", yuan(a.deductions_fen)),
        ("per capita monthly, before deductions  I/12/n", yuan(a.per_capita_monthly_income_before_fen)),
        ("per capita monthly  (I−D)/12/n", yuan(a.per_capita_monthly_income_fen)),
        ("dibao standard S", yuan(a.standard_fen)),
        ("financial assets (limit)", f"{yuan(a.financial_assets_fen)} ({yuan(a.financial_assets_limit_fen)})"),
        ("residential properties", str(a.residential_properties)),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _flags(report: report_pb2.Report) -> Table | str:
    """The warnings table, or a line saying there is none."""
    if not report.flags:
        return "[green]No warning flags 无预警信息[/]"
    table = Table(title="Warning flags 预警信息", title_justify="left", expand=True)
    for column in ("code", "severity", "member", "department", "evidence", "message"):
        table.add_column(column)
    for f in report.flags:
        evidence = ", ".join(f"{e.record_id or e.field}={e.value}" for e in f.evidence)
        table.add_row(
            f.code,
            f"[{SEVERITY_STYLE.get(f.severity, '')}]{f.severity}[/]",
            mask(f.id_number) if f.id_number else "household",
            f.department,
            escape(masked_text(evidence)),
            escape(masked_text(f"{f.message_zh}\n{f.message_en}")),
        )
    return table


def _change_figures(c: report_pb2.ReportChanges) -> Table:
    """A recheck's figures, before → after."""
    table = Table(
        title=(
            f"Changes since report {c.previous_report_id} 复核变化 "
            f"(v{c.previous_version}, application {c.previous_application_date})"
        ),
        title_justify="left",
        expand=True,
    )
    table.add_column("figure")
    table.add_column("before → after", justify="right")
    before, after = dict(sorted(c.income_by_category_before.items())), dict(sorted(c.income_by_category_after.items()))
    known = [k for k in INCOME_CATEGORIES if k in before or k in after]
    rows = [
        ("classification", f"{c.classification_before} → {c.classification_after}"),
        ("household size n", f"{c.household_size_before} → {c.household_size_after}"),
        *[
            (f"income: {k}", arrow(before.get(k, 0), after.get(k, 0)))
            for k in dict.fromkeys([*known, *before, *after])
            if before.get(k, 0) or after.get(k, 0)
        ],
        ("annual household income I", arrow(c.annual_income_before_fen, c.annual_income_after_fen)),
        ("deductions D", arrow(c.deductions_before_fen, c.deductions_after_fen)),
        (
            "per capita monthly  (I−D)/12/n",
            arrow(c.per_capita_monthly_income_before_fen, c.per_capita_monthly_income_after_fen),
        ),
        ("financial assets", arrow(c.financial_assets_before_fen, c.financial_assets_after_fen)),
        ("residential properties", f"{c.residential_properties_before} → {c.residential_properties_after}"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _member_changes(c: report_pb2.ReportChanges) -> Table:
    """A recheck's members who joined, left or stayed."""
    members = Table(title="Members 成员变化", title_justify="left", expand=True)
    for column in ("name", "identity no.", "change", "counted", "counted income ¥", "wages ¥"):
        members.add_column(column, justify="right" if "¥" in column else "left")
    for m in c.member_changes:
        members.add_row(
            m.name,
            mask(m.id_number),
            m.change,
            f"{_yes(m.counted_before)} → {_yes(m.counted_after)}",
            arrow(m.counted_annual_income_before_fen, m.counted_annual_income_after_fen),
            arrow(m.wages_before_fen, m.wages_after_fen),
        )
    return members


def _warning_changes(c: report_pb2.ReportChanges) -> Table | str:
    """A recheck's warnings that appeared or cleared, or a line saying none did."""
    if not c.warning_changes:
        return "[green]No warning appeared or cleared 预警无变化[/]"
    warnings = Table(title="Warnings 预警变化", title_justify="left", expand=True)
    for column in ("change", "code", "severity", "member", "department"):
        warnings.add_column(column)
    for w in c.warning_changes:
        style = "red" if w.change == "appeared" else "green"
        warnings.add_row(
            f"[{style}]{w.change}[/]",
            w.code,
            w.severity,
            mask(w.id_number) if w.id_number else "household",
            w.department,
        )
    return warnings


def _changes(report: report_pb2.Report) -> Group | None:
    """The change section of a recheck: previous report → this one."""
    if not report.HasField("changes"):
        return None
    c = report.changes
    return Group(_change_figures(c), _member_changes(c), _warning_changes(c))


def _header(report: report_pb2.Report) -> str:
    """The panel at the top: ids, context, classification, what is required, the recheck dates."""
    recheck = ""
    if report.next_recheck_date:
        recheck += f"next recheck 下次复核 {report.next_recheck_date}"
    if report.gradual_exit_until:
        recheck += f"{' · ' if recheck else ''}[bold]gradual exit 渐退期 until {report.gradual_exit_until}[/]"
    version = f" version {report.policy_version}" if report.policy_version else ""
    policy = report.policy
    reasons = "".join(f"\n  why: {r.message_en}" for r in report.assessment.classification_reasons)
    return (
        f"[bold]家庭经济状况核对报告 Verification report[/]  {report.report_id} v{report.version}\n"
        f"commissioned by {report.commissioned_by} · application {report.application_date} · {report.area} · "
        f"{report.purpose} · policy {policy.locality} ({policy.effective_from}){version}\n"
        f"classification (indicative): [bold]{report.assessment.classification}[/] · "
        f"hearing required: {_yes(report.hearing_required)} · "
        f"filing for review: {_yes(report.filing_for_review_required)}{escape(reasons)}\n"
        + (f"{recheck}\n" if recheck else "")
        + f"audit reference {report.audit_reference} · generated {report.generated_at}"
    )


def print_report(report: report_pb2.Report | Mapping[str, Any], console: Console) -> None:
    """Print the report (typed, or its JSON value) to ``console``."""
    typed = report if isinstance(report, report_pb2.Report) else report_from_plain(report)
    console.print(Panel(Group(_header(typed)), expand=True))
    console.print(_members(typed))
    console.print(_sources(typed))
    console.print(_figures(typed))
    console.print(_flags(typed))
    changes = _changes(typed)
    if changes is not None:
        console.print(changes)
