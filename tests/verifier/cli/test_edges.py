"""Failures at the edges: a command that cannot open, create or write its database or its key files exits 2 with
one line and leaves nothing behind; only the service and ``hedui verify`` create key files."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
from hedui_cli import HEDUI, ORG, keys, ok, service_keys, usage_error
from hedui_cli import hedui_process as hedui
from own_cluster import own_cluster

pytestmark = pytest.mark.integration
REQUEST = Path(__file__).resolve().parents[3].parent / "shared" / "spec" / "examples" / "household-zhang.json"
# /proc takes no new files, for root too: the database or key file cannot be created there.
NO_DATABASE = "sqlite:////proc/hedui-test/hedui.db"


def left(directory: Path, *expected: str) -> list[str]:
    """Everything under ``directory`` besides the files the test itself wrote."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.name not in expected)


def config(tmp_path: Path, **keys_: str) -> Path:
    """A config file of these top-level keys."""
    path = tmp_path / "hedui.toml"
    path.write_text("".join(f'{key} = "{value}"\n' for key, value in keys_.items()), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["verify", str(REQUEST)],
        ["db", "migrate", "--db", NO_DATABASE],
        ["keys", "add", "--organisation", ORG, "--public-key", "PUBLIC", "--db", NO_DATABASE],
    ],
    ids=["serve", "verify", "db-migrate", "keys-add"],
)
@pytest.mark.usefixtures("no_hedui_variables")
def test_a_database_that_cannot_be_created_is_one_line_and_nothing_is_left(tmp_path: Path, command: list[str]) -> None:
    _, public, _ = keys(tmp_path, "org")
    path = config(tmp_path, database_url=NO_DATABASE, listen="127.0.0.1:0")
    args = [str(public) if a == "PUBLIC" else a for a in command]
    if command[0] in ("serve", "verify"):
        args += ["--config", str(path)]
    # keys add records its change under the service's keys, so they exist already (the service ran here once).
    made = [p.name for p in service_keys(tmp_path)] if command[0] == "keys" else []
    usage_error(hedui(*args, cwd=tmp_path), "database /proc/hedui-test/hedui.db: cannot open or create it")
    kept = [".hedui", *made] if made else []
    assert left(tmp_path, "hedui.toml", "org.pem", "org.pub.pem", *kept) == []  # no .hedui, no key file made


@pytest.mark.parametrize("command", [["serve"], ["verify", str(REQUEST)]], ids=["serve", "verify"])
@pytest.mark.usefixtures("no_hedui_variables")
def test_a_key_file_that_cannot_be_created_is_one_line_and_nothing_is_left(tmp_path: Path, command: list[str]) -> None:
    path = config(
        tmp_path,
        database_url=f"sqlite:///{tmp_path}/data/hedui.db",
        audit_subject_key_file=str(tmp_path / "keys" / "subject.key"),
        audit_log_key_file="/proc/hedui-test/log.key",
        listen="127.0.0.1:0",
    )
    done = hedui(*command, "--config", str(path), cwd=tmp_path)
    usage_error(done, "key file /proc/hedui-test/log.key: cannot create it")
    assert left(tmp_path, "hedui.toml") == []  # the database, its directory and the subject key went again


@pytest.mark.postgres
@pytest.mark.usefixtures("no_hedui_variables")
def test_a_postgresql_server_out_of_reach_is_one_line_and_no_key_file(tmp_path: Path) -> None:
    with own_cluster() as cluster:
        url = cluster.cluster.url("postgres")
        cluster.stop()
        path = config(tmp_path, database_url=url, listen="127.0.0.1:0")
        for command in (["serve", "--config", str(path)], ["verify", str(REQUEST), "--config", str(path)]):
            usage_error(hedui(*command, cwd=tmp_path), "database: busy or out of reach (ConnectionRefusedError)")
        usage_error(hedui("db", "migrate", "--db", url, cwd=tmp_path), "database: busy or out of reach")
        assert left(tmp_path, "hedui.toml") == []


