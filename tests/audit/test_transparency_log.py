"""The audit log as a transparency log, through the gRPC API and `hedui audit`, on SQLite and PostgreSQL.

Proofs are checked with ``rfc9162`` (tests/support), a verifier written from the RFC's text that
shares no code with ``audit/``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import grpc
import pytest
import rfc9162
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from harness import Harness, example_request, example_sandbox, running_service
from sqlalchemy import text

from audit.checkpoint import NoteSigner, NoteVerifier, open_checkpoint
from audit.verify import check_export
from audit.witness import FileWitness
from hedui.v1 import audit_pb2
from verifier.cli import main

pytestmark = pytest.mark.integration


def rfc_leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    found = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return found


async def all_events(h: Harness, **filters: Any) -> list[audit_pb2.AuditEvent]:
    events: list[audit_pb2.AuditEvent] = []
    token = ""
    while True:
        page = await h.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(page_size=100, page_token=token, **filters), metadata=h.metadata
        )
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


async def test_every_entry_of_a_verification_is_provably_in_a_signed_tree(harness: Harness) -> None:
    first = await harness.audit.GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest())
    verification = await harness.run(example_request())
    head = await harness.audit.GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest())
    log_key = NoteVerifier.from_vkey(harness.service.log.signer.verifier_key())
    checkpoint = open_checkpoint(head.checkpoint, log_key)
    assert (checkpoint.size, checkpoint.root_hash) == (head.tree_size, head.root_hash)
    assert head.tree_size > first.tree_size

    events = await all_events(harness, verification=verification.name)
    kinds = {e.kind for e in events}
    assert {"VERIFICATION_CREATED", "CONSENT_DECISION", "DEPARTMENT_QUERY_SENT", "REPORT_CREATED"} <= kinds
    for event in events:
        proof = await harness.audit.GetInclusionProof(
            audit_pb2.GetInclusionProofRequest(index=event.index, tree_size=head.tree_size), metadata=harness.metadata
        )
        assert proof.entry == event.entry
        assert proof.checkpoint == head.checkpoint
        assert rfc9162.verify_inclusion(
            rfc_leaf(event.entry), event.index, head.tree_size, list(proof.hashes), head.root_hash
        )
        # The same proof for a neighbouring index, or a changed entry, does not verify.
        changed = event.entry.replace(b'"kind":"', b'"kind":"X', 1)
        assert not rfc9162.verify_inclusion(
            rfc_leaf(changed), event.index, head.tree_size, list(proof.hashes), head.root_hash
        )

    consistency = await harness.audit.GetConsistencyProof(
        audit_pb2.GetConsistencyProofRequest(first_size=first.tree_size, second_size=head.tree_size),
        metadata=harness.metadata,
    )
    assert consistency.first_checkpoint == first.checkpoint
    assert rfc9162.verify_consistency(
        first.tree_size, head.tree_size, first.root_hash, head.root_hash, list(consistency.hashes)
    )
    assert not rfc9162.verify_consistency(
        first.tree_size, head.tree_size, head.root_hash, head.root_hash, list(consistency.hashes)
    )


async def test_proofs_only_at_signed_sizes(harness: Harness) -> None:
    await harness.run(example_request())
    head = await harness.audit.GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest())
    cases = [
        (audit_pb2.GetInclusionProofRequest(index=0, tree_size=head.tree_size + 1), "tree_size"),
        (audit_pb2.GetInclusionProofRequest(index=head.tree_size, tree_size=head.tree_size), "index"),
        (audit_pb2.GetInclusionProofRequest(index=-1), "index"),
    ]
    for request, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await harness.audit.GetInclusionProof(request, metadata=harness.metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in violations(caught.value)
    for consistency, field in [
        (audit_pb2.GetConsistencyProofRequest(first_size=0, second_size=head.tree_size), "first_size"),
        (
            audit_pb2.GetConsistencyProofRequest(first_size=head.tree_size, second_size=head.tree_size + 7),
            "second_size",
        ),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await harness.audit.GetConsistencyProof(consistency, metadata=harness.metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in violations(caught.value)


async def test_listing_filters_and_pages_by_leaf_index(harness: Harness) -> None:
    verification = await harness.run(example_request())
    everything = await all_events(harness)
    assert [e.index for e in everything] == list(range(len(everything)))
    sent = await all_events(harness, kind="DEPARTMENT_QUERY_SENT", department="tax")
    assert sent and all(e.kind == "DEPARTMENT_QUERY_SENT" and e.department == "tax" for e in sent)
    mine = await all_events(harness, operator="test-worker", verification=verification.name)
    assert mine and all(e.operator == "test-worker" for e in mine)
    assert await all_events(harness, operator="somebody-else") == []
    assert await all_events(harness, since="2999-01-01T00:00:00+08:00") == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(since="yesterday"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "since" in violations(caught.value)


async def test_export_over_grpc_verifies_offline(harness: Harness, tmp_path: Path) -> None:
    await harness.run(example_request())
    chunks = [c.data async for c in harness.audit.ExportAuditLog(audit_pb2.ExportAuditLogRequest())]
    export = tmp_path / "audit.jsonl"
    export.write_bytes(b"".join(chunks))
    key = NoteVerifier.from_vkey(harness.service.log.signer.verifier_key())
    result = check_export(export.read_bytes().splitlines(keepends=True), key)
    assert result.intact, result.failure
    head = await harness.audit.GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest())
    assert result.entries >= 1 and result.entries <= head.tree_size
    other = NoteVerifier.from_vkey(NoteSigner.generate(harness.service.log.origin).verifier_key())
    forged = check_export(export.read_bytes().splitlines(keepends=True), other)
    assert forged.failure is not None and "signed tree head" in str(forged.failure)


async def test_log_tables_refuse_update_and_delete(harness: Harness) -> None:
    await harness.run(example_request())
    await harness.service.audit_queries.signed_tree_head()
    for statement in (
        "UPDATE audit_leaves SET leaf_hash = leaf_hash",
        "DELETE FROM audit_leaves",
        "UPDATE audit_tree_heads SET checkpoint = ''",
        "DELETE FROM audit_tree_heads",
    ):
        with pytest.raises(Exception, match="append-only"):
            async with harness.service.db.write() as session:
                await session.execute(text(statement))


# --- tamper tests: a database administrator edits the log behind the service's back -----------------


async def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = await asyncio.to_thread(main, argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def _logged_service(db_url: str, tmp_path: Path) -> tuple[Path, int]:
    """Run two verifications, close the service; return the log's public key file and the tree size."""
    await asyncio.to_thread(tmp_path.mkdir, parents=True, exist_ok=True)
    async with running_service(db_url, example_sandbox()) as h:
        await h.run(example_request())
        await h.run(example_request())
        head = await h.service.audit_queries.signed_tree_head()
        vkey = tmp_path / "log.vkey"
        vkey.write_text(h.service.log.signer.verifier_key() + "\n")
    return vkey, head.tree_size


