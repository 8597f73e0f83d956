"""The printable document from the typed report: notes from their codes, departments by their declared names."""

from __future__ import annotations

import re

from assessment_kit import ANSWERED, APPLICANT, MARKET_REGULATION, enterprise, example_report, member, request, sources

from hedui.v1 import report_pb2
from verifier.assessment import assess
from verifier.policy import default_policy
from verifier.report.build import build_report, report_plain
from verifier.report.html import render_report_html
from verifier.report.html_computation import note_zh


def section(html: str, name: str) -> str:
    """The text of ``<section id="name">``."""
    start = html.index(f'<section id="{name}"')
    return html[start : html.index("</section>", start)]


def market_regulation_report() -> report_pb2.Report:
    """The applicant alone, registered with an enterprise by market regulation (a configured department)."""
    req = request(member(APPLICANT))
    srcs = sources({"market_regulation": [enterprise(APPLICANT)]})
    result = assess(req, default_policy(), srcs, catalogue=MARKET_REGULATION)
    return build_report(
        report_id="r-mr",
        verification_id="v-mr",
        version=1,
        generated_at=ANSWERED,
        request=req,
        policy=default_policy(),
        sources=srcs,
        result=result,
        authorizations=["authorizations/a-1"],
        audit_reference="",
    )


def test_a_configured_department_renders_by_its_declared_name() -> None:
    html = render_report_html(market_regulation_report(), catalogue=MARKET_REGULATION)
    flags = section(html, "flags")
    assert 'data-code="BUSINESS_REGISTERED"' in flags
    assert "市场监督管理部门" in flags and "market_regulation" not in flags
    assert "市场监督管理部门" in section(html, "sources")
    assets = section(html, "assets")
    assert "市场监督管理部门" in assets and "企业：某某商贸有限公司（法定代表人）" in assets


def test_without_its_declaration_the_department_shows_by_its_id() -> None:
    html = render_report_html(market_regulation_report())
    assert "市场监督管理部门" not in html and "market_regulation" in section(html, "flags")


def test_the_typed_report_and_its_json_value_render_alike() -> None:
    report = example_report()
    assert render_report_html(report) == render_report_html(report_plain(report))


def test_deduction_notes_are_shown_from_their_codes() -> None:
    computation = section(render_report_html(example_report()), "computation")
    assert "按每名残疾成员每年 3,000.00 元上限核定" in computation  # rehabilitation capped at 300_000 fen
    assert "按社保记录中的个人缴费部分核定" in computation
    assert "capped at" not in computation


def test_note_zh_of_a_report_made_before_notes_carried_codes() -> None:
    """Old reports carry the English text alone: its code is read back from it."""

    def old(note: str) -> report_pb2.Deduction:
        return report_pb2.Deduction(note=note)

    assert note_zh(old("member not counted in the household")) == "该成员不计入家庭人口，不予扣减"
    assert note_zh(old("3/10 × standard 85000 × 2 months")) == "3/10 × standard 85000 × 2 months"
    assert note_zh(old(f"checked by hand for {APPLICANT}")) == "checked by hand for 533401********0118"


def test_note_zh_is_the_text_the_report_carries_with_its_code() -> None:
    """A report's note carries its code and Chinese text: the document shows that, parsing nothing."""
    deduction = report_pb2.Deduction(note="anything", note_code="not_counted", note_zh="该成员不计入家庭人口，不予扣减")
    assert note_zh(deduction) == "该成员不计入家庭人口，不予扣减"


def test_severity_order_and_counts() -> None:
    report = market_regulation_report()
    html = render_report_html(report, catalogue=MARKET_REGULATION)
    assert re.findall(r'data-code="([A-Z_]+)"', section(html, "flags")) == ["BUSINESS_REGISTERED"]
    assert "高 1" in section(html, "overview")  # one HIGH warning
