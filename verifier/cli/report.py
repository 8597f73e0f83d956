"""``hedui report check FILE.pdf|DIGEST``: was this report issued, is it unchanged, is there a newer version?

Checked against the audit log, whose ``REPORT_CREATED`` entries carry each report's SHA-256
(docs/report.md says which bytes). Given a digest (or the text of a report's QR code), the command finds
the entry that recorded it, checks that the stored report still has that digest, and looks for a later
version of the same verification. Given a printed report as a PDF, it reads the digest the pages carry
(every page must carry the same one) and also compares the file's text layer with the stored report rendered
anew under the centre's configuration: a figure, name or date changed in the text is an edit. What is drawn
over the text (an image) is not read: the digest against the log is what is authoritative, and the command
prints the stored report's key figures so a reader compares them with the paper (docs/report.md).

Exit 0: issued, unchanged and the latest version. Exit 1: not issued, edited, or superseded (one line says
which). Exit 2: invalid input (no such file, no digest in it, no database or one without the audit log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.log import AuditLog, EntryFilter, StoredEntry
from verifier.assessment.flags import yuan
from verifier.cli._common import UsageError, add_database_options, read_only_settings, with_database
from verifier.cli.audit import _open_db as open_log_database
from verifier.cli.audit import read_sealer
from verifier.config import Settings
from verifier.operations.reports import print_context
from verifier.report.build import report_digest, report_from_plain
from verifier.report.labels_zh import CLASSIFICATION_ZH
from verifier.report.official import report_number
from verifier.report.pdf import render_report_pdf
from verifier.storage import reports as stored_reports
from verifier.storage.db import Database
from verifier.storage.sealing import install

__all__ = ["CheckOutcome", "add_report_commands", "check_report", "key_figures", "pdf_text", "printed_digests"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_PRINTED_DIGEST = re.compile(r"报告摘要（SHA-256）：([0-9a-f]{64})")
_PAGE = 500


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What the log says of one digest: the entry that recorded it, the stored report, later versions."""

    digest: str
    entry: StoredEntry | None = None
    details: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    stored_unchanged: bool = False
    latest_version: int = 0
    latest_digest: str = ""


def pdf_text(path: Path) -> str:
    """The text of a PDF, page by page (form feeds between pages), read by poppler's pdftotext."""
    tool = shutil.which("pdftotext")
    if tool is None:
        raise UsageError("reading a PDF needs pdftotext (apt-get install poppler-utils)")
    done = subprocess.run([tool, "-enc", "UTF-8", str(path), "-"], capture_output=True, timeout=120, check=False)
    if done.returncode != 0:
        raise UsageError(f"{path}: not a readable PDF")
    return done.stdout.decode("utf-8", "replace")


def printed_digests(text: str) -> list[str]:
    """The digest each page of a report's text carries (whitespace and line breaks inside it ignored)."""
    return [
        found[0] if (found := _PRINTED_DIGEST.findall(re.sub(r"\s+", "", page))) else ""
        for page in text.split("\f")
        if page.strip()
    ]


def _normalised(text: str) -> str:
    """A report's text without layout: every whitespace gone (line breaks fall differently across renderers)."""
    return re.sub(r"\s+", "", text)


async def _created(log: AuditLog, db: Database, where: EntryFilter) -> list[tuple[StoredEntry, dict[str, Any]]]:
    """Every REPORT_CREATED entry matching ``where``, with its details, in log order."""
    found: list[tuple[StoredEntry, dict[str, Any]]] = []
    after = -1
    while True:
        async with db.sessions() as session:
            page = await log.entries(session, after_index=after, limit=_PAGE, where=where)
        for entry in page:
            details = json.loads(entry.entry).get("details") or {}
            found.append((entry, details if isinstance(details, dict) else {}))
        if len(page) < _PAGE:
            return found
        after = page[-1].index


async def check_report(db: Database, digest: str) -> CheckOutcome:
    """Look ``digest`` up in the log of ``db``: the entry, the stored report, later versions."""
    log = AuditLog(b"")
    created = await _created(log, db, EntryFilter(kind="REPORT_CREATED"))
    match = next(((e, d) for e, d in created if d.get("report_sha256") == digest), None)
    if match is None:
        return CheckOutcome(digest)
    entry, details = match
    async with db.sessions() as session:
        stored = await stored_reports.body_of(session, str(details.get("report_id", "")))
    body = json.loads(stored) if stored is not None else None
    same = [d for e, d in created if e.verification == entry.verification]
    latest = max(same, key=lambda d: int(d.get("version", 0)))
    return CheckOutcome(
        digest,
        entry,
        details,
        body,
        stored_unchanged=body is not None and report_digest(body) == digest,
        latest_version=int(latest.get("version", 0)),
        latest_digest=str(latest.get("report_sha256", "")),
    )


