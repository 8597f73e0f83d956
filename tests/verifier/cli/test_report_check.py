"""``hedui report check FILE.pdf|DIGEST`` against a real service's audit log: a genuine report passes, an edited
one and an outdated version fail, each with the line that says why."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from harness import Harness, example_request, example_sandbox, running_service
from hedui_cli import hedui_here
from printed import pdf_pages, tool_or_skip

from hedui.v1 import verification_pb2
from verifier.protojson import message_to_plain
from verifier.report.build import report_digest
from verifier.report.official import PrintContext
from verifier.report.pdf import render_report_pdf

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_hedui_variables")]


async def _pdf(h: Harness, name: str) -> tuple[bytes, dict[str, Any]]:
    """A report version through GetReport: its PDF view, and its JSON as stored."""
    message = await h.verifications.GetReport(
        verification_pb2.GetReportRequest(name=name, view=verification_pb2.PDF), metadata=h.metadata
    )
    plain = message_to_plain(message)
    del plain["pdf"]
    return message.pdf, {**plain, "pdf": None}


async def _settled_twice(h: Harness, name: str) -> None:
    """Until the verification has its second version (the bank answered later)."""
    async with asyncio.timeout(60):
        while True:
            v = await h.verifications.GetVerification(
                verification_pb2.GetVerificationRequest(name=name), metadata=h.metadata
            )
            if v.latest_report.endswith("/reports/2"):
                return
            await asyncio.sleep(0.1)


async def _issue(url: str, tmp: Path) -> dict[str, Any]:
    """One verification of the example household whose bank answers late: versions 1 and 2 as PDFs."""
    sandbox = example_sandbox()
    sandbox["banks"]["answer_after_seconds"] = 3  # beyond the departments' deadline: pending in version 1
    # The master keys where `hedui report check` run in ``tmp`` looks for them (issue 17: the reports are sealed).
    async with running_service(url, sandbox, deadline=1.0, poll=0.2, key_dir=tmp / ".hedui" / "master-keys") as h:
        v = await h.run(example_request())
        await _settled_twice(h, v.name)
        first, first_json = await _pdf(h, f"{v.name}/reports/1")
        second, second_json = await _pdf(h, f"{v.name}/reports/2")
    (tmp / "v1.pdf").write_bytes(first)
    (tmp / "v2.pdf").write_bytes(second)
    return {"v1": first_json, "v2": second_json}


@pytest.fixture
def issued(db_url: str, tmp_path: Path) -> dict[str, Any]:
    tool_or_skip("pdftotext")
    return asyncio.run(_issue(db_url, tmp_path))


def test_genuine_passes_and_edited_outdated_or_unknown_fail(
    db_url: str, tmp_path: Path, issued: dict[str, Any]
) -> None:
    """One verification, two versions (the bank answered late): every verdict the command gives."""
    check_latest_version_passes_and_its_digest_alone_too(db_url, tmp_path, issued)
    check_the_digest_on_the_paper_is_the_one_report_created_recorded(tmp_path, issued)
    check_an_outdated_version_fails(db_url, tmp_path, issued)
    check_an_edited_report_fails(db_url, tmp_path, issued)
    check_another_centre_configuration_compares_as_edited_but_the_digest_holds(db_url, tmp_path, issued)
    check_a_digest_never_recorded_is_not_issued(db_url, tmp_path)


def check_latest_version_passes_and_its_digest_alone_too(db_url: str, tmp_path: Path, issued: dict[str, Any]) -> None:
    done = hedui_here("report", "check", str(tmp_path / "v2.pdf"), "--db", db_url, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "issued: report" in done.stdout and "version 2" in done.stdout
    assert "unchanged: the file's text is the report as issued" in done.stdout
    assert "(its text layer only: compare the figures below with the paper)" in done.stdout
    assert "current: no newer version" in done.stdout
    assert _figures(done.stdout) == _example_figures(issued["v2"]), done.stdout
    digest = report_digest(issued["v2"])
    by_digest = hedui_here("report", "check", digest, "--db", db_url, cwd=tmp_path)
    assert by_digest.returncode == 0, by_digest.stdout
    assert f"verifications/{issued['v2']['verification_id']}" in by_digest.stdout
    assert _figures(by_digest.stdout) == _example_figures(issued["v2"]), by_digest.stdout


def _figures(stdout: str) -> list[str]:
    """The lines after the verdict that show the stored report's key figures."""
    lines = stdout.splitlines()
    assert "as issued (compare with the paper):" in lines, stdout
    return lines[lines.index("as issued (compare with the paper):") + 1 :]


