"""`hedui audit list / anomalies / public-key / export` as a supervisor uses them."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from harness import example_request, example_sandbox, running_service
from hedui_cli import hedui_captured

from audit.checkpoint import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint
from audit.events import AuditEvent, canonical_entry
from audit.log import AuditLog, EntryFilter, StoredEntry
from audit.merkle import MerkleTree, leaf_hash
from audit.verify import export_entry_line, export_head_line, export_header_line
from audit.witness import FileWitness
from consent.identity import CHINA_TIME
from verifier.cli import audit as audit_command
from verifier.cli._common import UsageError
from verifier.config import load_settings
from verifier.storage.db import Database

KEY = b"k" * 32  # the subject key running_service gives the service
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # when the test exports' entries were written


async def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The command in a thread of this process (its ``asyncio.run`` beside the test's loop), under capture."""
    return await asyncio.to_thread(hedui_captured, capsys, *argv)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    key_file = tmp_path / "subject.key"
    key_file.write_text(KEY.hex())
    path = tmp_path / "hedui.toml"
    path.write_text(
        f'audit_subject_key_file = "{key_file}"\naudit_log_key_file = "{tmp_path / "log.key"}"\n'
        'audit_log_origin = "test.hedui/audit"\n'
    )
    return path


@pytest.mark.integration
async def test_list_by_person_operator_department_and_time(
    db_url: str, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:

    request = example_request()
    spouse = request["members"][1]["id_number"]
    async with running_service(db_url, example_sandbox()) as h:
        verification = await h.run(request)
    base = ["audit", "list", "--db", db_url, "--config", str(config), "--format", "json"]
    code, out, _ = await run([*base, "--person", spouse], capsys)
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert {"VERIFICATION_CREATED", "DEPARTMENT_QUERY_SENT"} <= {e["kind"] for e in events}
    assert spouse not in out  # only the keyed hash is in the log
    code, out, _ = await run([*base, "--department", "banks", "--kind", "DEPARTMENT_QUERY_SENT"], capsys)
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 1 and events[0]["department"] == "banks"
    assert events[0]["verification"] == verification.name.removeprefix("verifications/")
    code, out, _ = await run([*base, "--operator", "nobody"], capsys)
    assert code == 0 and out == ""
    code, out, _ = await run([*base, "--since", "2999-01-01"], capsys)
    assert code == 0 and out == ""
    code, _, err = await run([*base, "--since", "next tuesday"], capsys)
    assert code == 2 and "--since" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "log.key").exists()  # listing needs the subject key only, and creates none


