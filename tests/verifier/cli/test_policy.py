"""``hedui policy check`` and ``hedui policy list`` (verifier/cli/policy.py): the one-line summary, the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import REPO
from hedui_cli import hedui_captured as run

from verifier.cli.policy import summary
from verifier.policy import load_policy

pytestmark = pytest.mark.usefixtures("no_hedui_variables")

DEFAULT = REPO / "verifier" / "policies" / "default.toml"


def locality_policy(tmp_path: Path, extra: str = "") -> Path:
    """The built-in default copied as locality 533401's policy (its area code is its locality), ``extra`` first."""
    text = DEFAULT.read_text(encoding="utf-8").replace('locality = "default"', 'locality = "533401"')
    path = tmp_path / "533401.toml"
    path.write_text(extra + text, encoding="utf-8")
    return path


def test_the_summary_names_the_default_and_its_standards_in_yuan() -> None:
    policy = load_policy(DEFAULT)
    # default.toml: effective 2026-01-01, no version label, 85000 / 65000 fen per person per month.
    assert summary(policy) == (
        "locality default version 2026-01-01 effective 2026-01-01; area codes none (chosen by name or as the "
        "default); standard urban 850.00 / rural 650.00 yuan per person per month; sha256 " + policy.sha256()[:16]
    )


def test_the_summary_of_a_locality_lists_its_area_codes(tmp_path: Path) -> None:
    line = summary(load_policy(locality_policy(tmp_path)))
    assert line.startswith("locality 533401 version 2026-01-01 effective 2026-01-01; area codes 533401; ")
    assert "none (chosen by name" not in line


def test_check_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = locality_policy(tmp_path)
    code, out, err = run(capsys, "policy", "check", str(path))
    assert (code, err) == (0, "")
    assert out == f"{path}: valid: {summary(load_policy(path))}\n"


def test_check_names_the_file_once_and_the_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = locality_policy(tmp_path, "mystery = 1\n")
    code, out, err = run(capsys, "policy", "check", str(path))
    assert (code, out) == (2, "")
    assert err == f"hedui: error: {path}: mystery: unknown key\n"
    absent = tmp_path / "absent.toml"
    code, _, err = run(capsys, "policy", "check", str(absent))
    assert code == 2 and err.count(str(absent)) == 1 and "cannot read" in err, err


def test_list_marks_the_default_and_says_which_policy_an_organisation_gets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = locality_policy(tmp_path)
    argv = ["policy", "list", "--policy", str(path), "--commissioned-by", "533401-civil-affairs"]
    code, out, err = run(capsys, *argv, "--date", "2026-11-01")
    assert (code, err) == (0, ""), err
    lines = out.splitlines()
    assert lines[-1] == "533401-civil-affairs on 2026-11-01 → locality 533401 version 2026-01-01"
    assert [line.endswith(" (default)") for line in lines[:-1]] == [
        line.startswith("locality default") for line in lines[:-1]
    ]
    assert sum(line.endswith(" (default)") for line in lines) == 1


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--commissioned-by", "x", "--date", "tomorrow"], "--date 'tomorrow' is not a date YYYY-MM-DD"),
        (["--policy", "absent.toml"], "absent.toml: cannot read"),
    ],
)
def test_list_refuses_bad_input_with_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    code, _, err = run(capsys, "policy", "list", *argv)
    assert code == 2
    assert err.count("\n") == 1 and words in err, err
