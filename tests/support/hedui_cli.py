"""Running the ``hedui`` command in tests: in its own process, or in this one; and the files and keys it reads."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from verifier.cli import main
from verifier.config import load_settings

HEDUI = [sys.executable, "-m", "verifier.cli"]
ORG = "533401-civil-affairs"
APPLICANT = "533401197803120118"
SPOUSE = "53340119800605022X"


def hedui_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, in its own process, with its exit code and output."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*HEDUI, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env, check=False)


def hedui_here(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The same command run in this process (a second each saved on start-up), with its exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess([*HEDUI, *args], code, out.getvalue(), err.getvalue())


def hedui_captured(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command run in this process under pytest's capture: its exit code, stdout and stderr."""
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ok(done: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have succeeded."""
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def usage_error(done: subprocess.CompletedProcess[str], words: str) -> None:
    """A command refused as invalid input: exit 2 and one line on stderr holding ``words``."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert words in done.stderr, done.stderr


def write(path: Path, data: Any) -> Path:
    """``data`` as a UTF-8 JSON input file at ``path``."""
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def keys(tmp_path: Path, name: str) -> tuple[Path, Path, str]:
    """A key pair made by ``hedui keys generate``: private and public PEM files, and the key's id."""
    out = ok(hedui_here("keys", "generate", "--out", str(tmp_path / f"{name}.pem"), cwd=tmp_path))
    return tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem", out.split()[0]


def audit_events(tmp_path: Path, db_url: str, *args: str) -> list[dict[str, Any]]:
    """``hedui audit list --format json`` with ``args``: one dict an event."""
    out = ok(hedui_here("audit", "list", "--db", db_url, "--format", "json", *args, cwd=tmp_path))
    return [json.loads(line) for line in out.splitlines()]


def service_keys(cwd: Path, config: Path | None = None) -> list[Path]:
    """The service's key files, as its first start (``hedui serve``) creates them: under ``cwd/.hedui``, or
    where ``config`` puts them. The admin commands that record audit entries (``hedui keys …``) need them: each
    entry carries a MAC under the service's key. Returns the files created."""
    before = set(cwd.rglob("*"))
    with contextlib.chdir(cwd):
        load_settings(config, Path(".hedui"), environ=False)
    return sorted(p for p in cwd.rglob("*") if p not in before and p.is_file())
