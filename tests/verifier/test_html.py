"""The printable report: what it says (hand-computed figures, masked identity numbers, escaping) and how a
browser shows and prints it (headless Chromium)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from harness import EXAMPLES, UNDER_CI, Harness, example_request, example_sandbox

from hedui.v1 import verification_pb2
from verifier.protojson import message_to_plain
from verifier.report.build import report_from_plain
from verifier.report.html import render_report_html

APPLICANT = "533401197803120118"
SPOUSE = "53340119800605022X"
CHILD = "533401200809110310"
FULL_IDS = (APPLICANT, SPOUSE, CHILD)
MASKED_IDS = ("533401********0118", "533401********022X", "533401********0310")
HEADINGS = (
    "家庭经济状况核对报告",
    "一、核对概况",
    "二、家庭成员",
    "三、数据来源",
    "四、收入记录",
    "五、财产记录",
    "六、核算过程",
    "七、预警信息",
)
HEDUI = [sys.executable, "-m", "verifier.cli"]


def section(html: str, name: str) -> str:
    """The text of ``<section id="name">`` (sections do not nest)."""
    start = html.index(f'<section id="{name}"')
    return html[start : html.index("</section>", start)]


def assert_self_contained(html: str) -> None:
    for outside in ("://", "<script", "<link", " src=", "@import", "url("):
        assert outside not in html, outside


# --- the example household through `hedui verify --format html` -------------------------------------


@pytest.fixture(scope="module")
def example_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`hedui verify --format html` on the spec's example household, as a user runs it."""
    tmp = tmp_path_factory.mktemp("html")
    request, sandbox = EXAMPLES / "household-zhang.json", EXAMPLES / "sandbox-small.json"
    if not request.exists():
        request, sandbox = tmp / "req.json", tmp / "sb.json"
        request.write_text(json.dumps(example_request(), ensure_ascii=False), encoding="utf-8")
        sandbox.write_text(json.dumps(example_sandbox(), ensure_ascii=False), encoding="utf-8")
    done = subprocess.run(
        [*HEDUI, "verify", str(request), "--sandbox", str(sandbox), "--format", "html"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.integration
def test_verify_format_html_shows_the_hand_computed_report(example_html: str) -> None:
    html = example_html
    assert html.startswith("<!DOCTYPE html>")
    for heading in HEADINGS:
        assert heading in html
    overview = section(html, "overview")
    for words in ("533401-civil-affairs", "authorizations/", "default（2026-01-01 起施行）", "2026-11-01", "城市"):
        assert words in overview
    assert "扣减刚性支出后符合低保收入条件（支出型）" in overview
    assert "DIBAO_AFTER_DEDUCTIONS" in overview
    members = section(html, "members")
    for name, masked in zip(("张建国", "李秀英", "张小明"), MASKED_IDS, strict=True):
        assert name in members and masked in members
    assert "36,000.00" in members  # the applicant's declared (and counted) income
    sources = section(html, "sources")
    assert sources.count("已反馈") == 6
    income = section(html, "income")
    assert "TX-2026-01" in income and "TX-2026-02" in income and "1,500.00" in income
    assets = section(html, "assets")
    assert "BK-0001" in assets and "12,500.00" in assets and "320,000.00" in assets
    # policy.md by hand (test_api.test_example_household_end_to_end has the working): window 2025-11..2026-10,
    # I = 3 600 000 fen (wages 300 000 + declared but unverified 3 300 000), D = 1 200 000 + min(450 000,
    # 300 000) + 20 000 = 1 520 000, before = 3 600 000 / 12 / 3 = 100 000, after = 2 080 000 / 36 → 57 778,
    # S = 85 000, marginal 127 500, financial assets 1 250 000 against 6 120 000.
    computation = section(html, "computation")
    for figure in (
        "3,000.00",
        "33,000.00",
        "36,000.00",
        "12,000.00",
        "4,500.00",
        "200.00",
        "15,200.00",
        "I ÷ 12 ÷ n = 36,000.00 ÷ 12 ÷ 3",
        "1,000.00",
        "(36,000.00 − 15,200.00) ÷ 12 ÷ 3",
        "577.78",
        "850.00",
        "1,275.00",
        "12,500.00",
        "61,200.00",
        "2025-11 至 2026-10",
        "按每名残疾成员每年 3,000.00 元上限核定",
    ):
        assert figure in computation, figure
    assert "1,000.00 ≥ 低保标准 850.00" in computation
    assert "577.78 &lt; 低保标准 850.00" in computation
    assert "无预警信息" in section(html, "flags")
    footer = html[html.index('<footer class="audit"') :]
    assert re.search(r"报告编号</th><td class=\"code\">[0-9a-f]{32}</td>", footer)
    assert "第 1 版" in footer and "审计记录" in footer
    for number in FULL_IDS:
        assert number not in html
    assert_self_contained(html)


@pytest.mark.integration
async def test_get_report_html_view_is_the_rendered_report(harness: Harness) -> None:
    v = await harness.run(example_request())
    name = f"{v.name}/reports/latest"
    structured = await harness.verifications.GetReport(
        verification_pb2.GetReportRequest(name=name), metadata=harness.metadata
    )
    assert not structured.HasField("html")
    with_html = await harness.verifications.GetReport(
        verification_pb2.GetReportRequest(name=name, view=verification_pb2.HTML), metadata=harness.metadata
    )
    report = message_to_plain(structured)
    assert with_html.html == render_report_html(report)
    assert with_html.report_id == structured.report_id  # the structured fields come along
    assert report["report_id"] in with_html.html and report["verification_id"] in with_html.html
    assert report["audit_reference"] in section_footer(with_html.html)
    assert "577.78" in with_html.html
    for number in FULL_IDS:
        assert number not in with_html.html


def section_footer(html: str) -> str:
    return html[html.index('<footer class="audit"') :]


# --- rendering a report built by hand (no service) ---------------------------------------------------

EVIL = '<script>alert("x")</script>'


def hand_made_report(**changes: Any) -> dict[str, Any]:
    """A recheck report with warnings, an unavailable source and a member named like a script."""
    plain: dict[str, Any] = {
        "name": "verifications/v-1/reports/2",
        "report_id": "r-0002",
        "verification_id": "v-1",
        "version": 2,
        "generated_at": "2026-11-23T08:00:00Z",
        "policy": {"locality": "533401", "effective_from": "2026-03-01"},
        "members": [
            {
                "id_number": APPLICANT,
                "name": EVIL,
                "relation": "applicant",
                "status": "active",
                "counted_in_household": True,
                "verified_annual_income_fen": 1_234_567,
                "counted_annual_income_fen": 1_234_567,
                "income_by_category": {"wages": 1_234_567},
                "records": [
                    {
                        "department": "police",
                        "person": {
                            "record_id": f"H-9:{APPLICANT}",
                            "id_number": APPLICANT,
                            "name": "王五",
                            "hukou_id": "H-9",
                            "relation_to_head": "head",
                            "status": "active",
                        },
                    },
                    {
                        "department": "tax",
                        "tax_income": {
                            "record_id": "TX-9",
                            "id_number": APPLICANT,
                            "period": "2026-05",
                            "category": "wages",
                            "amount_fen": 1_234_567,
                        },
                    },
                    {
                        "department": "vehicles",
                        "vehicle": {
                            "record_id": "VH-9",
                            "owner_id": APPLICANT,
                            "plate": "云A·12345",
                            "type": "car",
                            "use": "private",
                            "value_fen": 9_000_000,
                        },
                    },
                ],
            },
            {
                "id_number": CHILD,
                "name": "王小",
                "relation": "child",
                "status": "unknown",
                "counted_in_household": True,
            },
        ],
        "sources": [
            {"department": "police", "status": "ok", "records": 1, "answered_at": "2026-11-23T07:59:59Z"},
            {
                "department": "banks",
                "status": "unavailable",
                "detail": f"answer rejected: record B-1:{APPLICANT} is about someone not asked about",
                "not_queried": [CHILD],
            },
        ],
        "assessment": {
            "classification": "INCONCLUSIVE",
            "household_size": 2,
            "annual_income_fen": 1_234_567,
            "income_by_category": {"wages": 1_234_567, "pensions": 0},
            "deductions_fen": 300_000,
            "per_capita_monthly_income_before_fen": 51_440,
            "per_capita_monthly_income_fen": 38_940,
            "standard_fen": 65_000,
            "marginal_standard_fen": 97_500,
            "financial_assets_limit_fen": 3_120_000,
            "window_start": "2025-11",
            "window_end": "2026-10",
            "deductions": [
                {
                    "id_number": APPLICANT,
                    "kind": "rehabilitation",
                    "declared_fen": 500_000,
                    "allowed_fen": 300_000,
                    "evidence": f"receipt for {APPLICANT}",
                    "note": "capped at 300000 fen per disabled member per year",
                }
            ],
        },
        "flags": [
            {
                "code": "VEHICLE_OWNED",
                "severity": "MEDIUM",
                "id_number": APPLICANT,
                "department": "vehicles",
                "evidence": [
                    {"department": "vehicles", "record_id": "VH-9", "field": "type", "value": "car"},
                    {"department": "vehicles", "record_id": "VH-9", "field": "value_fen", "value": "9000000"},
                ],
                "message_zh": "该成员拥有非豁免车辆（云A·12345，car）。",
                "message_en": "The member owns a non-exempt vehicle (云A·12345, car).",
            },
            {
                "code": "IDENTITY_MISMATCH",
                "severity": "HIGH",
                "id_number": APPLICANT,
                "department": "police",
                "evidence": [
                    {"department": "police", "record_id": f"H-9:{APPLICANT}", "field": "name", "value": "王五"}
                ],
                "message_zh": f"申报的姓名 {EVIL} 与户籍登记不符。",
                "message_en": "The declared identity does not match the household register.",
            },
            {
                "code": "SOURCE_UNAVAILABLE",
                "severity": "HIGH",
                "department": "banks",
                "evidence": [{"department": "banks", "field": "detail", "value": f"record B-1:{APPLICANT}"}],
                "message_zh": "银行等金融机构无法查询，报告不完整。",
                "message_en": "The banks department could not be queried; the report is incomplete.",
            },
        ],
        "hearing_required": True,
        "application_date": "2026-11-01",
        "area": "rural",
        "purpose": "RECHECK",
        "commissioned_by": "533401-civil-affairs",
        "authorizations": ["authorizations/a-1", "authorizations/a-2"],
        "previous_version": "verifications/v-1/reports/1",
        "previous_report_id": "r-0001",
        "next_recheck_date": "2027-05-01",
        "audit_reference": "audit-entries/99",
        "changes": {
            "previous_report_id": "r-0001",
            "income_by_category_before": {"wages": 600_000},
            "income_by_category_after": {"wages": 1_234_567},
            "financial_assets_before_fen": 10_000,
            "financial_assets_after_fen": 0,
            "warnings_appeared": ["VEHICLE_OWNED"],
            "classification_before": "DIBAO",
        },
    }
    plain.update(changes)
    return message_to_plain(report_from_plain(plain))  # the shape GetReport gives


def test_names_and_messages_are_html_escaped() -> None:
    html = render_report_html(hand_made_report())
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in section(html, "members")
    assert "申报的姓名 &lt;script&gt;" in section(html, "flags")


def test_no_full_identity_number_anywhere() -> None:
    html = render_report_html(hand_made_report())
    for number in FULL_IDS:
        assert number not in html
    flags = section(html, "flags")
    assert "H-9:533401********0118" in flags  # a record id carrying an identity number
    assert "B-1:533401********0118" in flags  # and free text
    assert "B-1:533401********0118" in section(html, "sources")
    assert "533401********0310" in section(html, "sources")  # not queried for lack of consent
    assert "receipt for 533401********0118" in section(html, "computation")


def test_warnings_show_evidence_and_messages_highest_severity_first() -> None:
    html = render_report_html(hand_made_report())
    flags = section(html, "flags")
    codes = re.findall(r'data-code="([A-Z_]+)"', flags)
    assert codes == ["IDENTITY_MISMATCH", "SOURCE_UNAVAILABLE", "VEHICLE_OWNED"]
    assert "VH-9" in flags and "90,000.00 元（9000000 分）" in flags and "小型汽车（car）" in flags
    assert "该成员拥有非豁免车辆" in flags and "The member owns a non-exempt vehicle" in flags
    assert "全户" in flags  # SOURCE_UNAVAILABLE concerns the household
    overview = section(html, "overview")
    assert "无法得出结论" in overview and "高 2" in overview and "中 1" in overview
    assert "authorizations/a-1" in overview and "authorizations/a-2" in overview
    assert "定期复核" in overview and "农村" in overview and "533401（2026-03-01 起施行）" in overview
    assert "2027-05-01" in overview
    changes = section(html, "changes")
    assert "6,000.00 → 12,345.67" in changes and "VEHICLE_OWNED" in changes


def test_money_is_yuan_by_integer_arithmetic() -> None:
    html = render_report_html(hand_made_report())
    computation = section(html, "computation")
    assert "12,345.67" in computation  # 1 234 567 fen
    assert "(12,345.67 − 3,000.00) ÷ 12 ÷ 2" in computation
    assert "389.40" in computation and "514.40" in computation
    assert "已按上限核减" in computation and "3,000.00 元上限" in computation
    assert "养老金" not in re.sub(r'<p class="note">.*?</p>', "", computation)  # zero categories: one note line
    assert "12,345.67" in section(html, "income")


def test_audit_reference_defaults_to_the_report_and_can_be_given() -> None:
    assert "audit-entries/99" in section_footer(render_report_html(hand_made_report()))
    assert "r-0002/v2" in section_footer(render_report_html(hand_made_report(audit_reference="")))
    given = render_report_html(hand_made_report(), audit_reference="log 7, index 1234")
    assert "log 7, index 1234" in section_footer(given)


def test_page_footer_css_takes_only_safe_characters() -> None:
    html = render_report_html(hand_made_report(report_id='r"; } body { display: none } x { content: "'))
    style = html[html.index("<style>") : html.index("</style>")]
    footer = re.search(r'@bottom-left \{ content: "([^"]*)"', style)
    assert footer is not None
    assert footer.group(1) == "hedui 核对报告 r  body  display none  x  content  v2"
    assert_self_contained(html)


# --- the browser ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> str:
    """Headless Chromium: skipped with the reason when missing, except under CI where that fails."""
    path = shutil.which("chromium")
    if path is None:
        message = "chromium not found on PATH (apt-get install chromium)"
        if UNDER_CI:
            pytest.fail(message + " — required under CI")
        pytest.skip(message)
    return path


def cjk_font_or_skip() -> None:
    fc_list = shutil.which("fc-list")
    fonts = ""
    if fc_list is not None:
        fonts = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    if not fonts.strip():
        message = "no Chinese font for Chromium (apt-get install fonts-noto-cjk)"
        if UNDER_CI:
            pytest.fail(message + " — required under CI")
        pytest.skip(message)


def run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # No D-Bus here: without "disabled:" Chromium waits ~16 s on the bus before every page (0.8 s with it).
        env={**os.environ, "LANG": "C.UTF-8", "DBUS_SESSION_BUS_ADDRESS": "disabled:"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def png_rows(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the (filtered) scanlines of an 8-bit RGB(A) PNG, checking its structure on the way."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and colour in (2, 6) and interlace == 0
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + width * (3 if colour == 2 else 4)
    assert len(raw) == height * stride
    return width, height, [raw[i * stride : (i + 1) * stride] for i in range(height)]


@pytest.mark.integration
def test_chromium_renders_and_prints_the_report(browser: str, example_html: str, tmp_path: Path) -> None:
    cjk_font_or_skip()
    page = tmp_path / "report.html"
    page.write_text(example_html, encoding="utf-8")
    profile = tmp_path / "profile"

    png = tmp_path / "report.png"
    run_chromium(browser, profile, "--hide-scrollbars", f"--screenshot={png}", "--window-size=1240,1754", page.as_uri())
    assert png.exists()
    data = png.read_bytes()
    width, height, rows = png_rows(data)
    assert (width, height) == (1240, 1754)
    # A blank page compresses to a few kilobytes and has a couple of distinct scanlines; text and tables don't.
    assert len(set(rows)) > 300
    assert len(data) > 50_000

    pdf = tmp_path / "report.pdf"
    run_chromium(browser, profile, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    document = pdf.read_bytes()
    assert document.startswith(b"%PDF-")
    pages = re.findall(rb"/Type\s*/Page(?![a-zA-Z])", document)
    assert 1 <= len(pages) <= 4
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", document)
    assert boxes and all(abs(float(w) - 595.3) < 2 and abs(float(h) - 841.9) < 2 for w, h in boxes)  # A4
    # The Chinese text is set in a CJK font (not boxes from a fallback without the glyphs).
    cjk = rb"/FontName\s*/[A-Z]{6}\+(NotoSansCJK|NotoSansSC|SourceHanSans|WenQuanYi|DroidSansFallback)"
    assert re.search(cjk, document)

    dom = run_chromium(browser, profile, "--dump-dom", page.as_uri()).stdout
    for heading in HEADINGS:
        assert heading in dom
    assert "577.78" in dom
