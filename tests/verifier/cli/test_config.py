"""``hedui config show`` and ``hedui config check`` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hedui_cli import hedui_captured as run

from verifier.cli.config import render_text
from verifier.config import Source, Value

pytestmark = pytest.mark.usefixtures("no_hedui_variables")


def test_show_prints_each_value_with_its_source_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text('listen = "127.0.0.1:6000"\n[departments.banks]\nticket_key = "0123456789abcdef-secret"\n')
    monkeypatch.setenv("HEDUI_DEPARTMENT_DEADLINE_SECONDS", "15")
    code, out, err = run(capsys, "config", "show", "--config", str(config))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert 'listen = "127.0.0.1:6000"  # file' in lines
    assert "department_deadline_seconds = 15.0  # env HEDUI_DEPARTMENT_DEADLINE_SECONDS" in lines
    assert 'audit_log_origin = "hedui.local/audit"  # default' in lines
    assert "[departments.banks]" in lines and 'ticket_key = "<redacted>"  # file' in lines
    assert "0123456789abcdef-secret" not in out
    assert not (tmp_path / ".hedui").exists()  # showing creates no key file


def test_show_as_json_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEDUI_LISTEN", "0.0.0.0:7000")
    code, out, _ = run(capsys, "config", "show", "--format", "json")
    assert code == 0
    values = {v["key"]: v for v in map(json.loads, out.splitlines())}
    assert values["listen"] == {"key": "listen", "value": "0.0.0.0:7000", "source": "env"}
    assert values["departments.tax.record_kinds"]["value"] == ["enterprise", "tax_income"]


def test_show_refuses_a_bad_variable_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEDUI_POLL_INTERVAL_SECONDS", "0")
    code, out, err = run(capsys, "config", "show")
    assert (code, out) == (2, "")
    assert err == "hedui: error: poll_interval_seconds: must be positive (from HEDUI_POLL_INTERVAL_SECONDS)\n"


def test_check_accepts_a_valid_file_and_names_its_departments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text(
        '[departments.market_regulation]\nname_zh = "市场监督管理部门"\nname_en = "Market regulation"\n'
        'record_kinds = ["enterprise"]\nconnector = "market"\n'
    )
    code, out, err = run(capsys, "config", "check", str(config))
    assert (code, err) == (0, "")
    assert out.startswith(
        f"{config}: valid: 7 departments (police, housing, tax, vehicles, banks, social_security, market_regulation)"
    )
    assert "audit_log_key_file .hedui/audit-log.key does not exist yet" in out
    assert not (tmp_path / ".hedui").exists()


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("[departments.tax]\ndeadline_seconds = 0\n", "departments.tax.deadline_seconds: must be a positive number"),
        ("mystery = 1\n", "mystery: unknown key"),
        ("[departments.medical_insurance]\nconnector = 'x'\n", "departments.medical_insurance.record_kinds: required"),
        ("listen = \n", "not TOML"),
    ],
)
def test_check_refuses_a_bad_file_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, words: str
) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text(toml)
    code, out, err = run(capsys, "config", "check", str(config))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and words in err, err


def test_check_reads_the_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shell's variables are not the file's problem: a bad HEDUI_* does not fail the check of a good file."""
    config = tmp_path / "hedui.toml"
    config.write_text('listen = "127.0.0.1:6000"\n')
    monkeypatch.setenv("HEDUI_POLL_INTERVAL_SECONDS", "0")
    assert run(capsys, "config", "check", str(config))[0] == 0


def test_check_refuses_a_key_file_without_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "log.key"
    key.write_text("short")
    config = tmp_path / "hedui.toml"
    config.write_text(f'audit_log_key_file = "{key}"\n')
    code, _, err = run(capsys, "config", "check", str(config))
    assert code == 2 and f"audit_log_key_file: {key} does not hold a hex key" in err


# --- rendering (verifier/cli/config.py's render_text), in-process -------------------------------------------


def test_render_text_groups_department_keys_under_their_tables() -> None:
    values = [
        Value("listen", '"127.0.0.1:6000"', Source.FILE),
        Value("departments.tax.connector", '"sandbox"', Source.DEFAULT),
        Value("departments.tax.deadline_seconds", "20.0", Source.FILE),
        Value("departments.banks.ticket_key", '"<redacted>"', Source.ENV, note="a secret"),
    ]
    assert render_text(values, Path("hedui.toml")).splitlines() == [
        "# hedui's effective configuration: file hedui.toml, overridden by HEDUI_* variables; "
        "after each value, where it came from",
        'listen = "127.0.0.1:6000"  # file',
        "",
        "[departments.tax]",
        'connector = "sandbox"  # default',
        "deadline_seconds = 20.0  # file",
        "",
        "[departments.banks]",
        'ticket_key = "<redacted>"  # env HEDUI_DEPARTMENTS__BANKS__TICKET_KEY; a secret',
    ]


def test_render_text_says_when_there_is_no_config_file() -> None:
    assert render_text([], None) == (
        "# hedui's effective configuration: no config file, overridden by HEDUI_* variables; "
        "after each value, where it came from"
    )


def test_show_refuses_a_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "config", "show", "--config", str(tmp_path / "absent.toml"))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "absent.toml" in err, err
