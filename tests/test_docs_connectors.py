"""docs/connectors.md, followed from a blank directory: its own package files and config, built, installed, checked.

The guide's blocks marked ```LANG file=NAME are the files a department developer writes; this test
writes them into an empty directory, installs the package with pip (into a temporary target, found
through PYTHONPATH), runs the guide's own ``hedui connector check`` line, which must pass, and then the
guide's ``hedui verify --config`` line: a whole verification through the new department's connector.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from department_packages import REPO, Installed, doc_files, hedui, install, write_files

pytestmark = pytest.mark.integration
GUIDE = REPO / "docs" / "connectors.md"
EXAMPLE_REQUEST = REPO.parent / "shared" / "spec" / "examples" / "household-zhang.json"
APPLICANT = "533401197803120118"
PACKAGE_FILES = ("pyproject.toml", "gongjijin_connector/__init__.py")


def test_the_guide_shows_every_file_of_the_walkthrough() -> None:
    files = doc_files(GUIDE)
    assert list(files) == [*PACKAGE_FILES, "fund-records.json", "hedui.toml", "check.sh", "verify.sh"]
    assert '[project.entry-points."hedui.connectors"]' in files["pyproject.toml"]
    assert "from connectors.base import" in files["gongjijin_connector/__init__.py"]
    for key in ("name_zh", "name_en", "record_kinds", "connector"):
        assert f"\n{key} = " in files["hedui.toml"]


def test_a_developer_following_the_guide_gets_a_passing_check(tmp_path: Path) -> None:
    files = doc_files(GUIDE)
    package = write_files({name: files[name] for name in PACKAGE_FILES}, tmp_path / "gongjijin-connector")
    centre = write_files({name: files[name] for name in ("fund-records.json", "hedui.toml")}, tmp_path / "centre")
    installed = install(package, tmp_path / "site")
    commands = [shlex.split(line) for line in files["check.sh"].splitlines() if line.startswith("hedui ")]
    assert len(commands) == 1
    done = hedui(installed, *commands[0][1:], cwd=centre)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "provident_fund_centre: 10 of 10 checks passed" in done.stdout
    # both of the records the guide's data holds for the person asked about, in one full batch
    assert "50 identity numbers in one query: 2 records, the same as 1 single query" in done.stdout


def _guide_line(files: dict[str, str], block: str) -> list[str]:
    """The one ``hedui …`` line of a block of the guide, as arguments."""
    commands = [shlex.split(line) for line in files[block].splitlines() if line.startswith("hedui ")]
    assert len(commands) == 1
    return commands[0][1:]


def _centre(tmp_path: Path) -> tuple[Installed, Path]:
    """The guide's package installed and the centre's directory with its config, data and a request."""
    files = doc_files(GUIDE)
    package = write_files({name: files[name] for name in PACKAGE_FILES}, tmp_path / "gongjijin-connector")
    centre = write_files({name: files[name] for name in ("fund-records.json", "hedui.toml")}, tmp_path / "centre")
    (centre / "household.json").write_bytes(EXAMPLE_REQUEST.read_bytes())
    return install(package, tmp_path / "site"), centre


def test_a_verification_runs_through_the_guide_s_department(tmp_path: Path) -> None:
    installed, centre = _centre(tmp_path)
    done = hedui(installed, *_guide_line(doc_files(GUIDE), "verify.sh"), cwd=centre)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    sources = {s["department"]: (s["status"], s["records"]) for s in report["sources"]}
    assert sources["provident_fund_centre"] == ("ok", 2)  # the guide's two months of fund records
    # warnings.md: EMPLOYER_CONTRIBUTIONS (LOW) — an employer paid into the fund inside the window (2026-02, 2026-03
    # lie in the twelve months before 2026-11-01); the evidence is the centre's, so is the warning's department.
    (flag,) = report["flags"]
    assert (flag["code"], flag["severity"], flag["id_number"], flag["department"]) == (
        "EMPLOYER_CONTRIBUTIONS",
        "LOW",
        APPLICANT,
        "provident_fund_centre",
    )
    assert [e["record_id"] for e in flag["evidence"]] == ["GJJ-2026-02-0118", "GJJ-2026-03-0118"]
    # A LOW warning changes no figure: the example's classification stands (tests/verifier/cli/test_verify.py).
    assert report["assessment"]["classification"] == "DIBAO_AFTER_DEDUCTIONS"
    html = hedui(installed, *_guide_line(doc_files(GUIDE), "verify.sh")[:-1], "html", cwd=centre)
    assert html.returncode == 0, html.stderr
    assert "住房公积金管理中心" in html.stdout
