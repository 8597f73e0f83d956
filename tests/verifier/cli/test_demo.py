"""``hedui demo`` as a user runs it (a subprocess), and the README's other command: the tests CI runs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from harness import REPO
from hedui_cli import hedui_process as hedui
from rich.console import Console

from hedui.v1 import audit_pb2
from verifier.cli import demo as demo_command


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


# --- the audit trail's check (verifier/cli/demo.py), in-process ---------------------------------------------


def trail(*kinds: str) -> list[audit_pb2.AuditEvent]:
    """Audit events of these kinds, in order."""
    return [audit_pb2.AuditEvent(kind=kind) for kind in kinds]


SENT, ANSWERED = "DEPARTMENT_QUERY_SENT", "DEPARTMENT_ANSWER_RECEIVED"


@pytest.mark.parametrize(
    ("kinds", "complete"),
    [
        ((SENT, SENT, ANSWERED, "DEPARTMENT_ANSWER_PENDING", "REPORT_CREATED", "REPORT_READ"), True),
        ((SENT, "DEPARTMENT_QUERY_FAILED", "REPORT_CREATED", "REPORT_READ"), True),
        ((SENT, SENT, ANSWERED, "REPORT_CREATED", "REPORT_READ"), False),  # a query without its answer
        ((SENT, ANSWERED, "REPORT_READ"), False),  # no report was created
        ((SENT, ANSWERED, "REPORT_CREATED"), False),  # nobody read it
        (("REPORT_CREATED", "REPORT_READ"), False),  # nothing was asked
    ],
)
def test_the_trail_is_complete_when_every_query_is_settled_and_the_report_read(
    kinds: tuple[str, ...], complete: bool
) -> None:
    buffer = io.StringIO()
    out = Console(file=buffer, width=200)
    assert demo_command._trail_complete(trail(*kinds), out) is complete
    printed = buffer.getvalue()
    assert f"DEPARTMENT_QUERY_SENT ×{kinds.count(SENT)}" in printed or SENT not in kinds
    assert ("every query has its answer recorded" in printed) is complete
    assert (demo_command.INCOMPLETE in printed) is not complete