@pytest.mark.integration
async def test_anomalies_name_a_query_without_a_case(
    db_url: str, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_service(db_url, example_sandbox()) as h:
        await h.run(example_request())
    code, out, _ = await run(
        ["audit", "anomalies", "--db", db_url, "--config", str(config), "--format", "json"], capsys
    )
    assert code == 0
    assert "QUERY_WITHOUT_CASE" not in out
    # Somebody queries the tax bureau with no verification behind it.
    db = Database(db_url)
    async with db.write() as session:
        await AuditLog(KEY).append(
            session,
            AuditEvent(kind="DEPARTMENT_QUERY_SENT", operator="night-owl", verification="", department="tax"),
            ["110101199003077777"],
        )
    await db.close()
    async with running_service(db_url, example_sandbox()):
        pass  # integrates the stray entry under a signed head
    code, out, _ = await run(
        ["audit", "anomalies", "--db", db_url, "--config", str(config), "--format", "json"], capsys
    )
    found = [json.loads(line) for line in out.splitlines()]
    assert [a["kind"] for a in found if a["kind"] == "QUERY_WITHOUT_CASE"] == ["QUERY_WITHOUT_CASE"]
    assert any("night-owl" in a["description"] for a in found)


@pytest.mark.integration
async def test_public_key_is_the_verifier_key_of_the_configured_log(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = bytes(range(32))
    (tmp_path / "log.key").write_text(seed.hex())
    code, out, _ = await run(["audit", "public-key", "--config", str(config)], capsys)
    assert code == 0
    verifier = NoteVerifier.from_vkey(out.strip())
    assert verifier.name == "test.hedui/audit"
    assert out.strip() == NoteSigner.from_private_bytes("test.hedui/audit", seed).verifier_key()


@pytest.mark.integration
async def test_read_only_commands_refuse_a_missing_key_and_create_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a directory where no service ever ran, nothing is created: no .hedui, no key, no database."""
    monkeypatch.chdir(tmp_path)
    cases = [
        (["audit", "public-key"], "audit_log_key_file: .hedui/audit-log.key does not exist"),
        (["audit", "list", "--person", "110101199003077777"], "audit_subject_key_file: .hedui/audit-subject.key"),
        (["audit", "verify"], "give --public-key: there is no log key at .hedui/audit-log.key"),
        (["audit", "export", "--out", "x.jsonl"], "--db: there is no database at .hedui/hedui.db"),
        (["audit", "anomalies"], "--db: there is no database at .hedui/hedui.db"),
    ]
    for argv, words in cases:
        code, out, err = await run(argv, capsys)
        assert code == 2, (argv, out, err)
        assert words in err and len(err.strip().splitlines()) == 1, err
    assert _contents(tmp_path) == []


@pytest.mark.integration
def test_the_service_creates_its_keys_and_the_read_only_loader_does_not(tmp_path: Path) -> None:
    readonly = load_settings(None, tmp_path / "supervisor", create_keys=False)
    assert dict(readonly.missing_key_files) == {
        "audit_subject_key_file": tmp_path / "supervisor" / "audit-subject.key",
        "audit_log_key_file": tmp_path / "supervisor" / "audit-log.key",
    }
    assert (readonly.audit_subject_key, readonly.audit_log_key) == (b"", b"")
    assert not (tmp_path / "supervisor").exists()
    service = load_settings(None, tmp_path / "service")
    assert service.missing_key_files == {} and len(service.audit_log_key) == 32
    assert sorted(p.name for p in (tmp_path / "service").iterdir()) == ["audit-log.key", "audit-subject.key"]
    again = load_settings(None, tmp_path / "service", create_keys=False)
    assert again.missing_key_files == {}
    assert (again.audit_subject_key, again.audit_log_key) == (service.audit_subject_key, service.audit_log_key)


@pytest.mark.integration
async def test_list_by_person_refuses_the_configured_subject_key_if_missing(
    db_url: str, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh random key would hash the number to nothing in the log: refused instead of finding nothing."""
    async with running_service(db_url, example_sandbox()) as h:
        await h.run(example_request())
    (tmp_path / "subject.key").unlink()
    person = example_request()["members"][0]["id_number"]
    code, _, err = await run(["audit", "list", "--db", db_url, "--config", str(config), "--person", person], capsys)
    assert code == 2
    assert f"audit_subject_key_file: {tmp_path / 'subject.key'} does not exist" in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "subject.key").exists()


def _contents(directory: Path) -> list[tuple[str, int]]:
    """The files in ``directory`` with their modification times."""
    return sorted((p.name, p.stat().st_mtime_ns) for p in directory.iterdir())


def _offline_log(tmp_path: Path, size: int) -> tuple[Path, Path, NoteSigner, MerkleTree]:
    """An export of ``size`` entries under one signed head, and the log's public key file."""
    signer = NoteSigner.generate("test.hedui/audit")
    tree = MerkleTree()
    lines = [export_header_line(signer.name, signer.verifier_key(), size)]
    for i in range(size):
        entry = canonical_entry(AuditEvent(kind="REPORT_READ", verification=f"v{i}"), T0 + dt.timedelta(seconds=i))
        tree.append(leaf_hash(entry))
        lines.append(export_entry_line(i, entry))
    lines.append(export_head_line(size, sign_checkpoint(Checkpoint(signer.name, size, tree.root()), signer)))
    export, vkey = tmp_path / "export.jsonl", tmp_path / "log.vkey"
    export.write_bytes(b"".join(lines))
    vkey.write_text(signer.verifier_key() + "\n")
    return export, vkey, signer, tree


@pytest.mark.integration
async def test_verify_reads_witness_directories_without_writing_to_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, vkey, signer, tree = _offline_log(tmp_path, 6)
    agreeing, ahead, empty = tmp_path / "w-agreeing", tmp_path / "w-ahead", tmp_path / "w-empty"
    empty.mkdir()
    note = sign_checkpoint(Checkpoint(signer.name, 6, tree.root()), signer)
    await FileWitness.open(agreeing, signer.verifier_key()).add_checkpoint(0, [], note)
    for i in range(6, 9):
        tree.append(leaf_hash(b"%d" % i))  # a witness saw a bigger tree than the export holds
    await FileWitness.open(ahead, signer.verifier_key()).add_checkpoint(
        0, [], sign_checkpoint(Checkpoint(signer.name, 9, tree.root()), signer)
    )
    before = {d: _contents(d) for d in (agreeing, ahead, empty)}
    base = ["audit", "verify", "--export", str(export), "--public-key", str(vkey)]
    code, out, err = await run([*base, "--witness", str(agreeing), "--witness", str(empty)], capsys)
    assert code == 0, out + err
    assert "consistent with 1 witnessed heads" in out, out
    code, out, _ = await run([*base, "--witness", str(ahead)], capsys)
    assert code == 1 and "entry 6: missing: a witness recorded a signed head of size 9" in out, out
    after = {d: _contents(d) for d in (agreeing, ahead, empty)}
    assert after == before and before[empty] == []  # no witness.key, no lock file
    # A witness whose state file is gone, though its history shows it cosigned: exit 2, not "intact".
    next(agreeing.glob("*.checkpoint")).unlink()
    code, _, err = await run([*base, "--witness", str(agreeing)], capsys)
    assert code == 2 and "is missing" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.integration
async def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["audit", "verify", "--export", str(tmp_path / "x.jsonl")], "--public-key"),
        (["audit", "verify", "--db", f"sqlite:///{tmp_path}/none.db", "--public-key", str(tmp_path / "k")], "k"),
        (["audit", "export", "--db", f"sqlite:///{tmp_path}/none.db", "--out", str(tmp_path / "no/dir/x")], "--out"),
    ]
    for argv, words in cases:
        code, out, err = await run(argv, capsys)
        assert code == 2, (argv, out, err)
        assert words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "none.db").exists()


