"""``hedui serve`` as an operator runs it: a subprocess answering health checks, its configuration, its help."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hedui_cli import HEDUI
from hedui_cli import hedui_captured as run
from hedui_cli import hedui_process as hedui

import connectors as connectors_package
import verifier as verifier_package
from verifier.cli import serve as serve_command
from verifier.cli._common import UsageError
from verifier.config import HeduiConfig
from verifier.config._schema import env_name

# The keys of issue 15 (logs, tracing), set to values that are not their defaults.
OBSERVABILITY_VALUES = {
    "log_format": "json",
    "log_level": "WARNING",
    "health_check_interval_seconds": "1.5",
    "tracing": "true",  # spans to stderr: no OTLP exporter is installed
}


def _development_channel(cwd: Path, port: int) -> grpc.Channel:
    """Issue 13: a channel to ``hedui serve`` without [tls], as its admin client (the development CA it made)."""
    tls = cwd / ".hedui" / "tls"
    deadline = time.monotonic() + 30
    while not (tls / "admin.pem").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the server makes the CA when it starts
    credentials = grpc.ssl_channel_credentials(
        (tls / "ca.pem").read_bytes(), (tls / "admin.key").read_bytes(), (tls / "admin.pem").read_bytes()
    )
    return grpc.secure_channel(
        f"127.0.0.1:{port}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    )


@pytest.mark.integration
def test_serve_answers_health_checks_and_stops_on_sigterm(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "hedui.toml"
    config.write_text(f'listen = "127.0.0.1:{port}"\ndatabase_url = "sqlite:///{tmp_path}/serve.db"\n')
    server = subprocess.Popen(
        [*HEDUI, "serve", "--config", str(config)], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        with _development_channel(tmp_path, port) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            while time.monotonic() < deadline:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="hedui.v1.VerificationService"), timeout=5
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert (tmp_path / "serve.db").exists()
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert f"127.0.0.1:{port}" in stderr


@pytest.mark.integration
def test_serve_takes_its_whole_configuration_from_hedui_variables(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "HEDUI_LISTEN": f"127.0.0.1:{port}",
        "HEDUI_DATABASE_URL": f"sqlite:///{tmp_path}/env.db",
        "HEDUI_AUDIT_LOG_KEY_FILE": str(tmp_path / "keys" / "log.key"),
        "HEDUI_AUDIT_SUBJECT_KEY_FILE": str(tmp_path / "keys" / "subject.key"),
        "HEDUI_DEPARTMENTS__BANKS__DEADLINE_SECONDS": "30",
        "HEDUI_TLS__PLAINTEXT": "true",  # issue 13: no development CA (it would be made under ./.hedui)
        "HEDUI_KEY_DIR": str(tmp_path / "master-keys"),  # issue 17: the master keys (default ./.hedui/master-keys)
    }
    shown = subprocess.run(
        [*HEDUI, "config", "show"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert shown.returncode == 0, shown.stderr
    assert f'listen = "127.0.0.1:{port}"  # env HEDUI_LISTEN' in shown.stdout.splitlines()
    assert "deadline_seconds = 30.0  # env HEDUI_DEPARTMENTS__BANKS__DEADLINE_SECONDS" in shown.stdout
    server = subprocess.Popen([*HEDUI, "serve"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
        assert (tmp_path / "env.db").exists()
        assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["log.key", "subject.key"]
        assert any((tmp_path / "master-keys").iterdir())  # the master key wrapping the data keys, made at start
        assert not (tmp_path / ".hedui").exists()
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr


@pytest.mark.integration
def test_serve_with_a_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text('listen = "127.0.0.1:1"\nmystery = 3\n')
    done = hedui("serve", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert "mystery: unknown key" in done.stderr


def test_serve_help_points_to_config_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "serve", "--help")
    assert code == 0
    assert "hedui config show" in out and "HEDUI_" in out
    assert "docs/operations.md" in out  # where every key is documented


# --- the configuration checked before anything is created (verifier/cli/serve.py), in-process ----------------


@pytest.mark.usefixtures("no_hedui_variables")
@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('policy_files = ["absent-policy.toml"]\n', "absent-policy.toml"),
        ('sandbox = "absent-sandbox.json"\n', "absent-sandbox.json"),
        ('[departments.tax]\nconnector = "nowhere"\n', "departments.tax.connector: no entry point 'nowhere'"),
    ],
)
def test_every_part_of_the_config_is_checked_before_a_key_file_is_created(
    tmp_path: Path, toml: str, words: str
) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text(toml, encoding="utf-8")
    with pytest.raises(UsageError, match=re.escape(words)):
        serve_command._checked(config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hedui.toml"]


@pytest.mark.usefixtures("no_hedui_variables")
def test_a_good_config_gives_the_service_settings_with_their_keys_and_the_connectors(tmp_path: Path) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text(f'audit_log_key_file = "{tmp_path / "keys" / "log.key"}"\n', encoding="utf-8")
    settings, connectors = serve_command._checked(config)
    assert list(connectors) == ["police", "housing", "tax", "vehicles", "banks", "social_security"]
    assert settings.missing_key_files == {} and len(settings.audit_log_key) == 32
    assert (tmp_path / "keys" / "log.key").exists()


def _free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _every_key_from_the_environment(tmp_path: Path) -> dict[str, str]:
    """A ``HEDUI_*`` variable for every top-level key of the schema (and one department's), none of them defaults."""
    sandbox = Path(connectors_package.__file__).parent / "data" / "demo-sandbox.json"
    policy = Path(verifier_package.__file__).parent / "policies" / "default.toml"
    values = {
        "database_url": f"sqlite:///{tmp_path}/env.db",
        "database_pool_size": "3",
        "database_max_overflow": "4",
        "database_pool_timeout_seconds": "6",
        "listen": f"127.0.0.1:{_free_port()}",
        "sandbox": str(sandbox),
        "policy_files": json.dumps([str(policy)]),
        "department_deadline_seconds": "11",
        "poll_interval_seconds": "2",
        "pending_deadline_seconds": "3600",
        "work_lease_seconds": "31",
        "work_claim_interval_seconds": "0.6",
        "audit_subject_key_file": str(tmp_path / "keys" / "subject.key"),
        "audit_log_key_file": str(tmp_path / "keys" / "log.key"),
        "audit_log_origin": "hedui.county.example/audit",
        "audit_integrate_seconds": "0.3",
        "witness_dirs": json.dumps([str(tmp_path / "witness")]),
        "metrics_listen": f"127.0.0.1:{_free_port()}",
        **OBSERVABILITY_VALUES,
        "audit_entry_key_file": str(tmp_path / "keys" / "entry.key"),
        "audit_log_state_file": str(tmp_path / "state" / "signer.state"),
        "audit_integration_bound_seconds": "600",
        "centre": json.dumps({"name": "香格里拉市社会救助家庭经济状况核对中心"}, ensure_ascii=False),
        "witness_policy": json.dumps({"quorum": 0, "timeout_seconds": 4}),
        "tiles_listen": f"127.0.0.1:{_free_port()}",
        "tiles_entries": "false",
        "tls": json.dumps({"plaintext": True}),  # issue 13: on loopback, without the development CA
        # issue 17's block (serve then runs under the sm suite, its SM2 log key made where the variable says)
        "crypto_suite": "sm",
        "key_provider": "file",
        "key_dir": str(tmp_path / "master-keys"),
        "department_answers_months": "6",
        "audit_log_sm2_key_file": str(tmp_path / "keys" / "log-sm2.key"),
    }
    assert set(values) == set(HeduiConfig.model_fields) - {"departments"}, "a key of the schema is not covered"
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("HEDUI_")}
    env |= {env_name(key): value for key, value in values.items()}
    env["HEDUI_DEPARTMENTS__BANKS__DEADLINE_SECONDS"] = "30"
    return env


