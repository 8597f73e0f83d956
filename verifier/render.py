"""The report as a readable table in the terminal (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from consent.identity import mask
from verifier.assessment import INCOME_CATEGORIES
from verifier.flags import yuan

__all__ = ["print_report", "yuan"]

SEVERITY_STYLE = {"HIGH": "bold red", "MEDIUM": "yellow", "LOW": "cyan"}
STATUS_STYLE = {"ok": "green", "unavailable": "bold red", "pending": "yellow", "not_queried": "magenta"}


def _members(report: dict[str, Any]) -> Table:
    table = Table(title="Members 家庭成员", title_justify="left", expand=True)
    for column in ("name", "identity no.", "relation", "status", "counted", "declared ¥", "verified ¥", "counted ¥"):
        table.add_column(column, justify="right" if "¥" in column else "left")
    for m in report["members"]:
        table.add_row(
            m["name"],
            mask(m["id_number"]),
            m["relation"],
            m["status"],
            "yes" if m["counted_in_household"] else "no",
            yuan(m["declared_annual_income_fen"]),
            yuan(m["verified_annual_income_fen"]),
            yuan(m["counted_annual_income_fen"]),
        )
    return table


def _sources(report: dict[str, Any]) -> Table:
    table = Table(title="Sources 数据来源", title_justify="left", expand=True)
    for column in ("department", "status", "records", "answered at", "detail"):
        table.add_column(column)
    for s in report["sources"]:
        style = STATUS_STYLE.get(s["status"], "")
        detail = s["detail"]
        if s["not_queried"]:
            detail = (detail + "; " if detail else "") + "not queried: " + ", ".join(mask(n) for n in s["not_queried"])
        table.add_row(
            s["department"], f"[{style}]{s['status']}[/]", str(s["records"]), s["answered_at"] or "", escape(detail)
        )
    return table


def _figures(report: dict[str, Any]) -> Table:
    a = report["assessment"]
    table = Table(
        title=f"Assessment 核算 (window {a['window_start']} – {a['window_end']})", title_justify="left", expand=True
    )
    table.add_column("figure")
    table.add_column("¥", justify="right")
    rows = [("household size n", str(a["household_size"]))]
    rows += [(f"income: {k}", yuan(v)) for k, v in a["income_by_category"].items() if v]
    rows += [
        ("annual household income I", yuan(a["annual_income_fen"])),
        *[
            (
                f"deduction: {d['kind']} ({mask(d['id_number'])})",
                yuan(d["allowed_fen"]) + (escape(f"  [{d['note']}]") if d["note"] else ""),
            )
            for d in a["deductions"]
        ],
        ("deductions D", yuan(a["deductions_fen"])),
        ("per capita monthly, before deductions  I/12/n", yuan(a["per_capita_monthly_income_before_fen"])),
        ("per capita monthly  (I−D)/12/n", yuan(a["per_capita_monthly_income_fen"])),
        ("dibao standard S", yuan(a["standard_fen"])),
        ("financial assets (limit)", f"{yuan(a['financial_assets_fen'])} ({yuan(a['financial_assets_limit_fen'])})"),
        ("residential properties", str(a["residential_properties"])),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _flags(report: dict[str, Any]) -> Table | str:
    if not report["flags"]:
        return "[green]No warning flags 无预警信息[/]"
    table = Table(title="Warning flags 预警信息", title_justify="left", expand=True)
    for column in ("code", "severity", "member", "department", "evidence", "message"):
        table.add_column(column)
    for f in report["flags"]:
        evidence = ", ".join(f"{e['record_id'] or e['field']}={e['value']}" for e in f["evidence"])
        table.add_row(
            f["code"],
            f"[{SEVERITY_STYLE.get(f['severity'], '')}]{f['severity']}[/]",
            mask(f["id_number"]) if f["id_number"] else "household",
            f["department"],
            escape(evidence),
            escape(f"{f['message_zh']}\n{f['message_en']}"),
        )
    return table


def _arrow(before: int, after: int) -> str:
    return f"{yuan(before)} → {yuan(after)}"


def _changes(report: dict[str, Any]) -> Group | None:
    """The change section of a recheck: previous report → this one."""
    c = report.get("changes")
    if not c:
        return None
    table = Table(
        title=(
            f"Changes since report {c['previous_report_id']} 复核变化 "
            f"(v{c['previous_version']}, application {c['previous_application_date']})"
        ),
        title_justify="left",
        expand=True,
    )
    table.add_column("figure")
    table.add_column("before → after", justify="right")
    before, after = c["income_by_category_before"], c["income_by_category_after"]
    rows = [
        ("classification", f"{c['classification_before']} → {c['classification_after']}"),
        ("household size n", f"{c['household_size_before']} → {c['household_size_after']}"),
        *[
            (f"income: {k}", _arrow(before.get(k, 0), after.get(k, 0)))
            for k in dict.fromkeys([*(c for c in INCOME_CATEGORIES if c in before or c in after), *before, *after])
            if before.get(k, 0) or after.get(k, 0)
        ],
        ("annual household income I", _arrow(c["annual_income_before_fen"], c["annual_income_after_fen"])),
        ("deductions D", _arrow(c["deductions_before_fen"], c["deductions_after_fen"])),
        (
            "per capita monthly  (I−D)/12/n",
            _arrow(c["per_capita_monthly_income_before_fen"], c["per_capita_monthly_income_after_fen"]),
        ),
        ("financial assets", _arrow(c["financial_assets_before_fen"], c["financial_assets_after_fen"])),
        ("residential properties", f"{c['residential_properties_before']} → {c['residential_properties_after']}"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    members = Table(title="Members 成员变化", title_justify="left", expand=True)
    for column in ("name", "identity no.", "change", "counted", "counted income ¥", "wages ¥"):
        members.add_column(column, justify="right" if "¥" in column else "left")
    for m in c["member_changes"]:
        members.add_row(
            m["name"],
            mask(m["id_number"]),
            m["change"],
            f"{'yes' if m['counted_before'] else 'no'} → {'yes' if m['counted_after'] else 'no'}",
            _arrow(m["counted_annual_income_before_fen"], m["counted_annual_income_after_fen"]),
            _arrow(m["wages_before_fen"], m["wages_after_fen"]),
        )
    warnings = Table(title="Warnings 预警变化", title_justify="left", expand=True)
    for column in ("change", "code", "severity", "member", "department"):
        warnings.add_column(column)
    for w in c["warning_changes"]:
        style = "red" if w["change"] == "appeared" else "green"
        warnings.add_row(
            f"[{style}]{w['change']}[/]",
            w["code"],
            w["severity"],
            mask(w["id_number"]) if w["id_number"] else "household",
            w["department"],
        )
    parts: list[Any] = [table, members]
    parts.append(warnings if c["warning_changes"] else "[green]No warning appeared or cleared 预警无变化[/]")
    return Group(*parts)


def print_report(report: dict[str, Any], console: Console) -> None:
    a = report["assessment"]
    recheck = ""
    if report.get("next_recheck_date"):
        recheck += f"next recheck 下次复核 {report['next_recheck_date']}"
    if report.get("gradual_exit_until"):
        recheck += f"{' · ' if recheck else ''}[bold]gradual exit 渐退期 until {report['gradual_exit_until']}[/]"
    version = f" version {report['policy_version']}" if report.get("policy_version") else ""
    header = (
        f"[bold]家庭经济状况核对报告 Verification report[/]  {report['report_id']} v{report['version']}\n"
        f"commissioned by {report['commissioned_by']} · application {report['application_date']} · {report['area']} · "
        f"{report['purpose']} · policy {report['policy']['locality']} ({report['policy']['effective_from']}){version}\n"
        f"classification (indicative): [bold]{a['classification']}[/] · "
        f"hearing required: {'yes' if report['hearing_required'] else 'no'} · "
        f"filing for review: {'yes' if report['filing_for_review_required'] else 'no'}\n"
        + (f"{recheck}\n" if recheck else "")
        + f"audit reference {report['audit_reference']} · generated {report['generated_at']}"
    )
    console.print(Panel(Group(header), expand=True))
    console.print(_members(report))
    console.print(_sources(report))
    console.print(_figures(report))
    console.print(_flags(report))
    changes = _changes(report)
    if changes is not None:
        console.print(changes)
