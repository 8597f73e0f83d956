"""``hedui db migrate`` on SQLite: the schema created (the PostgreSQL role part: tests/audit/test_service_role.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hedui_cli import hedui_captured as run

pytestmark = pytest.mark.usefixtures("no_hedui_variables")


def tables(path: Path) -> set[str]:
    """The tables of a SQLite database file."""
    with sqlite3.connect(path) as connection:
        return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.db"
    for _ in range(2):
        code, out, err = run(capsys, "db", "migrate", "--db", f"sqlite:///{path}")
        assert (code, out, err) == (0, "database at the newest schema\n", "")
    assert {"audit_entries", "audit_leaves", "audit_tree_heads", "trusted_keys"} <= tables(path)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--db", "mysql://u@h/db"], "--db: mysql is not supported"),
        (["--db", "::"], "is not a database URL"),
        (["--db", "sqlite:///h.db", "--service-role", "hedui"], "--service-role: database roles exist on PostgreSQL"),
        ([], "the following arguments are required: --db"),
    ],
)
def test_migrate_refuses_bad_input_with_one_line_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    code, out, err = run(capsys, "db", "migrate", *argv)
    assert (code, out) == (2, "")
    assert err.startswith("hedui: error: ") and err.count("\n") == 1 and words in err, err
    assert list(tmp_path.iterdir()) == []
