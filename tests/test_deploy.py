"""deploy/: the systemd unit passes ``systemd-analyze verify`` and its ExecStart line runs a service that becomes
ready; the container image runs the same command; the example configuration is valid.

``systemd-analyze`` comes with Debian's ``systemd`` package, which .ci/run installs: under ``CI=true`` a missing
tool fails the test, elsewhere it is skipped saying so. The unit names hedui's install prefix ``/opt/hedui``;
the tests put this checkout's environment in its place (the one thing an installation changes).
"""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from harness import UNDER_CI, _free_port

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "hedui.service"
PREFIX = "/opt/hedui/bin/"
CONFIG = "/etc/hedui/hedui.toml"
HERE = str(Path(sys.executable).parent) + "/"


def _unit() -> configparser.ConfigParser:
    """The unit file's sections (systemd's syntax is close enough to INI for reading)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def _command(key: str) -> list[str]:
    """The unit's command line ``key`` with this checkout's environment and the repository's example config."""
    return [
        word.replace(PREFIX, HERE).replace(CONFIG, str(ROOT / "deploy" / "hedui.toml"))
        for word in shlex.split(_unit()["Service"][key])
    ]


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        message = "systemd-analyze not found (Debian package systemd)"
        if UNDER_CI:
            pytest.fail(message + " — .ci/run installs it")
        pytest.skip(message)
    unit = tmp_path / "hedui.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(PREFIX, HERE), encoding="utf-8")
    done = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "hedui.service" not in done.stderr, done.stderr


@pytest.mark.integration
def test_the_units_exec_start_line_runs_a_service_that_becomes_ready(tmp_path: Path) -> None:
    metrics = f"127.0.0.1:{_free_port()}"
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("HEDUI_")}
    env |= {  # the example config as it is, with this test's places for the state (the unit's StateDirectory)
        "HEDUI_DATABASE_URL": f"sqlite:///{tmp_path}/hedui.db",
        "HEDUI_LISTEN": f"127.0.0.1:{_free_port()}",
        "HEDUI_METRICS_LISTEN": metrics,
        "HEDUI_AUDIT_SUBJECT_KEY_FILE": str(tmp_path / "audit-subject.key"),
        "HEDUI_AUDIT_LOG_KEY_FILE": str(tmp_path / "audit-log.key"),
        "HEDUI_WITNESS_DIRS": f'["{tmp_path / "witness"}"]',
    }
    check = subprocess.run(_command("ExecStartPre"), env=env, capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen(_command("ExecStart"), cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://{metrics}/readyz", timeout=5) as ready:
                    status = ready.status
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
    assert '"message": "hedui stopped"' in stderr  # log_format = "json" in the example config


def test_the_image_runs_the_units_command() -> None:
    image = (ROOT / "deploy" / "Containerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["/opt/hedui/bin/hedui"]' in image
    assert 'CMD ["serve", "--config", "/etc/hedui/hedui.toml"]' in image
    assert shlex.split(_unit()["Service"]["ExecStart"]) == [f"{PREFIX}hedui", "serve", "--config", CONFIG]
    assert "USER hedui" in image and "HEALTHCHECK" in image and "/readyz" in image
