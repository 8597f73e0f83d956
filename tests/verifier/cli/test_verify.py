"""``hedui verify REQUEST.json`` as a user runs it: a subprocess, its exit code, its output (the refusals of bad
input in this process: the same ``main``, a start-up saved each; one of them goes through a subprocess)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from harness import EXAMPLES, REPO, example_request, example_sandbox
from hedui_cli import APPLICANT, SPOUSE, audit_events, hedui_here, ok, write
from hedui_cli import hedui_process as hedui

from connectors.departments import DepartmentCatalogue
from consent import SigningKey
from verifier.cli import verify as verify_command
from verifier.cli._common import UsageError
from verifier.cli.verify import signed_authorization
from verifier.config import Settings
from verifier.request import parse_request


@pytest.fixture
def example_files(tmp_path: Path) -> tuple[Path, Path]:
    request = EXAMPLES / "household-zhang.json"
    sandbox = EXAMPLES / "sandbox-small.json"
    if not request.exists():
        request, sandbox = (
            write(tmp_path / "req.json", example_request()),
            write(tmp_path / "sb.json", example_sandbox()),
        )
    return request, sandbox


@pytest.mark.integration
def test_verify_example_prints_the_hand_computed_report(
    db_url: str, tmp_path: Path, example_files: tuple[Path, Path]
) -> None:
    request, sandbox = example_files
    done = hedui("verify", str(request), "--sandbox", str(sandbox), "--db", db_url, "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    a = report["assessment"]
    # Hand-computed from policy.md (see test_api.test_example_household_end_to_end for the working).
    assert (a["annual_income_fen"], a["deductions_fen"]) == (3_600_000, 1_520_000)
    assert (a["per_capita_monthly_income_before_fen"], a["per_capita_monthly_income_fen"]) == (100_000, 57_778)
    assert a["classification"] == "DIBAO_AFTER_DEDUCTIONS"
    assert report["flags"] == []
    assert [s["status"] for s in report["sources"]] == ["ok"] * 6
    # The run left an intact audit log, and its REPORT_CREATED entry holds the digest of exactly this report.
    checked = hedui("audit", "verify", "--db", db_url, cwd=tmp_path)
    assert checked.returncode == 0 and "audit log intact" in checked.stdout, checked.stdout + checked.stderr
    listed = hedui("audit", "list", "--db", db_url, "--kind", "REPORT_CREATED", "--format", "json", cwd=tmp_path)
    created = [json.loads(line) for line in listed.stdout.splitlines()]
    canonical = json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert [e["details"]["report_sha256"] for e in created] == [hashlib.sha256(canonical).hexdigest()]


@pytest.mark.integration
def test_verify_text_output_is_a_readable_table(tmp_path: Path, example_files: tuple[Path, Path]) -> None:
    request, sandbox = example_files
    done = hedui("verify", str(request), "--sandbox", str(sandbox), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for words in ("DIBAO_AFTER_DEDUCTIONS", "577.78", "15,200.00", "张建国", "533401********0118", "No warning flags"):
        assert words in done.stdout
    assert "533401197803120118" not in done.stdout
    assert (tmp_path / ".hedui" / "hedui.db").exists()


@pytest.mark.integration
def test_unsigned_member_is_reported_consent_missing(tmp_path: Path, example_files: tuple[Path, Path]) -> None:
    _, sandbox = example_files
    request = example_request()
    request["members"][1]["signed"] = False
    path = write(tmp_path / "req.json", request)
    done = hedui("verify", str(path), "--sandbox", str(sandbox), "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    missing = {(f["id_number"], f["evidence"][0]["value"]) for f in report["flags"] if f["code"] == "CONSENT_MISSING"}
    assert len(missing) == 6
    assert {n for n, _ in missing} == {"53340119800605022X"}
    assert report["assessment"]["classification"] == "INCONCLUSIVE"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r["members"][0].update(id_number="533401197803120119"), "members[0].id_number"),
        (lambda r: r.update(area="moon"), "area"),
        (lambda r: r["members"][0].update(declared_annual_income_fen=-100), "must not be negative"),
        (lambda r: r["members"][0].update(declared_annual_income_fen=12.5), "integer"),
        (lambda r: [m.update(signed=False) for m in r["members"]], "no member has signed"),
    ],
)
def test_invalid_request_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, example_files: tuple[Path, Path], change: Any, words: str
) -> None:
    _, sandbox = example_files
    request = example_request()
    change(request)
    path = write(tmp_path / "req.json", request)
    done = hedui_here("verify", str(path), "--sandbox", str(sandbox), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert words in done.stderr
    assert not (tmp_path / ".hedui").exists()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("sandbox", "words"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"police": {"persons": [{"id_number": 5}]}}), "police.persons[0]"),
        (json.dumps({"faults": {"tax": {"mode": "sometimes"}}}), "faults.tax.mode"),
        (json.dumps({"banks": {"accounts": [], "answer_after_seconds": -1}}), "answer_after_seconds"),
        (json.dumps({"weather": {}}), "weather"),
    ],
)
def test_malformed_sandbox_exits_2(tmp_path: Path, sandbox: str, words: str) -> None:
    path = tmp_path / "sandbox.json"
    path.write_text(sandbox)
    request = write(tmp_path / "req.json", example_request())
    done = hedui_here("verify", str(request), "--sandbox", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert words in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / ".hedui").exists()


@pytest.mark.integration
def test_html_format_with_invalid_input_exits_2_before_anything_runs(
    tmp_path: Path, example_files: tuple[Path, Path]
) -> None:
    _, sandbox = example_files
    request = example_request()
    request["area"] = "moon"
    path = write(tmp_path / "req.json", request)
    done = hedui_here("verify", str(path), "--sandbox", str(sandbox), "--format", "html", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "area" in done.stderr
    assert not (tmp_path / ".hedui").exists()


@pytest.mark.integration
def test_missing_and_malformed_request_files_exit_2(tmp_path: Path) -> None:
    done = hedui("verify", str(tmp_path / "nope.json"), cwd=tmp_path)
    assert done.returncode == 2
    assert "no such file" in done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    done = hedui("verify", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert "not JSON" in done.stderr


@pytest.mark.integration
@pytest.mark.parametrize("url", ["notaurl://x", "mysql://u@h/db", "::"])
def test_unsupported_database_url_exits_2(tmp_path: Path, example_files: tuple[Path, Path], url: str) -> None:
    request, sandbox = example_files
    done = hedui_here("verify", str(request), "--sandbox", str(sandbox), "--db", url, cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "--db" in done.stderr
    assert not (tmp_path / ".hedui").exists()


DEPARTMENT_IDS = ("police", "housing", "tax", "vehicles", "banks", "social_security")


@pytest.mark.integration
def test_verify_with_a_config_runs_through_its_connectors_and_options(
    tmp_path: Path, example_files: tuple[Path, Path]
) -> None:
    """Every department on the built-in sandbox entry point, each given its own dataset as an option.

    Five departments answer from the example data; the vehicle office's option is a copy of it where that
    office is down. Neither the demo data nor a single shared dataset would give this report.
    """
    request, sandbox = example_files
    broken = json.loads(sandbox.read_text(encoding="utf-8"))
    broken["faults"] = {"vehicles": {"mode": "unavailable"}}
    broken_sandbox = write(tmp_path / "vehicles-down.json", broken)
    tables = "".join(
        f'[departments.{d}]\nconnector = "sandbox"\nsandbox = "{broken_sandbox if d == "vehicles" else sandbox}"\n'
        for d in DEPARTMENT_IDS
    )
    config = tmp_path / "hedui.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "config.db"}"\n{tables}', encoding="utf-8")
    done = hedui("verify", str(request), "--config", str(config), "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    statuses = {s["department"]: s["status"] for s in report["sources"]}
    assert statuses == {**dict.fromkeys(DEPARTMENT_IDS, "ok"), "vehicles": "unavailable"}
    # The other departments' records are the example household's: its hand-computed income (policy.md).
    assert report["assessment"]["annual_income_fen"] == 3_600_000
    assert (tmp_path / "config.db").exists()  # the config's database


@pytest.mark.integration
def test_verify_options_override_the_config(tmp_path: Path, example_files: tuple[Path, Path]) -> None:
    request, sandbox = example_files
    config = tmp_path / "hedui.toml"
    config.write_text(
        f'sandbox = "{tmp_path / "absent.json"}"\ndatabase_url = "sqlite:///{tmp_path / "config.db"}"\n'
        f'policy_files = ["{tmp_path / "absent-policy.toml"}"]\n',
        encoding="utf-8",
    )
    refused = hedui("verify", str(request), "--config", str(config), cwd=tmp_path)
    assert refused.returncode == 2 and "absent-policy.toml" in refused.stderr  # the config's policies are read
    policy = REPO / "verifier" / "policies" / "default.toml"
    refused = hedui("verify", str(request), "--config", str(config), "--policy", str(policy), cwd=tmp_path)
    assert refused.returncode == 2 and "absent.json" in refused.stderr  # the config's sandbox is the one read
    db = f"sqlite:///{tmp_path / 'flag.db'}"
    done = hedui(
        "verify",
        str(request),
        "--config",
        str(config),
        "--sandbox",
        str(sandbox),
        "--policy",
        str(policy),
        "--db",
        db,
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["assessment"]["annual_income_fen"] == 3_600_000
    assert (tmp_path / "flag.db").exists() and not (tmp_path / "config.db").exists()


@pytest.mark.integration
def test_verify_with_a_config_naming_a_connector_not_installed_exits_2(
    tmp_path: Path, example_files: tuple[Path, Path]
) -> None:
    request, _ = example_files
    config = tmp_path / "hedui.toml"
    config.write_text('[departments.tax]\nconnector = "tax-bureau-533401"\n', encoding="utf-8")
    done = hedui("verify", str(request), "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "departments.tax.connector: no entry point 'tax-bureau-533401'" in done.stderr
    assert not (tmp_path / ".hedui").exists()


# --- Done when: `hedui verify` with "signed": false queries nothing about the spouse -----------------------


@pytest.mark.integration
def test_hedui_verify_queries_nothing_about_an_unsigned_spouse(db_url: str, tmp_path: Path) -> None:
    request = example_request()
    assert request["members"][1]["id_number"] == SPOUSE
    request["members"][1]["signed"] = False
    path = write(tmp_path / "req.json", request)
    sandbox = EXAMPLES / "sandbox-small.json"
    if not sandbox.exists():
        sandbox = write(tmp_path / "sb.json", example_sandbox())
    report = json.loads(
        ok(hedui("verify", str(path), "--sandbox", str(sandbox), "--db", db_url, "--format", "json", cwd=tmp_path))
    )
    missing = {(f["id_number"], f["evidence"][0]["value"]) for f in report["flags"] if f["code"] == "CONSENT_MISSING"}
    assert missing == {(SPOUSE, d) for d in ("banks", "housing", "police", "social_security", "tax", "vehicles")}
    assert all(s["not_queried"] == [SPOUSE] for s in report["sources"])
    spouse = next(m for m in report["members"] if m["id_number"] == SPOUSE)
    assert spouse["records"] == []
    # The audit log, searched by person: six queries about the applicant, none about the spouse.
    sent_applicant = audit_events(tmp_path, db_url, "--person", APPLICANT, "--kind", "DEPARTMENT_QUERY_SENT")
    sent_spouse = audit_events(tmp_path, db_url, "--person", SPOUSE, "--kind", "DEPARTMENT_QUERY_SENT")
    assert len(sent_applicant) == 6
    assert sent_spouse == []
    refused = audit_events(tmp_path, db_url, "--person", SPOUSE, "--kind", "CONSENT_DECISION")
    assert len(refused) == 6
    assert all(e["details"]["refused"] == 1 for e in refused)


# --- the command's own helpers (verifier/cli/verify.py), in-process -----------------------------------------


def test_the_development_authorization_covers_the_signed_members_only() -> None:
    raw = example_request()
    raw["members"][1]["signed"] = False
    key = SigningKey.generate_ed25519()
    envelope = signed_authorization(parse_request(raw), key, dt.date(2026, 11, 1))
    assert envelope.payload_type == "application/vnd.hedui.authorization+json; version=1"
    assert [s.keyid for s in envelope.signatures] == [key.keyid]
    payload = json.loads(envelope.payload)
    assert [m["id_number"] for m in payload["members"]] == [APPLICANT, "533401200809110310"]
    assert SPOUSE not in envelope.payload.decode()
    # 180 days from 1 November 2026: 29 + 31 + 31 + 28 + 31 + 30.
    assert (payload["valid_from"], payload["valid_until"]) == ("2026-11-01", "2027-04-30")
    assert (payload["commissioned_by"], payload["purpose"]) == ("533401-civil-affairs", "ASSESSMENT")


def test_a_request_is_checked_and_one_nobody_signed_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "req.json", example_request())
    assert verify_command._request(path).members[0].id_number == APPLICANT
    raw = example_request()
    for member in raw["members"]:
        member["signed"] = False
    write(path, raw)
    with pytest.raises(UsageError, match=r"req\.json: no member has signed; nothing may be queried$"):
        verify_command._request(path)
    raw["area"] = "moon"
    write(path, raw)
    with pytest.raises(UsageError, match=r"req\.json: .*area"):
        verify_command._request(path)


def test_policy_is_the_given_file_alone_else_the_configured_ones(tmp_path: Path) -> None:
    default = REPO / "verifier" / "policies" / "default.toml"
    local = tmp_path / "533401.toml"
    local.write_text(default.read_text(encoding="utf-8").replace('locality = "default"', 'locality = "533401"'))
    settings = Settings(policy_files=(local,))
    assert sorted(verify_command._policies(None, settings).localities()) == ["533401", "default"]
    assert list(verify_command._policies(local, settings).localities()) == ["533401"]
    with pytest.raises(UsageError, match=r"^policy: .*absent\.toml"):
        verify_command._policies(tmp_path / "absent.toml", settings)


def test_the_json_report_is_indented_and_keeps_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    verify_command.output_report({"members": [{"name": "张建国"}]}, "json", DepartmentCatalogue())
    assert capsys.readouterr().out == '{\n  "members": [\n    {\n      "name": "张建国"\n    }\n  ]\n}\n'
