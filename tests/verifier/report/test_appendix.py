"""The printed report's appendix: every figure of the example household with its working, rule and records."""

from __future__ import annotations

from assessment_kit import example_report

from verifier.report.html import render_report_html


def _appendix() -> str:
    html = render_report_html(example_report())
    start = html.index('<section id="appendix"')
    return html[start : html.index("</section>", start)]


def test_the_appendix_explains_each_figure_with_its_records() -> None:
    appendix = _appendix()
    # policy.md by hand (see tests/verifier/assessment/test_derivations.py for the working).
    for shown in (
        "计入家庭人口 n",
        "家庭年收入 I",
        "收入：工资性收入",
        "张建国 3,000.00 = 3,000.00",
        "收入：申报未核实部分（按申报计入）",
        "刚性支出扣减 D",
        "(36,000.00 − 15,200.00) ÷ 12 ÷ 3 = 577.78（四舍五入到分）",
        "36,000.00 ÷ 12 ÷ 3 = 1,000.00（四舍五入到分）",
        "850.00 × 1.5（边缘系数） = 1,275.00",
        "850.00 × 3 × 24（金融资产月数） = 61,200.00",
        "税务 TX-2026-01（截至 2026-01）",
        "税务 TX-2026-02（截至 2026-02）",
        "人社 SS-2026-03（截至 2026-03）",
        "银行 BK-0001（截至 2026-10-31）",
        "不动产 RE-0001（截至 2009-05-01）",
        "核对规则「收入」（政策版本 2026-01-01）",
        "核对规则「刚性支出扣减」",
        "核对规则「财产」",
    ):
        assert shown in appendix, shown
    assert "533401197803120118" not in appendix  # record ids carrying identity numbers are masked
    assert "533401********0118" in appendix
    assert "经营净收入" in appendix  # a zero figure without records: listed in one line
