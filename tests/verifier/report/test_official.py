"""The official report (issue 14, item 1): each element in the printed HTML and in the PDF's text (pdftotext),
on the example household and on a household with warnings and an unavailable department.

The figures are policy.md's, by hand (tests/verifier/assessment/test_derivations.py); here: what the
paper says around them. The centre is configured as a locality would configure it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Final

import pytest
import segno
from assessment_kit import ANSWERED, APPLICANT, example_report, member, person, request, sources, tax
from harness import example_request, example_sandbox
from printed import english_words, pdf_pages, printed_html

from connectors.records import PersonRecord
from connectors.sandbox import SandboxDataset
from hedui.v1 import report_pb2
from verifier.assessment import SourceOutcome, assess
from verifier.config import CentreIdentity
from verifier.policy import default_policy
from verifier.report.build import build_report, report_digest
from verifier.report.html import render_report_html
from verifier.report.official import AuthorizationSlip, PrintContext, commissioner_zh, qr_svg, report_number
from verifier.report.pdf import render_report_pdf
from verifier.request import parse_request

CENTRE: Final = CentreIdentity(
    name="香格里拉市居民家庭经济状况核对中心",
    report_number_format="香核字〔{year}〕{serial}号",
    organisations={"533401-civil-affairs": "香格里拉市民政局"},
    locality_legal_basis={"default": ("《香格里拉市关于改革完善社会救助制度的实施方案》",)},
    seal="香格里拉市居民家庭经济状况核对中心（盖章）",
    signatures=("核对经办人", "复核人"),
)
SLIPS: Final = (
    AuthorizationSlip("authorizations/a-1", "SQ-2026-000417", "2026-10-30"),
    AuthorizationSlip("authorizations/a-2", "SQ-2026-000418", "2026-10-31"),
)
ADDRESS: Final = "云南省迪庆藏族自治州香格里拉市建塘镇金龙街 12 号"
CASE_NUMBER: Final = "香民救〔2026〕0417"
# The example's evidence texts, as the case system wrote them (data, printed as given).
GIVEN: Final = ("receipt 2026-HX-0042 (hospital settlement, after insurance)", "receipt 2026-KF-0007")


def _request(**changes: Any) -> dict[str, Any]:
    return {**example_request(), "household_address": ADDRESS, "case_number": CASE_NUMBER, **changes}


def _sources(statuses: dict[str, str]) -> dict[str, SourceOutcome]:
    """The example sandbox's answers for the example members; a department in ``statuses`` did not answer."""
    req = parse_request(example_request(), today=dt.date(2026, 12, 31))
    dataset = SandboxDataset.from_json(example_sandbox())
    wanted = {m.id_number for m in req.members}
    out: dict[str, SourceOutcome] = {}
    for department in ("police", "housing", "tax", "vehicles", "banks", "social_security"):
        status = statuses.get(department, "ok")
        records = tuple(
            r
            for r in dataset.records.get(department, ())
            if (r.hukou_id == "H-533401-0001" if isinstance(r, PersonRecord) else r.subject in wanted)
        )
        if status != "ok":
            out[department] = SourceOutcome(department, status, (), f"{department} {status}")
        else:
            out[department] = SourceOutcome(department, "ok", records, answered_at=ANSWERED)
    return out


def _report(request: dict[str, Any], statuses: dict[str, str] | None = None) -> report_pb2.Report:
    req = parse_request(request, today=dt.date(2026, 12, 31))
    srcs = _sources(statuses or {})
    return build_report(
        report_id="r-zhang",
        verification_id="v-zhang",
        version=1,
        generated_at=dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC),  # 10:00 in Beijing
        request=req,
        policy=default_policy(),
        sources=srcs,
        result=assess(req, default_policy(), srcs),
        authorizations=["authorizations/a-1", "authorizations/a-2"],
        audit_reference="hedui-audit REPORT_CREATED r-zhang",
    )


def example() -> report_pb2.Report:
    return _report(_request())


def troubled() -> report_pb2.Report:
    """Warnings (the applicant declared 0 but earned more; the vehicles department is down): INCONCLUSIVE."""
    request = _request()
    request["members"] = [{**request["members"][0], "declared_annual_income_fen": 0}, *request["members"][1:]]
    return _report(request, {"vehicles": "unavailable"})


CONTEXT: Final = PrintContext(CENTRE, SLIPS)


def _elements(report: report_pb2.Report) -> list[str]:
    """Item 1's elements as the paper must show them, by hand."""
    return [
        "香格里拉市居民家庭经济状况核对中心",  # the centre
        "香格里拉市民政局",  # 委托单位 by its name
        "《社会救助暂行办法》",
        "《最低生活保障审核确认办法》",
        "《香格里拉市关于改革完善社会救助制度的实施方案》",  # the locality's own rules
        report_number(report, CENTRE),  # 文号
        "香格里拉市居民家庭经济状况核对中心（盖章）",
        "核对经办人（签字）",
        "复核人（签字）",
        ADDRESS,
        CASE_NUMBER,
        "2026-11-01 10:00:00（北京时间）",  # generated 02:00 UTC
        "表单编号 SQ-2026-000417，签署日期 2026-10-30",
        "表单编号 SQ-2026-000418，签署日期 2026-10-31",
        "数据截止日期",
        stored_digest_of(report),
    ]