@pytest.mark.usefixtures("no_hedui_variables")
def test_keys_add_creates_the_database_but_no_key_file(tmp_path: Path) -> None:
    _, public, _ = keys(tmp_path, "org")
    path = config(tmp_path, database_url=f"sqlite:///{tmp_path}/hedui.db")
    add = ("keys", "add", "--organisation", ORG, "--public-key", str(public), "--config", str(path))
    # Without the service's keys there is nothing to record the change with: refused, nothing made.
    usage_error(hedui(*add, cwd=tmp_path), "key files do not exist yet")
    assert left(tmp_path, "org.pem", "org.pub.pem", "hedui.toml") == []
    made = [p.name for p in service_keys(tmp_path, path)]  # the service ran here once
    ok(hedui(*add, cwd=tmp_path))
    assert left(tmp_path, "org.pem", "org.pub.pem", "hedui.toml", ".hedui", *made) == ["hedui.db"]
    listed = ok(hedui("keys", "list", "--config", str(path), cwd=tmp_path))
    assert ORG in listed
    for command in (["audit", "list"], ["audit", "anomalies"], ["audit", "export", "--out", str(tmp_path / "x")]):
        hedui(*command, "--config", str(path), cwd=tmp_path)
    assert sorted(p.name for p in (tmp_path / ".hedui").iterdir()) == sorted(made)  # the audit commands neither


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    shown = subprocess.Popen([*HEDUI, "config", "show"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert shown.stdout is not None and shown.stderr is not None
    shown.stdout.read(10)
    shown.stdout.close()  # like `| head -c 10`
    stderr = shown.stderr.read().decode()
    assert shown.wait(timeout=60) in (0, 141) and "Traceback" not in stderr and "BrokenPipe" not in stderr


@pytest.mark.usefixtures("no_hedui_variables")
def test_a_schema_newer_than_this_version_stops_serve_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hedui.db"
    ok(hedui("db", "migrate", "--db", url, cwd=tmp_path))
    with sqlite3.connect(tmp_path / "hedui.db") as connection:  # the next version's migration ran first
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    path = config(tmp_path, database_url=url, listen="127.0.0.1:0")
    usage_error(
        hedui("serve", "--config", str(path), cwd=tmp_path), "database: cannot bring the schema to this version"
    )


@pytest.mark.usefixtures("no_hedui_variables")
def test_an_address_in_use_stops_serve_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        path = config(
            tmp_path, database_url=f"sqlite:///{tmp_path}/hedui.db", listen="127.0.0.1:0", metrics_listen=address
        )
        done = hedui("serve", "--config", str(path), cwd=tmp_path)
    # The service had started (its log says so) when the port was refused: the last line says why, no traceback.
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"hedui: error: metrics_listen {address}: ") and "address already in use" in last


@pytest.mark.usefixtures("no_hedui_variables")
def test_no_command_makes_new_keys_for_a_database_that_holds_a_log(tmp_path: Path) -> None:
    """``hedui verify --db`` of the service's database, without its config: new keys would sign the log's next head
    with another key (a fork). Refused, one line, no key file made; with the service's config it runs."""
    service = tmp_path / "service"
    service.mkdir()
    path = config(
        service,
        database_url=f"sqlite:///{service}/hedui.db",
        audit_subject_key_file=str(service / "subject.key"),
        audit_log_key_file=str(service / "log.key"),
    )
    ok(hedui("verify", str(REQUEST), "--config", str(path), cwd=tmp_path))  # the service's log, under its keys
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    usage_error(
        hedui("verify", str(REQUEST), "--db", f"sqlite:///{service}/hedui.db", cwd=elsewhere),
        "the database already holds an audit log",
    )
    assert list(elsewhere.iterdir()) == []  # no .hedui, no key file
    ok(hedui("verify", str(REQUEST), "--config", str(path), cwd=elsewhere))
