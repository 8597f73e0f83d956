"""The helpers every command shares: input files, option values, databases, settings, atomic output."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
from pathlib import Path

import pytest

from connectors import SandboxDataset
from connectors.sandbox import SandboxConnector
from consent import SigningKey
from consent.identity import CHINA_TIME
from verifier.cli._common import (
    HeduiParser,
    UsageError,
    atomic_output,
    check_db_url,
    configured_connectors,
    console,
    fail,
    instant,
    public_key,
    read_bytes,
    read_json,
    read_only_settings,
    require_database,
    sandbox_dataset,
    service_settings,
    shown,
    trust_store_settings,
    with_database,
)
from verifier.config import Settings

pytestmark = pytest.mark.usefixtures("no_hedui_variables")


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "request {path}: no such file"), (b"\xff", "not UTF-8"), (b"[1,", "not JSON: Expecting value at line 1")],
)
def test_read_json_names_the_file_and_what_is_wrong(tmp_path: Path, content: bytes | None, words: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError) as caught:
        read_json(path, "request")
    assert words.format(path=path) in str(caught.value)


def test_instants_without_an_offset_are_china_time() -> None:
    assert instant("2026-11-23T09:00", "--at") == dt.datetime(2026, 11, 23, 9, 0, tzinfo=CHINA_TIME)
    assert instant("2026-11-23T01:00+00:00", "--at") == dt.datetime(2026, 11, 23, 1, tzinfo=dt.UTC)
    assert instant(None, "--at") is None
    with pytest.raises(UsageError, match="--since: 'yesterday' is not a date or time"):
        instant("yesterday", "--since")
    assert shown(dt.datetime(2026, 11, 23, 1, tzinfo=dt.UTC)) == "2026-11-23 09:00"


@pytest.mark.parametrize(("url", "words"), [("mysql://u@h/db", "mysql is not supported"), ("::", "not a database URL")])
def test_only_sqlite_and_postgresql(url: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        check_db_url(url)
    assert check_db_url("postgresql://h/db") == "postgresql://h/db"


def test_reading_a_database_never_creates_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--db: there is no database at"):
        require_database(f"sqlite:///{tmp_path / 'none' / 'h.db'}")
    assert not (tmp_path / "none").exists()
    (tmp_path / "h.db").write_bytes(b"")
    assert require_database(f"sqlite:///{tmp_path / 'h.db'}")


def test_atomic_output_leaves_no_half_file(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"

    def interrupted() -> None:
        with atomic_output(target) as handle:
            handle.write(b"half")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted()
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as handle:
        handle.write(b"whole\n")
    assert target.read_bytes() == b"whole\n" and list(tmp_path.iterdir()) == [target]
    with pytest.raises(UsageError, match=r"--out: .* is not a directory"), atomic_output(tmp_path / "no" / "x"):
        pass


def test_trust_store_settings_take_the_service_keys_only_when_both_exist(tmp_path: Path) -> None:
    args = argparse.Namespace(config=None, db=None)
    # No key of the service's to record the change with (issue 12: every entry's MAC is under its key): refused.
    with pytest.raises(UsageError, match=r"key files do not exist yet \(audit_log_key_file .*audit_subject_key_file"):
        trust_store_settings(args)
    assert not (tmp_path / ".hedui").exists()
    (tmp_path / ".hedui").mkdir()
    (tmp_path / ".hedui" / "audit-log.key").write_text("11" * 32)
    with pytest.raises(UsageError, match=r"do not exist yet \(audit_subject_key_file"):
        trust_store_settings(args)  # one of the two is not enough
    (tmp_path / ".hedui" / "audit-subject.key").write_text("22" * 32)
    kept = trust_store_settings(argparse.Namespace(config=None, db="sqlite:///other.db"))
    assert (kept.audit_log_key, kept.audit_subject_key) == (b"\x11" * 32, b"\x22" * 32)
    assert kept.database_url == "sqlite:///other.db"


def test_configured_connectors_follow_the_config(tmp_path: Path) -> None:
    settings = Settings(departments={"tax": {"connector": "sandbox", "deadline_seconds": 3}})
    built = configured_connectors(settings, None)
    assert sorted(built) == sorted(["police", "housing", "tax", "vehicles", "banks", "social_security"])
    assert isinstance(built["tax"], SandboxConnector)
    with pytest.raises(UsageError, match=r"departments\.tax\.connector: no entry point 'nowhere'"):
        configured_connectors(Settings(departments={"tax": {"connector": "nowhere"}}), None)
    with pytest.raises(UsageError, match=r"sandbox .*absent\.json"):
        configured_connectors(Settings(), tmp_path / "absent.json")


def test_a_bad_command_line_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    parser = HeduiParser(prog="hedui")
    parser.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(["--n", "many"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("hedui: error: argument --n: invalid int value") and err.count("\n") == 1


def test_usage_error_has_one_definition_here() -> None:
    assert UsageError.__module__ == "verifier.cli._common"
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("verifier.usage")


@pytest.mark.parametrize(
    ("message", "line"),
    [("first\nsecond\n", "hedui: error: first\n"), ("  \n", "hedui: error: error\n")],
)
def test_fail_prints_one_line_and_exits_2(capsys: pytest.CaptureFixture[str], message: str, line: str) -> None:
    with pytest.raises(SystemExit) as caught:
        fail(message)
    assert caught.value.code == 2
    assert capsys.readouterr() == ("", line)


def test_read_bytes_names_what_could_not_be_read(tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_bytes(b"pem")
    assert read_bytes(tmp_path / "k.pem", "--key") == b"pem"
    with pytest.raises(UsageError, match=r"^--key .*absent\.pem: no such file$"):
        read_bytes(tmp_path / "absent.pem", "--key")
    with pytest.raises(UsageError, match=r"^--key .*absent\.pem: cannot read: No such file or directory$"):
        read_bytes(tmp_path / "absent.pem", "--key", name_missing=False)
    with pytest.raises(UsageError, match=r"^--key .*: cannot read: Is a directory$"):
        read_bytes(tmp_path, "--key")


def test_a_public_key_file_must_hold_a_public_key(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(UsageError, match=r"^--public-key .*junk\.pem: not a PEM public key"):
        public_key(tmp_path / "junk.pem")
    pem = SigningKey.generate_ed25519().public_pem()
    (tmp_path / "org.pub.pem").write_bytes(pem)
    assert public_key(tmp_path / "org.pub.pem", "--certificate") == pem


def test_a_sandbox_file_that_is_no_dataset_names_its_option(tmp_path: Path) -> None:
    (tmp_path / "sb.json").write_text('{"weather": {}}')
    with pytest.raises(UsageError, match=r"^--sandbox: weather: unknown section$"):
        sandbox_dataset(tmp_path / "sb.json", "--sandbox")
    assert sandbox_dataset(None, "--sandbox") == SandboxDataset.demo()


# --- config resolution ----------------------------------------------------------------------------------


def test_settings_readers_turn_a_bad_config_into_one_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text("mystery = 1\n")
    for read in (read_only_settings, service_settings):
        with pytest.raises(UsageError, match=r"^mystery: unknown key$"):
            read(config)
    assert not (tmp_path / ".hedui").exists()


def test_read_only_settings_create_no_key_and_service_settings_do(tmp_path: Path) -> None:
    readonly = read_only_settings(None, tmp_path / "keys")
    assert set(readonly.missing_key_files) == {"audit_subject_key_file", "audit_log_key_file"}
    assert not (tmp_path / "keys").exists()
    service = service_settings(None, tmp_path / "keys")
    assert service.missing_key_files == {}
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["audit-log.key", "audit-subject.key"]


def test_db_overrides_the_configured_database_after_its_check() -> None:
    settings = Settings(database_url="sqlite:///configured.db")
    assert with_database(settings, None).database_url == "sqlite:///configured.db"
    assert with_database(settings, "postgresql://h/db").database_url == "postgresql://h/db"
    with pytest.raises(UsageError, match="--db: mysql is not supported"):
        with_database(settings, "mysql://u@h/db")


def test_tables_have_a_fixed_width_when_the_output_is_no_terminal() -> None:
    # pytest captures stdout: it is no terminal.
    assert console().width == 120
    assert console(180).width == 180
