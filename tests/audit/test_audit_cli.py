"""`hedui audit list / anomalies / public-key / export` as a supervisor uses them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from harness import example_request, example_sandbox, running_service

from audit.checkpoint import NoteVerifier
from audit.events import AuditEvent
from audit.log import AuditLog
from verifier.cli import main
from verifier.storage.db import Database

pytestmark = pytest.mark.integration

KEY = b"k" * 32  # the subject key running_service gives the service


async def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = await asyncio.to_thread(main, argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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


async def test_list_by_person_operator_department_and_time(
    db_url: str, config: Path, capsys: pytest.CaptureFixture[str]
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


async def test_public_key_is_the_verifier_key_of_the_configured_log(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await run(["audit", "public-key", "--config", str(config)], capsys)
    assert code == 0
    verifier = NoteVerifier.from_vkey(out.strip())
    assert verifier.name == "test.hedui/audit"


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