async def _rendered_text(db: Database, settings: Settings, body: dict[str, Any]) -> str:
    """The stored report rendered anew as the service renders it, read back as text."""
    context = await print_context(db, settings.centre, body)
    pdf = await asyncio.to_thread(render_report_pdf, body, catalogue=settings.catalogue, context=context)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "genuine.pdf"
        path.write_bytes(pdf)
        return pdf_text(path)


async def _check(settings: Settings, digest: str, text: str | None) -> tuple[CheckOutcome, str | None]:
    """The log's outcome for ``digest`` and, for a file whose stored report is unchanged, the genuine text.

    The database is opened as ``hedui audit`` opens it: a missing one, or one without the audit log, is
    invalid input (exit 2, one line), never created and never a traceback."""
    db = await open_log_database(str(settings.database_url))
    try:
        install(db, await read_sealer(db, settings))  # issue 17: the stored report is sealed
        outcome = await check_report(db, digest)
        genuine = None
        if text is not None and outcome.body is not None and outcome.stored_unchanged:
            genuine = await _rendered_text(db, settings, outcome.body)
        return outcome, genuine
    finally:
        await db.close()


def key_figures(body: dict[str, Any], settings: Settings) -> list[str]:
    """The stored report's key figures, to compare with the paper: its number (under ``settings``' centre),
    the classification, the household size and the per-capita monthly income after deductions."""
    report = report_from_plain(body)
    a = report.assessment
    income = yuan(a.per_capita_monthly_income_fen)
    return [
        "as issued (compare with the paper):",
        f"  report number: {report_number(report, settings.centre)}",
        f"  classification: {CLASSIFICATION_ZH.get(a.classification, a.classification)} ({a.classification})",
        f"  household size: {a.household_size}",
        f"  per-capita monthly income after deductions: {income} yuan",
    ]


def _digest_of(args: argparse.Namespace) -> tuple[str, str | None]:
    """The digest to look up, and the PDF's text when a file was given."""
    target = str(args.target)
    path = Path(target)
    if not path.exists():
        found = _HEX64.findall(target.lower())
        if len(found) != 1:
            raise UsageError(f"{target}: neither a file nor a report digest (64 hex digits)")
        return found[0], None
    text = pdf_text(path)
    digests = printed_digests(text)
    if not digests or not all(digests):
        raise UsageError(f"{path}: not every page carries a report digest (报告摘要)")
    if len(set(digests)) != 1:
        raise UsageError(f"{path}: its pages carry different digests: pages of different reports")
    return digests[0], text


def _verdict(outcome: CheckOutcome, text: str | None, genuine: str | None) -> tuple[int, list[str]]:
    """The exit code and the lines to print."""
    if outcome.entry is None or outcome.details is None:
        return 1, [f"NOT ISSUED: no REPORT_CREATED entry records the digest {outcome.digest}"]
    d, e = outcome.details, outcome.entry
    lines = [
        f"issued: report {d.get('report_id')} version {d.get('version')} of verifications/{e.verification}, "
        f"recorded {e.recorded_at.isoformat(timespec='seconds')} at audit log index {e.index}"
    ]
    if not outcome.stored_unchanged:
        return 1, [*lines, "ALTERED: the stored report no longer has the digest its REPORT_CREATED entry recorded"]
    if text is not None and genuine is not None and _normalised(text) != _normalised(genuine):
        return 1, [
            *lines,
            "EDITED: the file's text differs from the report as issued, rendered under this [centre] configuration "
            "(one printed under another compares as edited: check with its --config, or by digest)",
        ]
    lines.append(
        "unchanged: "
        + (
            "the file's text is the report as issued (its text layer only: compare the figures below with the paper)"
            if text is not None
            else "stored report"
        )
    )
    if outcome.latest_version > int(d.get("version", 0)):
        return 1, [
            *lines,
            f"OUTDATED: version {outcome.latest_version} supersedes it (digest {outcome.latest_digest})",
        ]
    return 0, [*lines, "current: no newer version"]


def cmd_report_check(args: argparse.Namespace) -> int:
    """``hedui report check``: look the report up in the audit log, say what holds, then show its key figures."""
    digest, text = _digest_of(args)
    settings = with_database(read_only_settings(args.config), args.db)
    outcome, genuine = asyncio.run(_check(settings, digest, text))
    code, lines = _verdict(outcome, text, genuine)
    if outcome.body is not None and outcome.stored_unchanged:
        lines += key_figures(outcome.body, settings)
    for line in lines:
        print(line)
    return code


def add_report_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui report check``."""
    report = sub.add_parser("report", help="printed reports: check one against the audit log")
    commands = report.add_subparsers(dest="report_command", required=True, parser_class=parser_class)
    check = commands.add_parser("check", help="was this report issued, is it unchanged, is there a newer version?")
    check.add_argument("target", help="a report PDF, or a report digest (64 hex digits, or the QR code's text)")
    add_database_options(check)
    check.set_defaults(func=cmd_report_check)
