"""``hedui departments status``: each department's health as the running service judges it.

The service keeps the last 30 minutes of its calls to each department (connectors/health.py: Sahamati's rule)
and exposes them on its metrics endpoint; this command reads that endpoint (``--metrics URL``, else the
configured ``metrics_listen``) and prints one line per declared department: GOOD, BAD or UNKNOWN, the calls of
the window, the share that succeeded and the median latency's bucket. Exit 0; exit 2 and one line when the
endpoint cannot be read.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

from verifier.cli._common import UsageError, console, read_only_settings

__all__ = ["DepartmentStatus", "add_departments_commands", "read_statuses"]


@dataclass(frozen=True, slots=True)
class DepartmentStatus:
    """One department's line: its status and the window's figures (``None`` without calls)."""

    department: str
    status: str
    calls: int
    success_ratio: float | None
    median_at_most_seconds: float | None


def _scrape(url: str) -> str:
    """The metrics page at ``url``; unreachable is invalid input naming it."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            body: bytes = answer.read()
            return body.decode("utf-8")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"--metrics {url}: cannot read it ({reason})") from None


def read_statuses(page: str, departments: list[str]) -> list[DepartmentStatus]:
    """Each of ``departments`` (and any other the page names) as the metrics page gives it."""
    status: dict[str, str] = {}
    figures: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            department = sample.labels.get("department", "")
            if sample.name == "hedui_department_health" and sample.value == 1:
                status[department] = sample.labels["status"]
            elif sample.name.startswith("hedui_department_window_"):
                figures.setdefault(department, {})[sample.name.removeprefix("hedui_department_window_")] = sample.value
    names = [*departments, *sorted(set(status) - set(departments))]
    return [
        DepartmentStatus(
            name,
            status.get(name, "UNKNOWN"),
            int(figures.get(name, {}).get("calls", 0)),
            figures.get(name, {}).get("success_ratio"),
            figures.get(name, {}).get("median_seconds"),
        )
        for name in names
    ]


def _url(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The metrics URL and the declared departments."""
    settings = read_only_settings(args.config)
    url = args.metrics
    if not url:
        if not settings.metrics_listen:
            raise UsageError("give --metrics URL: the configuration sets no metrics_listen")
        url = f"http://{settings.metrics_listen}/metrics"
    return url, list(settings.catalogue)


def _shown(value: float | None, unit: str) -> str:
    """A figure for the table ("–" when there is none)."""
    if value is None:
        return "–"
    return f"{value:.1%}" if unit == "%" else f"≤ {value:g} s"


def cmd_status(args: argparse.Namespace) -> int:
    """``hedui departments status``: one line per department."""
    url, departments = _url(args)
    statuses = read_statuses(_scrape(url), departments)
    if args.format == "json":
        for status in statuses:
            print(json.dumps(asdict(status), ensure_ascii=False))
        return 0
    table = Table(title="departments over the last 30 minutes (GOOD: >95% succeed and median < 5 s)")
    for column in ("department", "status", "calls", "succeeded", "median"):
        table.add_column(column)
    for s in statuses:
        colour = {"GOOD": "green", "BAD": "red"}.get(s.status, "yellow")
        median = _shown(s.median_at_most_seconds, "s")
        table.add_row(s.department, f"[{colour}]{s.status}[/]", str(s.calls), _shown(s.success_ratio, "%"), median)
    console().print(table)
    return 0


def add_departments_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui departments ...``."""
    departments = sub.add_parser("departments", help="the departments as the running service sees them")
    commands = departments.add_subparsers(dest="departments_command", required=True, parser_class=parser_class)
    status = commands.add_parser("status", help="each department's health (Sahamati's rule, last 30 minutes)")
    status.add_argument("--config", type=Path, help="TOML config: its departments and metrics_listen")
    status.add_argument("--metrics", help="the service's metrics URL (default: http://METRICS_LISTEN/metrics)")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.set_defaults(func=cmd_status)