async def _behind_the_back(db_url: str, *statements: str) -> None:
    from verifier.storage.db import Database

    db = Database(db_url)
    try:
        async with db.engine.begin() as connection:
            if db.dialect == "sqlite":
                for table in ("audit_entries", "audit_leaves", "audit_tree_heads"):
                    for action in ("update", "delete"):
                        await connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))
            else:
                for table in ("audit_entries", "audit_leaves", "audit_tree_heads"):
                    await connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await db.close()


async def _entry(db_url: str, index: int) -> tuple[int, bytes]:
    from verifier.storage.db import Database

    db = Database(db_url)
    try:
        async with db.engine.connect() as connection:
            row = (
                await connection.execute(
                    text(
                        "SELECT e.seq, e.entry FROM audit_entries e JOIN audit_leaves l ON l.entry_seq = e.seq "
                        "WHERE l.leaf_index = :i"
                    ),
                    {"i": index},
                )
            ).one()
            return int(row[0]), bytes(row[1])
    finally:
        await db.close()


def _blob(db_url: str, data: bytes) -> str:
    return f"X'{data.hex()}'" if db_url.startswith("sqlite") else f"'\\x{data.hex()}'::bytea"


async def test_untouched_log_verifies_from_db_and_export(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vkey, size = await _logged_service(db_url, tmp_path)
    code, out = await _run_cli(["audit", "verify", "--db", db_url, "--public-key", str(vkey)], capsys)
    assert code == 0, out
    found = re.search(r"audit log intact \(the database\): (\d+) entries", out)
    assert found is not None, out
    assert int(found.group(1)) >= size
    export = tmp_path / "export.jsonl"
    code, out = await _run_cli(["audit", "export", "--db", db_url, "--out", str(export)], capsys)
    assert code == 0, out
    code, out = await _run_cli(["audit", "verify", "--export", str(export), "--public-key", str(vkey)], capsys)
    assert code == 0, out


@pytest.mark.parametrize("tamper", ["byte", "delete", "tail", "insert", "reorder"])
async def test_tampering_with_the_database_is_caught_and_located(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], tamper: str
) -> None:
    vkey, size = await _logged_service(db_url, tmp_path)
    victim = size // 2
    seq, entry = await _entry(db_url, victim)
    if tamper == "byte":
        changed = entry.replace(b'"operator":"test-worker"', b'"operator":"test-workes"')
        assert changed != entry
        await _behind_the_back(db_url, f"UPDATE audit_entries SET entry = {_blob(db_url, changed)} WHERE seq = {seq}")
        expected = f"entry {victim}:"
    elif tamper == "delete":
        await _behind_the_back(db_url, f"DELETE FROM audit_entries WHERE seq = {seq}")
        expected = f"entry {victim}:"
    elif tamper == "tail":
        await _behind_the_back(
            db_url,
            f"DELETE FROM audit_entries WHERE seq IN (SELECT entry_seq FROM audit_leaves WHERE leaf_index >= {victim})",
            f"DELETE FROM audit_leaves WHERE leaf_index >= {victim}",
        )
        expected = f"entry {victim}:"
    elif tamper == "insert":
        forged = json.dumps({"kind": "REPORT_READ", "operator": "ghost"}, sort_keys=True, separators=(",", ":"))
        await _behind_the_back(
            db_url,
            'INSERT INTO audit_entries (recorded_at, kind, operator, client, verification, "authorization", '
            f"department, subjects, entry) VALUES (CURRENT_TIMESTAMP, 'REPORT_READ', 'ghost', '', '', '', '', '[]', "
            f"{_blob(db_url, forged.encode())})",
        )
        expected = "inserted"
    else:
        other_seq, other = await _entry(db_url, victim + 1)
        await _behind_the_back(
            db_url,
            f"UPDATE audit_entries SET entry = {_blob(db_url, other)} WHERE seq = {seq}",
            f"UPDATE audit_entries SET entry = {_blob(db_url, entry)} WHERE seq = {other_seq}",
        )
        expected = f"entry {victim}:"
    code, out = await _run_cli(["audit", "verify", "--db", db_url, "--public-key", str(vkey)], capsys)
    assert code == 1, out
    assert "NOT intact" in out and expected in out, out


