"""The terminal rendering reads the typed report (or its JSON value) and shows the same either way."""

from __future__ import annotations

import datetime as dt
import io

from assessment_kit import APPLICANT, example_report, member, person, request, sources
from rich.console import Console

from hedui.v1 import report_pb2
from verifier.assessment import assess
from verifier.policy import default_policy
from verifier.report.build import build_report, report_plain
from verifier.report.text import print_report


def rendered(report: report_pb2.Report | dict[str, object]) -> str:
    buffer = io.StringIO()
    print_report(report, Console(file=buffer, width=160, color_system=None, force_terminal=False))
    return buffer.getvalue()


def test_the_typed_report_and_its_json_value_print_alike() -> None:
    report = example_report()
    text = rendered(report)
    assert text == rendered(report_plain(report))
    assert "r-zhang v1" in text and "DIBAO_AFTER_DEDUCTIONS" in text
    assert "533401********0118" in text and "533401197803120118" not in text  # identity numbers masked
    # D = 1_200_000 + 300_000 + 20_000 = 1_520_000 fen (test_assessment's example household)
    assert "15,200.00" in text
    assert "[capped at 300000 fen per disabled member per year]" in text
    assert "No warning flags" in text


def test_a_recheck_prints_its_change_section() -> None:
    report = example_report()
    report.changes.previous_report_id = "r-0"
    report.changes.classification_before = "DIBAO"
    report.changes.income_by_category_before["wages"] = 120_000
    text = rendered(report)
    assert "Changes since report r-0" in text and "DIBAO → " in text
    assert "income: wages" in text and "1,200.00 → 0.00" in text  # 120_000 fen before, none after
    assert "No warning appeared or cleared" in text


def test_an_empty_household_says_why_it_is_inconclusive_and_never_prints_a_full_identity_number() -> None:
    req = request(member(APPLICANT))
    srcs = sources(persons=[person(APPLICANT, status="deceased")])  # its record id carries the identity number
    report = build_report(
        report_id="r",
        verification_id="v",
        version=1,
        generated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        request=req,
        policy=default_policy(),
        sources=srcs,
        result=assess(req, default_policy(), srcs),
        authorizations=[],
        audit_reference="",
    )
    console = Console(width=200, record=True)
    print_report(report, console)
    text = console.export_text()
    assert "INCONCLUSIVE" in text and "why: No declared member is counted" in text
    assert APPLICANT not in text
