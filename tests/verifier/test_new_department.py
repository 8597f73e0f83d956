"""A department hedui does not ship arrives through its package and the centre's config alone (issue 10).

The market regulation bureau (市场监督管理部门) ships the test package tests/packages/hedui-market-regulation:
an entry point in group ``hedui.connectors`` answering ``enterprise`` records. The centre installs it (pip,
for real) and declares the department in its config; nothing of hedui is edited. A verification through
the configured connectors then shows the bureau's records in the report, the printable document and the
audit log under the bureau's name, and a locality policy may require the new department.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from department_packages import PACKAGES, Installed, hedui, install

pytestmark = pytest.mark.integration

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "examples"
REQUEST = SPEC / "household-zhang.json"
SANDBOX = SPEC / "sandbox-small.json"
APPLICANT = "533401197803120118"  # 张建国, who holds two roles in the bureau's register

DEFAULT_POLICY = (Path(__file__).resolve().parents[2] / "verifier" / "policies" / "default.toml").read_text("utf-8")
SIX = '"police", "housing", "tax", "vehicles", "banks", "social_security"'
# The county's policy: the default figures, its own locality, and the new department among the required ones.
POLICY = DEFAULT_POLICY.replace('locality = "default"', 'locality = "533401"\nversion = "2026-market"').replace(
    f"required = [{SIX}]", f'required = [{SIX}, "market_regulation"]'
)


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> tuple[Installed, Path]:
    """The bureau's package installed (pip, from a copy of tests/packages/hedui-market-regulation) and the config."""
    base = tmp_path_factory.mktemp("centre")
    installed = install(PACKAGES / "hedui-market-regulation", base / "site")
    assert "market_regulation" in POLICY and 'locality = "533401"' in POLICY
    (base / "533401.toml").write_text(POLICY, encoding="utf-8")
    (base / "hedui.toml").write_text(
        f"""\
database_url = "sqlite:///{base / "hedui.db"}"
sandbox = "{SANDBOX}"
policy_files = ["{base / "533401.toml"}"]

[departments.market_regulation]
name_zh = "市场监督管理部门"
name_en = "Market regulation"
record_kinds = ["enterprise"]
connector = "market-regulation"
batch_size = 25
""",
        encoding="utf-8",
    )
    return installed, base


def test_the_new_department_s_records_are_in_the_report_under_its_name(centre: tuple[Installed, Path]) -> None:
    installed, base = centre
    done = hedui(installed, "verify", "--config", "hedui.toml", str(REQUEST), "--format", "json", cwd=base)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    sources = {s["department"]: (s["status"], s["records"]) for s in report["sources"]}
    assert sources["market_regulation"] == ("ok", 2)
    assert len(sources) == 7  # the six defaults and the declared one
    # By hand: the register holds 张建国 as legal representative of one enterprise and shareholder of another;
    # each is BUSINESS_REGISTERED (warnings.md, HIGH), named for the department that supplied the record.
    flags = [(f["code"], f["severity"], f["id_number"], f["department"], f["evidence"]) for f in report["flags"]]
    assert flags == [
        (
            "BUSINESS_REGISTERED",
            "HIGH",
            APPLICANT,
            "market_regulation",
            [
                {
                    "department": "market_regulation",
                    "record_id": "SCJG-533401-0001",
                    "field": "role",
                    "value": "legal_representative",
                }
            ],
        ),
        (
            "BUSINESS_REGISTERED",
            "HIGH",
            APPLICANT,
            "market_regulation",
            [
                {
                    "department": "market_regulation",
                    "record_id": "SCJG-533401-0002",
                    "field": "role",
                    "value": "shareholder",
                }
            ],
        ),
    ]
    assert report["flags"][0]["message_zh"] == "该成员是企业“凤庆县张记茶叶经营部”的法定代表人。"
    # policy.md: an asset warning decides before income; the figures are the example's (cli/test_verify.py).
    figures = report["assessment"]
    assert figures["classification"] == "NOT_ELIGIBLE_ASSETS"
    assert (figures["annual_income_fen"], figures["deductions_fen"]) == (3_600_000, 1_520_000)
    assert (figures["per_capita_monthly_income_before_fen"], figures["per_capita_monthly_income_fen"]) == (
        100_000,
        57_778,
    )
    # The locality's own policy, which requires the new department, was chosen and loaded.
    assert (report["policy"]["locality"], report["policy_version"]) == ("533401", "2026-market")


def test_the_printable_report_names_the_department_in_chinese(centre: tuple[Installed, Path]) -> None:
    installed, base = centre
    done = hedui(installed, "verify", "--config", "hedui.toml", str(REQUEST), "--format", "html", cwd=base)
    assert done.returncode == 0, done.stderr
    assert "市场监督管理部门" in done.stdout
    assert "SCJG-533401-0001" in done.stdout and "SCJG-533401-0002" in done.stdout
    assert ">market_regulation<" not in done.stdout  # never the bare id where a name belongs


def test_the_audit_log_records_the_new_department_s_queries(centre: tuple[Installed, Path]) -> None:
    installed, base = centre
    first = hedui(installed, "verify", "--config", "hedui.toml", str(REQUEST), "--format", "json", cwd=base)
    assert first.returncode == 0, first.stderr
    verification = json.loads(first.stdout)["verification_id"]
    listed = hedui(
        installed,
        "audit",
        "list",
        "--config",
        "hedui.toml",
        "--verification",
        verification,
        "--format",
        "json",
        cwd=base,
    )
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    market = [e["kind"] for e in entries if e["department"] == "market_regulation"]
    assert market == ["CONSENT_DECISION", "DEPARTMENT_QUERY_SENT", "DEPARTMENT_ANSWER_RECEIVED"]
    intact = hedui(installed, "audit", "verify", "--config", "hedui.toml", cwd=base)
    assert intact.returncode == 0, intact.stdout + intact.stderr