def stored_digest_of(report: report_pb2.Report) -> str:
    return report_digest(report)


def _codes(report: report_pb2.Report) -> tuple[str, ...]:
    """Texts that may be printed as they are: the case system's evidence, and the identifiers of the small
    machine-readable footer (the test's report and verification ids, the audit reference)."""
    return (*GIVEN, report.audit_reference, report.report_id, report.verification_id)


def test_the_report_number_is_the_configured_format_with_the_cst_year_and_a_stable_serial() -> None:
    number = report_number(example(), CENTRE)
    assert re.fullmatch(r"香核字〔2026〕\d{10}号", number)
    assert number == report_number(example(), CENTRE)
    late = example()
    late.generated_at = "2026-12-31T16:30:00Z"  # 2027-01-01 00:30 in Beijing
    assert report_number(late, CENTRE).startswith("香核字〔2027〕")


def test_an_organisation_without_a_configured_name_is_named_by_its_area_and_kind() -> None:
    assert commissioner_zh("533401-civil-affairs", CentreIdentity()) == "行政区划代码 533401 民政部门"
    assert commissioner_zh("533401-civil-affairs", CENTRE) == "香格里拉市民政局"


@pytest.mark.parametrize("make", [example, troubled], ids=["example", "warnings-and-unavailable"])
def test_each_element_is_in_the_printed_html(make: Any) -> None:
    report = make()
    html = render_report_html(report, context=CONTEXT)
    shown = printed_html(html)
    for element in _elements(report):
        assert element in shown, element
    assert "UTC" not in shown
    assert english_words(shown, _codes(report)) == []
    assert qr_svg(report_digest(report)) in html  # the QR code carries the digest
    # The codes are in the machine-readable footer.
    assert f"class={report.assessment.classification} by=533401-civil-affairs" in shown


def test_the_sources_show_their_cut_off_dates_and_an_unavailable_one_none() -> None:
    shown = printed_html(render_report_html(troubled(), context=CONTEXT))
    sources = shown[shown.index("三、数据来源") : shown.index("四、收入记录")]
    assert sources.count("2026-11-01 09:59:30（北京时间） 2026-11-01") == 5  # answered 01:59:30 UTC
    assert "车辆管理部门 无法查询 0 — —" in sources  # no answer: no cut-off date


@pytest.mark.parametrize("make", [example, troubled], ids=["example", "warnings-and-unavailable"])
def test_each_element_is_in_the_pdf_text_and_the_digest_on_every_page(make: Any, tmp_path: Path) -> None:
    report = make()
    pages = pdf_pages(render_report_pdf(report, context=CONTEXT), tmp_path)
    text = "\n".join(pages)
    flat = re.sub(r"\s+", "", text)
    for element in _elements(report):
        assert re.sub(r"\s+", "", element) in flat, element
    assert "UTC" not in text
    assert english_words(text, _codes(report)) == []
    digest = report_digest(report)
    for page in pages:  # every page: the header with the report number, the footer with the digest
        compact = re.sub(r"\s+", "", page)
        assert f"报告摘要（SHA-256）：{digest}" in compact
        assert report_number(report, CENTRE) in compact
        assert re.search(r"第\d+页/共\d+页", compact)
    assert 2 <= len(pages) <= 5


def test_no_page_is_near_empty(tmp_path: Path) -> None:
    for report in (example(), troubled()):
        pages = pdf_pages(render_report_pdf(report, context=CONTEXT), tmp_path)
        for page in pages:
            lines = [line for line in page.splitlines() if line.strip()]
            assert len(lines) >= 25, lines  # header and footer alone are about 6 lines


def test_the_qr_code_is_segno_s_code_of_the_digest_or_the_configured_url() -> None:
    digest = "ab" * 32
    assert qr_svg(digest).startswith("<svg")
    assert "://" not in qr_svg(digest)  # inline SVG, no namespace URL: the document stays self-contained
    matrix = segno.make(digest, error="m")
    assert matrix.version == segno.make("cd" * 32, error="m").version
    with_url = CentreIdentity(check_url="https://hedui.example.gov.cn/check/{sha256}")
    html = render_report_html(example_report(), context=PrintContext(with_url))
    assert qr_svg(f"https://hedui.example.gov.cn/check/{report_digest(example_report())}") in html


def test_the_employment_cost_formula_prints_in_chinese() -> None:
    req = request(member(APPLICANT, category="veteran"))
    srcs = sources({"tax": [tax(APPLICANT, "2026-03", 100_000), tax(APPLICANT, "2026-04", 100_000)]})
    srcs["police"] = SourceOutcome("police", "ok", (person(APPLICANT),), answered_at=ANSWERED)
    report = build_report(
        report_id="r-vet",
        verification_id="v-vet",
        version=1,
        generated_at=ANSWERED,
        request=req,
        policy=default_policy(),
        sources=srcs,
        result=assess(req, default_policy(), srcs),
        authorizations=[],
        audit_reference="",
    )
    html = render_report_html(report, context=CONTEXT)
    shown = printed_html(html)
    # 0.30 × S × months with wages = 3/10 × 85 000 × 2 = 51 000 fen (policy.md "Deductions").
    assert "3/10 × 低保标准 850.00 元 × 2 个月" in shown and "510.00" in shown
    assert "退役军人，核对期内有工资收入 2 个月" in shown
    assert "standard" not in shown and "month(s)" not in shown
