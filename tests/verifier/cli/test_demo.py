"""``hedui demo`` as a user runs it (a subprocess), and the README's other command: the tests CI runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import REPO
from hedui_cli import hedui_process as hedui


@pytest.mark.integration
def test_demo_runs_through_the_grpc_api(tmp_path: Path) -> None:
    done = hedui("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for words in (
        "RegisterAuthorization",
        "CreateVerification",
        "WatchVerification",
        "GetReport",
        "DIBAO_AFTER_DEDUCTIONS",
    ):
        assert words in done.stdout
    assert "every query has its answer recorded" in done.stdout
    assert not (tmp_path / ".hedui").exists()


@pytest.mark.integration
def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    blocks = readme.split("```")
    commands = [b.strip().removeprefix("sh").strip() for b in blocks[1::2]]
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in ci
