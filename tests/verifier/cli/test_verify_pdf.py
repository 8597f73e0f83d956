"""``hedui verify --format pdf`` with a configured centre: the official report as the case worker files it."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest
from harness import example_request, example_sandbox
from hedui_cli import HEDUI, write
from printed import pdf_pages

from consent.identity import CHINA_TIME

CENTRE_TOML = """
[centre]
name = "香格里拉市居民家庭经济状况核对中心"
report_number_format = "香核字〔{year}〕{serial}号"
seal = "香格里拉市居民家庭经济状况核对中心（盖章）"
signatures = ["核对经办人", "复核人"]

[centre.organisations]
"533401-civil-affairs" = "香格里拉市民政局"

[centre.locality_legal_basis]
default = ["《香格里拉市关于改革完善社会救助制度的实施方案》"]
"""


@pytest.mark.integration
@pytest.mark.usefixtures("no_hedui_variables")
def test_verify_format_pdf_is_the_official_report(tmp_path: Path) -> None:
    request = write(
        tmp_path / "req.json",
        {**example_request(), "household_address": "香格里拉市建塘镇金龙街 12 号", "case_number": "香民救〔2026〕0417"},
    )
    sandbox = write(tmp_path / "sb.json", example_sandbox())
    config = tmp_path / "hedui.toml"
    config.write_text(CENTRE_TOML, encoding="utf-8")
    done = subprocess.run(
        [*HEDUI, "verify", str(request), "--sandbox", str(sandbox), "--config", str(config), "--format", "pdf"],
        cwd=tmp_path,
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.startswith(b"%PDF-")
    pages = pdf_pages(done.stdout, tmp_path)
    flat = re.sub(r"\s+", "", "".join(pages))
    today = dt.datetime.now(CHINA_TIME).date()
    for element in (
        "香格里拉市居民家庭经济状况核对中心",
        "香格里拉市民政局",
        "《社会救助暂行办法》",
        "《香格里拉市关于改革完善社会救助制度的实施方案》",
        "香格里拉市建塘镇金龙街12号",
        "香民救〔2026〕0417",
        f"表单编号开发授权-{dt.datetime.now(dt.UTC).date():%Y%m%d}，签署日期{today.isoformat()}",
        "复核人（签字）",
        "（北京时间）",
    ):
        assert element in flat, element
    assert re.search(r"香核字〔\d{4}〕\d{10}号", flat)
    assert all("报告摘要（SHA-256）：" in re.sub(r"\s+", "", p) for p in pages)


@pytest.mark.usefixtures("no_hedui_variables")
def test_a_bad_centre_table_is_invalid_input(tmp_path: Path) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text('[centre]\nreport_number_format = "第{count}号"\n', encoding="utf-8")
    request = write(tmp_path / "req.json", example_request())
    done = subprocess.run(
        [*HEDUI, "verify", str(request), "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "centre.report_number_format" in done.stderr