@pytest.mark.integration
def test_config_show_names_the_variable_of_every_key_serve_runs_with(tmp_path: Path) -> None:
    env = _every_key_from_the_environment(tmp_path)
    shown = subprocess.run(
        [*HEDUI, "config", "show", "--format", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    values = {v["key"]: v for v in map(json.loads, shown.stdout.splitlines())}
    for key in set(HeduiConfig.model_fields) - {"departments"}:
        assert values[key]["source"] == "env", key
    assert values["departments.banks.deadline_seconds"] == {
        "key": "departments.banks.deadline_seconds",
        "value": 30.0,
        "source": "env",
    }
    assert values["departments.tax.deadline_seconds"]["value"] == 11.0  # the top-level default, from its variable
    assert values["departments.tax.deadline_seconds"]["source"] == "default"
    text = subprocess.run(
        [*HEDUI, "config", "show"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    ).stdout.splitlines()
    assert "database_pool_size = 3  # env HEDUI_DATABASE_POOL_SIZE" in text
    server = subprocess.Popen([*HEDUI, "serve"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        with grpc.insecure_channel(env["HEDUI_LISTEN"]) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
        assert (tmp_path / "env.db").exists()
        assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
            "entry.key",
            "log-sm2.key",
            "log.key",
            "subject.key",
        ]
        assert (tmp_path / "witness").is_dir()
        assert not (tmp_path / ".hedui").exists()
        metrics = f"http://{env['HEDUI_METRICS_LISTEN']}"
        with urllib.request.urlopen(f"{metrics}/readyz", timeout=30) as ready:  # the operator's port answers
            assert ready.status == 200
        with urllib.request.urlopen(f"{metrics}/metrics", timeout=30) as scraped:
            assert "grpc_server_started_total" in scraped.read().decode()
        with pytest.raises(urllib.error.HTTPError) as no_tile:  # the tiles' port answers (issue 12)
            urllib.request.urlopen(f"http://{env['HEDUI_TILES_LISTEN']}/tile/0/000", timeout=30)
        assert no_tile.value.code == 404
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
