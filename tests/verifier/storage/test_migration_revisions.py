"""The migrations' revisions as hedui reads them without importing Alembic, against Alembic's own reading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from verifier.storage import db as storage_db


def test_the_head_and_the_revisions_are_alembic_s() -> None:
    scripts = ScriptDirectory(str(storage_db.MIGRATIONS))
    revisions = frozenset(script.revision for script in scripts.walk_revisions())
    assert storage_db.migration_revisions() == (scripts.get_current_head(), revisions)
    assert len(revisions) >= 12 and "0001" in revisions


def test_a_chain_that_is_not_one_line_of_constants_is_left_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (versions / "b.py").write_text('revision: str = "b"\ndown_revision = "a"\n')
    monkeypatch.setattr(storage_db, "MIGRATIONS", tmp_path)
    assert storage_db.migration_revisions.__wrapped__() == ("b", frozenset({"a", "b"}))
    (versions / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')  # two heads
    asked: list[str] = []
    monkeypatch.setattr(storage_db, "_revisions_by_alembic", lambda: asked.append("alembic") or ("?", frozenset()))
    assert storage_db.migration_revisions.__wrapped__() == ("?", frozenset()) and asked == ["alembic"]
    (versions / "c.py").write_text('revision = make()\ndown_revision = "b"\n')  # not a constant
    assert storage_db.migration_revisions.__wrapped__() == ("?", frozenset()) and asked == ["alembic"] * 2
    (versions / "c.py").write_text('revision = "c"\ndown_revision = ("a", "b")\n')  # a merge: not one line
    assert storage_db.migration_revisions.__wrapped__() == ("?", frozenset()) and asked == ["alembic"] * 3


def test_the_command_line_starts_without_alembic() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, verifier.cli; print('alembic' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
