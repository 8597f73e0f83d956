"""``hedui departments status``: the running service's health of each department, read from its metrics."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hedui_cli import hedui_captured as run

pytestmark = pytest.mark.usefixtures("no_hedui_variables")

# As the service's /metrics writes these series (connectors/health.py), by hand: tax failing, banks well.
PAGE = """# HELP hedui_department_health Sahamati's rule
# TYPE hedui_department_health gauge
hedui_department_health{department="tax",status="GOOD"} 0.0
hedui_department_health{department="tax",status="BAD"} 1.0
hedui_department_health{department="tax",status="UNKNOWN"} 0.0
hedui_department_health{department="banks",status="GOOD"} 1.0
hedui_department_health{department="banks",status="BAD"} 0.0
hedui_department_health{department="banks",status="UNKNOWN"} 0.0
# HELP hedui_department_window_calls Calls
# TYPE hedui_department_window_calls gauge
hedui_department_window_calls{department="tax"} 20.0
hedui_department_window_calls{department="banks"} 40.0
# HELP hedui_department_window_success_ratio Share
# TYPE hedui_department_window_success_ratio gauge
hedui_department_window_success_ratio{department="tax"} 0.5
hedui_department_window_success_ratio{department="banks"} 1.0
# HELP hedui_department_window_median_seconds Median bucket
# TYPE hedui_department_window_median_seconds gauge
hedui_department_window_median_seconds{department="tax"} 0.05
hedui_department_window_median_seconds{department="banks"} 2.0
"""


@pytest.fixture
def metrics_url() -> Iterator[str]:
    """A metrics endpoint serving :data:`PAGE`."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()


def test_every_declared_department_with_its_status(metrics_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "departments", "status", "--metrics", metrics_url, "--format", "json")
    assert (code, err) == (0, "")
    lines = {line["department"]: line for line in map(json.loads, out.splitlines())}
    assert list(lines) == ["police", "housing", "tax", "vehicles", "banks", "social_security"]
    assert lines["tax"] == {
        "department": "tax",
        "status": "BAD",
        "calls": 20,
        "success_ratio": 0.5,
        "median_at_most_seconds": 0.05,
    }
    assert (lines["banks"]["status"], lines["banks"]["calls"]) == ("GOOD", 40)
    assert lines["police"] == {
        "department": "police",
        "status": "UNKNOWN",
        "calls": 0,
        "success_ratio": None,
        "median_at_most_seconds": None,
    }
    code, out, _ = run(capsys, "departments", "status", "--metrics", metrics_url)
    assert code == 0 and "BAD" in out and "50.0%" in out and "≤ 2 s" in out


def test_the_configured_metrics_listen_is_read(
    tmp_path: Path, metrics_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text(f'metrics_listen = "{metrics_url.removeprefix("http://").removesuffix("/metrics")}"\n')
    code, out, _ = run(capsys, "departments", "status", "--config", str(config), "--format", "json")
    assert code == 0 and '"status": "BAD"' in out


def test_no_endpoint_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "departments", "status")
    assert (code, out) == (2, "")
    assert err == "hedui: error: give --metrics URL: the configuration sets no metrics_listen\n"
    code, _, err = run(capsys, "departments", "status", "--metrics", "http://127.0.0.1:1/metrics")
    assert code == 2 and err.startswith("hedui: error: --metrics http://127.0.0.1:1/metrics: cannot read it (")
