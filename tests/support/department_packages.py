"""A department's connector package, installed for real: pip into a temporary target, found through PYTHONPATH.

Used by the tests of the department developer's path (tests/connectors/test_department_packages.py,
tests/test_docs_connectors.py): build and install a package with pip exactly as a verification centre
would (``pip install --no-deps --no-index --no-build-isolation --target DIR PKG``: no network, the
build backend of hedui's own environment), then run ``hedui`` in a subprocess that finds it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = REPO / "tests" / "packages"
HEDUI = [sys.executable, "-m", "verifier.cli"]
# A fenced block of docs/connectors.md the test builds from: ```lang file=NAME (the file's path in the package)
_DOC_BLOCK = re.compile(r"^```[a-z]+ file=(?P<name>\S+)\n(?P<text>.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Installed:
    """A package installed into ``target``; ``env`` is the environment a subprocess finds it in."""

    target: Path
    env: Mapping[str, str]


def install(package: Path, target: Path) -> Installed:
    """Build and install the package in directory ``package`` into ``target`` with pip; fail the test if pip fails.

    The package is built from a copy beside ``target``: a build leaves ``build/`` and ``*.egg-info`` behind, and the
    checked-in packages under tests/packages stay as they are.
    """
    package = shutil.copytree(
        package, target.parent / f"{package.name}-source", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--no-cache-dir",
            "--target",
            str(target),
            str(package),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"pip install {package.name} failed:\n{done.stdout}\n{done.stderr}"
    path = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)
    return Installed(target, {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"})


def hedui(installed: Installed, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``hedui ARGS`` in a subprocess that finds the installed package."""
    return subprocess.run(
        [*HEDUI, *args], cwd=cwd, env=dict(installed.env), capture_output=True, text=True, timeout=300, check=False
    )


def doc_files(markdown: Path) -> dict[str, str]:
    """The files a document shows in blocks marked ```LANG file=NAME, by name (in the order shown)."""
    return {m["name"]: m["text"] for m in _DOC_BLOCK.finditer(markdown.read_text(encoding="utf-8"))}


def write_files(files: Mapping[str, str], directory: Path) -> Path:
    """Write ``files`` (name → text) under ``directory``, creating folders; return ``directory``."""
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


def verify_through_config(
    installed: Installed, config: Path, request: Path, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """A whole verification through the configured connectors: ``hedui verify --config CONFIG REQUEST --format json``.

    For the lead to extend at merge, when ``hedui verify`` takes ``--config`` (not on this branch):
    the end-to-end test of the department developer's path then asserts the new department's records
    in the report, the HTML view and the audit log.
    """
    return hedui(installed, "verify", "--config", str(config), str(request), "--format", "json", cwd=cwd)
