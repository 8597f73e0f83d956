"""Fixtures of the command tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def no_hedui_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ``HEDUI_*`` variable of the shell reaches the command, and it runs in the test's own directory."""
    for name in list(os.environ):
        if name.upper().startswith("HEDUI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