# --- the command's own helpers (verifier/cli/audit.py), in-process ------------------------------------------


def test_the_list_options_become_an_entry_filter() -> None:
    args = argparse.Namespace(
        verification="verifications/v-1",
        kind="DEPARTMENT_QUERY_SENT",
        operator=None,
        department="banks",
        since="2026-11-23",
        until=None,
    )
    assert audit_command._filter(args) == EntryFilter(
        verification="v-1",
        kind="DEPARTMENT_QUERY_SENT",
        department="banks",
        since=dt.datetime(2026, 11, 23, tzinfo=CHINA_TIME),
    )
    with pytest.raises(UsageError, match="--until: 'soon' is not a date or time"):
        audit_command._filter(argparse.Namespace(**{**vars(args), "until": "soon"}))


def test_an_event_line_is_its_index_and_its_canonical_body() -> None:
    at = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    entry = StoredEntry(4, 5, "REPORT_READ", at, "op", "cli", "v-1", "", "", (), b'{"kind":"REPORT_READ","seq":5}')
    assert audit_command._event_json(entry) == {"index": 4, "kind": "REPORT_READ", "seq": 5}


def test_a_missing_key_file_is_refused_naming_its_setting(tmp_path: Path) -> None:
    settings = load_settings(None, tmp_path / "keys", create_keys=False)
    with pytest.raises(UsageError, match=r"^audit_subject_key_file: .*audit-subject\.key does not exist"):
        audit_command._subject_key(settings)
    with pytest.raises(UsageError, match=r"^audit_log_key_file: .*audit-log\.key does not exist"):
        audit_command._log_signer(settings)
    assert not (tmp_path / "keys").exists()


def test_unreadable_inputs_name_their_option(tmp_path: Path) -> None:
    (tmp_path / "k.vkey").write_bytes(b"\xff")
    with pytest.raises(UsageError, match=r"^--public-key .*k\.vkey: cannot read: "):
        audit_command._read_text(tmp_path / "k.vkey", "--public-key")
    verifier = NoteSigner.generate("test.hedui/audit").verifier()
    with pytest.raises(UsageError, match=r"^--witness .*absent: not a directory$"):
        audit_command._witnessed([tmp_path / "absent"], verifier)
    (tmp_path / "w").mkdir()
    assert audit_command._witnessed([tmp_path / "w"], verifier) == []
