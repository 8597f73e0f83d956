"""docs/connectors.md, followed from a blank directory: its own package files and config, built, installed, checked.

The guide's blocks marked ```LANG file=NAME are the files a department developer writes; this test
writes them into an empty directory, installs the package with pip (into a temporary target, found
through PYTHONPATH) and runs the guide's own ``hedui connector check`` line, which must pass.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from department_packages import REPO, doc_files, hedui, install, write_files

pytestmark = pytest.mark.integration
GUIDE = REPO / "docs" / "connectors.md"
PACKAGE_FILES = ("pyproject.toml", "gongjijin_connector/__init__.py")


def test_the_guide_shows_every_file_of_the_walkthrough() -> None:
    files = doc_files(GUIDE)
    assert list(files) == [*PACKAGE_FILES, "fund-records.json", "hedui.toml", "check.sh"]
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
    assert "provident_fund_centre: 9 of 9 checks passed" in done.stdout
    # both of the records the guide's data holds for the person asked about, in one full batch
    assert "50 identity numbers in one query: 2 records, the same as 1 single query" in done.stdout