async def test_a_consistent_forgery_signed_by_another_key_is_caught(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine_vkey, _ = await _logged_service(db_url, tmp_path / "genuine")
    forged_dir = tmp_path / "forged"
    forged_dir.mkdir()
    # The forger wipes the log and builds a new, internally consistent one with a key of their own.
    await _behind_the_back(
        db_url, "DELETE FROM audit_tree_heads", "DELETE FROM audit_leaves", "DELETE FROM audit_entries"
    )
    await _logged_service(db_url, forged_dir)
    code, out = await _run_cli(["audit", "verify", "--db", db_url, "--public-key", str(genuine_vkey)], capsys)
    assert code == 1, out
    assert "signed tree head" in out, out


@pytest.mark.parametrize("tamper", ["edit", "drop", "swap", "truncate"])
async def test_tampering_with_an_export_is_caught_and_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tamper: str
) -> None:
    db_url = f"sqlite:///{tmp_path / 'hedui.db'}"
    vkey, size = await _logged_service(db_url, tmp_path)
    export = tmp_path / "export.jsonl"
    assert (await _run_cli(["audit", "export", "--db", db_url, "--out", str(export)], capsys))[0] == 0
    lines = export.read_bytes().splitlines(keepends=True)
    entry_lines = [i for i, line in enumerate(lines) if b'"entry"' in line]
    target = entry_lines[len(entry_lines) // 2]
    index = json.loads(lines[target])["index"]
    if tamper == "edit":
        record = json.loads(lines[target])
        body = base64.b64decode(record["entry"]).replace(b'"operator":"test-worker"', b'"operator":"test-workes"')
        record["entry"] = base64.b64encode(body).decode()
        lines[target] = json.dumps(record).encode() + b"\n"
        expected = "do not match the signed tree head"
    elif tamper == "drop":
        del lines[target]
        expected = f"entry {index}: missing"
    elif tamper == "swap":
        lines[target], lines[target + 1] = lines[target + 1], lines[target]
        expected = f"entry {index}:"
    else:
        lines = lines[: target + 1]
        expected = f"entry {index + 1}: missing: the file's header announces"
    export.write_bytes(b"".join(lines))
    code, out = await _run_cli(["audit", "verify", "--export", str(export), "--public-key", str(vkey)], capsys)
    assert code == 1, out
    assert expected in out, out
    del size


async def test_a_witness_catches_a_log_cut_back_to_an_earlier_signed_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'hedui.db'}"
    witness = tmp_path / "witness"
    async with running_service(db_url, example_sandbox(), witness_dirs=[witness]) as h:
        await h.run(example_request())
        first = await h.service.audit_queries.signed_tree_head()
        second = await h.run(example_request())
        last = await h.service.audit_queries.signed_tree_head()
        vkey = tmp_path / "log.vkey"
        vkey.write_text(h.service.log.signer.verifier_key() + "\n")
    assert last.tree_size > first.tree_size
    witnessed = await FileWitness.open(witness, vkey.read_text().strip()).latest(h.service.log.origin)
    assert witnessed is not None
    # The administrator cuts the log back to an earlier signed head — entries, leaves and heads alike, and the
    # report and answers the cut entries recorded: what is left is a smaller log that is consistent with itself,
    # signed by the right key, with no row whose entry is missing.
    cut = first.tree_size
    gone = second.name.removeprefix("verifications/")
    await _behind_the_back(
        db_url,
        f"DELETE FROM reports WHERE verification_id = '{gone}'",
        f"DELETE FROM department_results WHERE verification_id = '{gone}'",
        f"DELETE FROM audit_entries WHERE seq IN (SELECT entry_seq FROM audit_leaves WHERE leaf_index >= {cut})",
        f"DELETE FROM audit_leaves WHERE leaf_index >= {cut}",
        f"DELETE FROM audit_tree_heads WHERE tree_size > {cut}",
    )
    code, out = await _run_cli(["audit", "verify", "--db", db_url, "--public-key", str(vkey)], capsys)
    assert code == 0, out  # without a witness, nothing shows
    code, out = await _run_cli(
        ["audit", "verify", "--db", db_url, "--public-key", str(vkey), "--witness", str(witness)], capsys
    )
    assert code == 1, out
    assert f"entry {cut}: missing: a witness recorded a signed head of size" in out, out