def _example_figures(report: dict[str, Any]) -> list[str]:
    """The example household's figures by hand (policy.md): 3 members counted; (36,000.00 income − 15,200.00
    deductions) / 12 / 3 = 577.78 yuan a month; under the default centre the number is 核字〔CST year〕 and ten
    digits of SHA-256 of the report id (docs/report.md)."""
    generated = dt.datetime.fromisoformat(report["generated_at"].replace("Z", "+00:00"))
    year = (generated + dt.timedelta(hours=8)).year
    serial = int(hashlib.sha256(report["report_id"].encode()).hexdigest()[:12], 16) % 10**10
    return [
        f"  report number: 核字〔{year}〕{serial:010d}号",
        "  classification: 扣减刚性支出后符合低保收入条件（支出型） (DIBAO_AFTER_DEDUCTIONS)",
        "  household size: 3",
        "  per-capita monthly income after deductions: 577.78 yuan",
    ]


def check_the_digest_on_the_paper_is_the_one_report_created_recorded(tmp_path: Path, issued: dict[str, Any]) -> None:
    pages = pdf_pages((tmp_path / "v2.pdf").read_bytes(), tmp_path)
    digest = report_digest(issued["v2"])
    assert all(f"报告摘要（SHA-256）：{digest}" in re.sub(r"\s+", "", p) for p in pages)


def check_an_outdated_version_fails(db_url: str, tmp_path: Path, issued: dict[str, Any]) -> None:
    done = hedui_here("report", "check", str(tmp_path / "v1.pdf"), "--db", db_url, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "version 1" in done.stdout and "unchanged" in done.stdout
    assert f"OUTDATED: version 2 supersedes it (digest {report_digest(issued['v2'])})" in done.stdout
    assert done.stdout.index("OUTDATED") < done.stdout.index("as issued (compare with the paper):")
    assert "  household size: 3" in _figures(done.stdout)


def check_an_edited_report_fails(db_url: str, tmp_path: Path, issued: dict[str, Any]) -> None:
    # A forger re-typesets the genuine report with one figure changed, keeping its digest on every page.
    edited = json.loads(json.dumps(issued["v2"]))
    edited["members"][0]["declared_annual_income_fen"] = 360_000  # 36,000.00 yuan becomes 3,600.00
    genuine = report_digest(issued["v2"])
    (tmp_path / "edited.pdf").write_bytes(render_report_pdf(edited, context=PrintContext(report_sha256=genuine)))
    done = hedui_here("report", "check", str(tmp_path / "edited.pdf"), "--db", db_url, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "EDITED: the file's text differs from the report as issued" in done.stdout
    assert "check with its --config, or by digest" in done.stdout


def check_another_centre_configuration_compares_as_edited_but_the_digest_holds(
    db_url: str, tmp_path: Path, issued: dict[str, Any]
) -> None:
    # The limit docs/report.md states: the file check renders under the [centre] it is given.
    other = tmp_path / "other-centre.toml"
    other.write_text('[centre]\nname = "迪庆州居民家庭经济状况核对中心"\n', encoding="utf-8")
    done = hedui_here("report", "check", str(tmp_path / "v2.pdf"), "--config", str(other), "--db", db_url, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "EDITED: the file's text differs from the report as issued, rendered under this [centre]" in done.stdout
    by_digest = hedui_here(
        "report", "check", report_digest(issued["v2"]), "--config", str(other), "--db", db_url, cwd=tmp_path
    )
    assert by_digest.returncode == 0, by_digest.stdout + by_digest.stderr


def check_a_digest_never_recorded_is_not_issued(db_url: str, tmp_path: Path) -> None:
    done = hedui_here("report", "check", "0" * 64, "--db", db_url, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("NOT ISSUED: no REPORT_CREATED entry records the digest " + "0" * 64)
    assert "as issued" not in done.stdout and "classification" not in done.stdout


def test_invalid_input_exits_2_with_one_line(tmp_path: Path) -> None:
    not_a_digest = hedui_here("report", "check", "abc", "--db", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert not_a_digest.returncode == 2
    assert "neither a file nor a report digest" in not_a_digest.stderr
    (tmp_path / "plain.pdf").write_bytes(b"not a pdf")
    tool_or_skip("pdftotext")
    broken = hedui_here("report", "check", str(tmp_path / "plain.pdf"), cwd=tmp_path)
    assert broken.returncode == 2 and "not a readable PDF" in broken.stderr


@pytest.mark.parametrize("tables", [(), ("CREATE TABLE reports (id TEXT)",)], ids=["empty", "other tables"])
def test_a_database_without_the_audit_log_exits_2_with_one_line(tmp_path: Path, tables: tuple[str, ...]) -> None:
    # Not 1: that is the NOT ISSUED / EDITED verdict. No SQL and no traceback either.
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        for statement in tables:
            connection.execute(statement)
    path.touch()
    done = hedui_here("report", "check", "a" * 64, "--db", f"sqlite:///{path}", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "hedui: error: --db: not a hedui database with an audit log (run hedui serve once to create it)"
    ]
    missing = hedui_here("report", "check", "a" * 64, "--db", f"sqlite:///{tmp_path / 'none.db'}", cwd=tmp_path)
    assert missing.returncode == 2 and len(missing.stderr.splitlines()) == 1, missing.stderr
    assert not (tmp_path / "none.db").exists()
