"""The tamper suite: an attacker with the database in hand, on SQLite and PostgreSQL (issue 12).

For each attack: what ``hedui audit verify --config`` says (exit 1, the first bad entry or row named), and
that the service neither signs nor serves the altered log as genuine — it stops signing, refuses reads of
the log (DATA_LOSS) and refuses writes — or, for rows it can refuse one by one, refuses them and goes on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path

import grpc
import pytest
import rfc9162
from audit_tamper import (
    ORIGIN,
    Logged,
    Verified,
    blob,
    configured,
    hedui,
    logged,
    query,
    registration,
    sandbox,
    service_role_url,
    sql,
    tree_hash,
    unsealed_rows,
    verified,
    verify,
)
from harness import Harness, error_details, example_request, sandbox_service
from sqlalchemy import text

from audit import AuditEvent
from audit.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from audit.heads import note_facts
from audit.log import WritesStopped, audit_refused
from audit.merkle import leaf_hash
from audit.state import FileState
from audit.tree import SigningStopped, TransparencyLog
from hedui.v1 import verification_pb2
from verifier.errors import Reason, ServiceError

pytestmark = pytest.mark.integration

STRANGER = "f" * 64  # the keyed hash of somebody no authorization names


@pytest.fixture
async def log(db_url: str, tmp_path: Path) -> Logged:
    return await logged(db_url, tmp_path)


async def heads(url: str) -> list[int]:
    return [
        row[0] for row in await sql(url, "SELECT tree_size FROM audit_tree_heads ORDER BY tree_size", triggers=True)
    ]


async def entry_at(url: str, index: int) -> tuple[int, bytes]:
    rows = await sql(
        url,
        "SELECT e.seq, e.entry FROM audit_entries e JOIN audit_leaves l ON l.entry_seq = e.seq "
        f"WHERE l.leaf_index = {index}",
        triggers=True,
    )
    return int(rows[0][0]), bytes(rows[0][1])


async def refuses_to_sign_or_serve(log: Logged, reason: str) -> None:
    """A service over the tampered database signs nothing, serves no entry or proof, and takes no write."""
    before = await heads(log.url)
    async with log.service() as service:
        with pytest.raises(SigningStopped, match=reason):
            await service.log.integrate(service.db.write)
        for read in (
            service.audit_queries.signed_tree_head(),
            service.audit_queries.list_events(page_size=10, page_token=""),
            service.audit_queries.inclusion_proof(0, 0),
            service.audit_queries.consistency_proof(1, 0),
        ):
            with pytest.raises(ServiceError) as refused:
                await read
            assert refused.value.reason == Reason.AUDIT_LOG_DAMAGED, refused.value
        with pytest.raises(WritesStopped):
            await service.standalone_events.append(AuditEvent(kind="REPORT_READ", operator="w"))
        assert not service.audit.gate.open
    assert await heads(log.url) == before  # nothing signed


async def verify_fails(log: Logged, expected: str) -> str:
    code, out = await verify(log)
    assert code == 1 and "NOT intact" in out and expected in out, out
    return out


# --- the untouched log ------------------------------------------------------------------------------


async def test_the_untouched_log_verifies_and_the_service_goes_on_signing(log: Logged) -> None:
    code, out = await verify(log)
    assert code == 0 and f"{log.size} entries, 3 signed tree head(s)" in out, out
    await log.append([AuditEvent(kind="REPORT_READ", operator="w")])
    assert log.heads == [1, 5, 8, 9]
    state = json.loads(log.settings.audit_log_state_file.read_bytes())  # type: ignore[union-attr]
    assert (state["size"], state["previous_size"], state["origin"]) == (9, 8, ORIGIN)


# --- item 1: the signer never signs an inconsistent checkpoint ------------------------------------


async def test_a_rewritten_history_put_back_on_the_queue_is_never_signed(log: Logged) -> None:
    """The issue's attack: empty the tree, queue every entry again with four police queries turned into tax
    queries, and wait for the service to sign it."""
    edited = []
    for index in range(log.size):
        seq, entry = await entry_at(log.url, index)
        edited.append((seq, entry.replace(b'"public_security"', b'"tax"')))
    await sql(
        log.url,
        "DELETE FROM audit_leaves",
        "DELETE FROM audit_tree_heads",
        *(
            f"UPDATE audit_entries SET entry = {blob(log.url, e)}, department = 'tax' WHERE seq = {s}"
            for s, e in edited
        ),
        "INSERT INTO audit_pending (seq) SELECT seq FROM audit_entries",
    )
    await verify_fails(log, "entry 0: missing: the signer's state (kept with its key) recorded a signed head of size 8")
    await refuses_to_sign_or_serve(log, "newest signed head has size 0, the signer signed size 8")


async def test_a_running_server_whose_last_leaf_row_is_removed_stops_signing(log: Logged) -> None:
    async with log.service() as service:
        await service.log.integrate(service.db.write)  # the server is up and has checked the log
        await sql(log.url, f"DELETE FROM audit_leaves WHERE leaf_index = {log.size - 1}")
        await service.standalone_events.append(AuditEvent(kind="REPORT_READ", operator="w"))
        with pytest.raises(SigningStopped, match="7 leaf rows are stored, the signer signed 8"):
            await service.log.integrate(service.db.write)
        with pytest.raises(WritesStopped):
            await service.standalone_events.append(AuditEvent(kind="REPORT_READ", operator="w"))
    assert await heads(log.url) == [1, 5, 8]
    await verify_fails(log, "entry 7:")


async def test_one_byte_of_an_entry(log: Logged) -> None:
    seq, entry = await entry_at(log.url, 3)
    changed = entry.replace(b'"worker-1"', b'"worker-2"')
    await sql(log.url, f"UPDATE audit_entries SET entry = {blob(log.url, changed)} WHERE seq = {seq}")
    await verify_fails(log, "entry 3: its bytes do not hash to the leaf recorded")
    await refuses_to_sign_or_serve(log, f"leaf 3: its entry \\(seq {seq}\\) does not hash to the stored leaf")


async def test_an_entry_edited_and_its_leaf_hash_recomputed(log: Logged) -> None:
    seq, entry = await entry_at(log.url, 3)
    changed = entry.replace(b'"worker-1"', b'"worker-2"')  # another caseworker took the blame
    await sql(
        log.url,
        f"UPDATE audit_entries SET entry = {blob(log.url, changed)} WHERE seq = {seq}",
        f"UPDATE audit_leaves SET leaf_hash = {blob(log.url, leaf_hash(changed))} WHERE leaf_index = 3",
        f"UPDATE audit_entries SET operator = 'worker-2' WHERE seq = {seq}",  # the index column too
    )
    await verify_fails(log, "entry 1: entries 1..4 do not match the signed tree head at size 5")
    await refuses_to_sign_or_serve(log, "do not hash to the root the signer signed at size 8")


async def test_an_entry_row_deleted(log: Logged) -> None:
    seq, _ = await entry_at(log.url, 2)
    await sql(log.url, f"DELETE FROM audit_entries WHERE seq = {seq}")
    await verify_fails(log, f"entry 2: its stored entry (seq {seq}) is gone")
    await refuses_to_sign_or_serve(log, f"leaf 2: its entry \\(seq {seq}\\) is gone")


async def test_two_entries_swapped(log: Logged) -> None:
    (first, one), (second, other) = await entry_at(log.url, 2), await entry_at(log.url, 3)
    await sql(
        log.url,
        f"UPDATE audit_entries SET entry = {blob(log.url, other)} WHERE seq = {first}",
        f"UPDATE audit_entries SET entry = {blob(log.url, one)} WHERE seq = {second}",
    )
    await verify_fails(log, "entry 2: its bytes do not hash")
    await refuses_to_sign_or_serve(log, "leaf 2:")


async def test_a_consistent_tail_cut_is_caught_by_the_signer_s_state(log: Logged) -> None:
    """Cut the log back to its second head, heads included: consistent with itself, so only the signer's state
    (or a witness) can tell. ``--public-key`` alone cannot; ``--config`` reads the state beside the key."""
    await sql(
        log.url,
        "DELETE FROM audit_entries WHERE seq IN (SELECT entry_seq FROM audit_leaves WHERE leaf_index >= 5)",
        "DELETE FROM audit_leaves WHERE leaf_index >= 5",
        "DELETE FROM audit_tree_heads WHERE tree_size > 5",
    )
    await verify_fails(log, "entry 5: missing: the signer's state (kept with its key) recorded a signed head of size 8")
    vkey = log.config.parent / "log.vkey"
    async with log.service() as service:
        vkey.write_text(service.log.signer.verifier_key())
    code, out = await verify_fails_or_passes(log, "--public-key", str(vkey))
    assert code == 0 and "5 entries" in out, out  # what the key alone cannot see (docs/audit.md says so)
    await refuses_to_sign_or_serve(log, "newest signed head has size 5, the signer signed size 8")


async def verify_fails_or_passes(log: Logged, *options: str) -> tuple[int, str]:
    return await hedui("audit", "verify", "--db", log.url, *options)


async def test_a_head_signed_with_another_key(log: Logged) -> None:
    rows = await sql(log.url, "SELECT root_hash FROM audit_tree_heads WHERE tree_size = 8", triggers=True)
    other = NoteSigner.generate(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, 8, bytes(rows[0][0])), other)
    await sql(log.url, f"UPDATE audit_tree_heads SET checkpoint = '{note}' WHERE tree_size = 8")
    await verify_fails(log, "signed tree head at size 8:")
    await refuses_to_sign_or_serve(log, "the stored signed head of size 8 is not the one the signer signed")


async def test_a_whole_log_forged_under_a_fresh_key(log: Logged, tmp_path: Path) -> None:
    await sql(log.url, "DELETE FROM audit_tree_heads", "DELETE FROM audit_leaves", "DELETE FROM audit_entries")
    forger = await logged(log.url, tmp_path / "forger")  # a service of the forger's own: new keys, new state
    assert forger.size == 8
    await verify_fails(log, "signed tree head at size 1:")
    await refuses_to_sign_or_serve(log, "the stored signed head of size 8 is not the one the signer signed")


async def test_leaf_rows_inserted_beyond_the_signed_tree(log: Logged) -> None:
    """An entry with its leaf row at the next index (the hash right), no head: the next integration must not
    build on it."""
    forged = b'{"kind":"REPORT_READ"}'
    await sql(
        log.url,
        forged_row(log.url, forged, ""),
        "INSERT INTO audit_leaves (leaf_index, entry_seq, leaf_hash) SELECT 8, max(seq), "
        f"{blob(log.url, leaf_hash(forged))} FROM audit_entries",
    )
    await verify_fails(log, "entry 8: not covered by any signed tree head")
    await refuses_to_sign_or_serve(log, "9 leaf rows are stored, the signer signed 8")


# --- item 2: only hedui's append function adds an entry -------------------------------------------


def forged_row(url: str, entry: bytes, operator: str, at: str = "CURRENT_TIMESTAMP") -> str:
    """An INSERT of an entry row as the database's credentials alone can write it (no MAC)."""
    return (
        'INSERT INTO audit_entries (recorded_at, kind, operator, client, verification, "authorization", department, '
        f"subjects, entry) VALUES ({at}, 'REPORT_READ', '{operator}', '', '', '', '', '[]', {blob(url, entry)})"
    )


async def insert_as_service_role(log: Logged, *statements: str) -> None:
    url = await service_role_url(log.url)
    await sql(url, *statements, triggers=True)  # the triggers stay; PostgreSQL: no superuser, no owner


async def test_an_entry_inserted_with_its_queue_row_is_refused_not_signed(log: Logged) -> None:
    forged = b'{"kind":"REPORT_READ","operator":"ghost"}'
    await insert_as_service_role(
        log,
        forged_row(log.url, forged, "ghost"),
        "INSERT INTO audit_pending (seq) SELECT max(seq) FROM audit_entries",
    )
    (forged_seq,) = (await sql(log.url, "SELECT max(seq) FROM audit_entries", triggers=True))[0]
    async with log.service() as service:
        await service.standalone_events.append(AuditEvent(kind="REPORT_READ", operator="w"))
        head = await service.audit_queries.signed_tree_head()  # the genuine entry is signed, the forged one not
        assert head.tree_size == log.size + 1
        page, _ = await service.audit_queries.list_events(page_size=50, page_token="")
        assert b"ghost" not in b"".join(e.entry for e in page)
        async with service.db.sessions() as session:
            refused = (await session.execute(audit_refused.select())).all()
        assert [(r.seq, r.reason) for r in refused] == [(forged_seq, "its MAC does not verify: not appended by hedui")]
    await verify_fails(log, f"queue row seq {forged_seq} was refused by the integrator")


async def test_an_entry_inserted_without_a_queue_row_is_in_no_tree(log: Logged) -> None:
    forged = b'{"kind":"REPORT_READ","operator":"ghost"}'
    await insert_as_service_role(
        log,
        forged_row(log.url, forged, "ghost"),
    )
    await verify_fails(log, "is in no tree and not waiting to be (inserted)")
    async with log.service() as service:
        await service.standalone_events.append(AuditEvent(kind="REPORT_READ", operator="w"))
        assert (await service.audit_queries.signed_tree_head()).tree_size == log.size + 1


async def test_a_copy_of_a_genuine_row_with_its_mac_is_refused(log: Logged) -> None:
    """The MAC is valid (copied with the entry): the integrator refuses a copy of an entry already in the tree."""
    seq, _ = await entry_at(log.url, 2)
    await insert_as_service_role(
        log,
        'INSERT INTO audit_entries (recorded_at, kind, operator, client, verification, "authorization", department, '
        'subjects, entry, mac) SELECT recorded_at, kind, operator, client, verification, "authorization", '
        f"department, subjects, entry, mac FROM audit_entries WHERE seq = {seq}",
        "INSERT INTO audit_pending (seq) SELECT max(seq) FROM audit_entries",
    )
    async with log.service() as service:
        await service.log.integrate(service.db.write)
        async with service.db.sessions() as session:
            reasons = (await session.execute(text("SELECT reason FROM audit_refused"))).scalars().all()
    assert reasons == ["a copy of the entry at leaf 2"]
    assert await heads(log.url) == [1, 5, 8]
    await verify_fails(log, "was refused by the integrator")


async def test_a_re_queued_entry_is_refused_and_the_log_goes_on(log: Logged) -> None:
    """The issue's stall: one queue row for an integrated entry made every later integration fail."""
    seq, _ = await entry_at(log.url, 4)
    await insert_as_service_role(log, f"INSERT INTO audit_pending (seq) VALUES ({seq})")
    await verify_fails(log, f"entry 4: queued again (queue row seq {seq}) although it is in the tree")
    async with log.service() as service:
        await service.standalone_events.append(AuditEvent(kind="REPORT_READ", operator="w"))
        head = await service.audit_queries.signed_tree_head()
        assert head.tree_size == log.size + 1
        page, _ = await service.audit_queries.list_events(page_size=50, page_token="")
        assert len(page) == log.size + 1
        assert service.audit.gate.open
    await verify_fails(log, f"queue row seq {seq} was refused by the integrator")
    out = await verify_fails(log, "already integrated at leaf 4 (queued again)")
    assert "a row added behind hedui's back" in out


def _body(**changes: object) -> bytes:
    body: dict[str, object] = {
        "kind": "REPORT_READ",
        "time": "2026-12-01T09:00:00.000000+00:00",
        "operator": "ghost",
        "client": "",
        "verification": "",
        "authorization": "",
        "department": "",
        "subjects": [],
        "details": {},
    }
    body.update(changes)
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("forged", "problem"),
    [
        (b'{"kind":"REPORT_READ","operator":"ghost"}', "not an entry hedui writes: not an entry's fields"),
        (_body(kind="EXPORT_EVERYTHING"), "not an entry hedui writes: unknown kind 'EXPORT_EVERYTHING'"),
        (_body(subjects=["533401197803120118"]), "its subjects are not keyed hashes"),
        (_body(time="2026-12-01T09:00:00+08:00"), "its time is not a UTC instant with microseconds"),
        (_body(time="2020-01-01T00:00:00.000000+00:00"), "back in log order (backdated or moved)"),
        (_body(time="2030-01-01T00:00:00.000000+00:00"), "after the signed tree head at size 9 covering it was signed"),
    ],
)
async def test_an_entry_no_hedui_wrote_is_named_even_under_a_head_the_log_signed(
    log: Logged, forged: bytes, problem: str
) -> None:
    """An integrator that checked no MAC (hedui before this issue) signed what the service role inserted; verify
    still names the entry by its kind, fields or time."""
    future = b"2030-01-01" in forged  # its column says so too: only the signed times can tell
    at = (
        ("'2030-01-01 00:00:00.000000'" if log.url.startswith("sqlite") else "'2030-01-01 00:00:00+00'")
        if future
        else "CURRENT_TIMESTAMP"
    )
    await insert_as_service_role(
        log,
        forged_row(log.url, forged, "ghost", at),
        "INSERT INTO audit_pending (seq) SELECT max(seq) FROM audit_entries",
    )
    settings = log.settings
    assert settings.audit_log_state_file is not None
    unchecked = TransparencyLog(
        ORIGIN,
        NoteSigner.from_private_bytes(ORIGIN, settings.audit_log_key),
        state=FileState(settings.audit_log_state_file),
        cosigners=settings.log_cosigners(),  # issue 17: the SM2 key too under HEDUI_TEST_SUITE=sm
    )
    async with log.service() as service:
        head = await unchecked.integrate(service.db.write)
        assert head is not None and head.tree_size == 9
    await verify_fails(log, f"entry 8: {problem}" if problem.startswith("not") else problem)


# --- item 3: supervisors read only signed bytes ---------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "named"),
    [
        ("kind", "'DEPARTMENT_QUERY_SENT'", "its stored kind 'DEPARTMENT_QUERY_SENT' is not the signed 'REPORT_READ'"),
        ("operator", "'worker-9'", "its stored operator 'worker-9' is not the signed 'worker-1'"),
        ("client", "'10.9.9.9'", "its stored client '10.9.9.9' is not the signed '10.0.0.1'"),
        ("verification", "'v2'", "its stored verification 'v2' is not the signed 'v1'"),
        ("authorization", "'a9'", "its stored authorization 'a9' is not the signed ''"),
        ("department", "'tax'", "its stored department 'tax' is not the signed ''"),
        ("subjects", "'[\"ab\"]'", "its stored subjects are not the signed ones"),
        ("recorded_at", "'2026-01-01 00:00:00'", "its stored time 2026-01-01T00:00:00+00:00 is not the signed"),
        # Issue 13 (S1): moved into an area, the entry would be shown to that area's supervisors.
        ("organisation", "'533401-x'", "its stored organisation '533401-x' is not the signed ''"),
    ],
)
async def test_an_edited_index_column_is_named_and_never_shown_or_hidden(
    log: Logged, column: str, value: str, named: str
) -> None:
    """The last entry (a report read by worker-1) edited in one column, the bytes left alone."""
    seq, _ = await entry_at(log.url, 7)
    column_sql = '"authorization"' if column == "authorization" else column
    await sql(log.url, f"UPDATE audit_entries SET {column_sql} = {value} WHERE seq = {seq}")
    await verify_fails(log, f"entry 7: {named}")
    async with log.service() as service:
        for query in ({}, {"operator": "worker-1"}, {"kind": "REPORT_READ"}, {"verification": "v1"}):
            with pytest.raises(ServiceError) as refused:
                await service.audit_queries.list_events(page_size=50, page_token="", **query)
            assert refused.value.reason == Reason.AUDIT_LOG_DAMAGED and "entry 7:" in refused.value.message
    code, out = await hedui("audit", "list", "--config", str(log.config), "--operator", "worker-1")
    assert code == 1 and f"entry 7: {named}" in out, out
    code, out = await hedui("audit", "anomalies", "--config", str(log.config))
    assert code == 1 and "entry 7:" in out, out


async def test_three_edited_operators_fabricate_no_anomaly(log: Logged) -> None:
    """The issue's attack: the operators of three police queries about one person edited to make that person
    look up by many operators. The anomaly rules read the signed entries, so the listing refuses instead."""
    for index, operator in ((2, "worker-7"), (3, "worker-8"), (4, "worker-9")):
        seq, _ = await entry_at(log.url, index)
        await sql(log.url, f"UPDATE audit_entries SET operator = '{operator}' WHERE seq = {seq}")
    code, out = await hedui("audit", "anomalies", "--config", str(log.config), "--format", "json")
    assert code == 1 and "PERSON_QUERIED_BY_MANY_OPERATORS" not in out and "entry 2:" in out, out


# --- items 6 and 7: heads, proofs from any size, signed time -------------------------------------


async def test_a_deleted_intermediate_head_is_named_and_its_checkpoint_still_proven(log: Logged) -> None:
    async with log.service() as service, service.db.sessions() as session:
        held = await service.log.head_at(session, 5)  # the checkpoint a supervisor keeps
    assert held is not None
    await sql(log.url, "DELETE FROM audit_tree_heads WHERE tree_size = 5")
    await verify_fails(log, "signed tree head at size 8: it follows the signed head of size 5, which is missing")
    async with log.service() as service:
        proof, first, second = await service.audit_queries.consistency_proof(5, 0)
        assert first is None and second.tree_size == 8
        assert rfc9162.verify_consistency(5, 8, held.root_hash, second.root_hash, proof)  # the log cannot deny it
        _, _, first_row = await service.audit_queries.consistency_proof(3, 8)  # any size, not just signed ones
        assert first_row.tree_size == 8


async def test_proofs_from_any_size_a_supervisor_holds_up_to_signed_sizes_only(log: Logged) -> None:
    """Sizes 1, 5 and 8 were signed. A supervisor may hold the root of any size (a checkpoint of another log
    view, or one whose row is gone): consistency from every size 1..8 to each signed size verifies with the
    RFC 9162 verifier against the root computed from the entries; inclusion and the second size of a
    consistency proof are served only at signed sizes."""
    leaves = [leaf_hash((await entry_at(log.url, i))[1]) for i in range(log.size)]
    async with log.service() as service:
        queries = service.audit_queries
        for second in (1, 5, 8):
            for first in range(1, second + 1):
                proof, first_head, second_head = await queries.consistency_proof(first, second)
                assert second_head.tree_size == second and second_head.root_hash == tree_hash(leaves[:second])
                assert (first_head is not None) == (first in (1, 5, 8))
                held = tree_hash(leaves[:first])  # the root a supervisor holds for that size
                assert rfc9162.verify_consistency(first, second, held, second_head.root_hash, proof)
            for index in range(second):
                path, head, entry = await queries.inclusion_proof(index, second)
                assert leaf_hash(entry) == leaves[index] and head.tree_size == second
                assert rfc9162.verify_inclusion(leaves[index], index, second, path, tree_hash(leaves[:second]))
        for never_signed in (2, 3, 4, 6, 7, 9):
            for call, field in (
                (queries.inclusion_proof(0, never_signed), "tree_size"),
                (queries.consistency_proof(1, never_signed), "second_size"),
            ):
                with pytest.raises(ServiceError) as refused:
                    await call
                assert refused.value.reason == Reason.NO_SUCH_PROOF
                assert [v.field for v in refused.value.violations] == [field]


async def test_an_edited_head_root_is_named_and_not_served(log: Logged) -> None:
    await sql(log.url, f"UPDATE audit_tree_heads SET root_hash = {blob(log.url, bytes(32))} WHERE tree_size = 5")
    await verify_fails(log, "signed tree head at size 5: the stored root differs from the signed one")
    async with log.service() as service:
        for call in (service.audit_queries.inclusion_proof(0, 5), service.audit_queries.consistency_proof(5, 8)):
            with pytest.raises(ServiceError) as refused:
                await call
            assert refused.value.reason == Reason.AUDIT_LOG_DAMAGED, refused.value


async def test_a_forged_head_row_over_forged_leaves_is_neither_signed_nor_listed(log: Logged) -> None:
    """A leaf row and its entry inserted beyond the signed tree, with a head row for size 9 carrying the genuine
    note of size 8: nothing may treat size 9 as signed."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    forged = _body(time=now)  # an entry of the right shape and time: only the head can give it away
    rows = await sql(log.url, "SELECT checkpoint, root_hash FROM audit_tree_heads WHERE tree_size = 8", triggers=True)
    note, root = rows[0]
    await sql(
        log.url,
        forged_row(log.url, forged, "ghost", f"'{now.replace('T', ' ')}'"),
        "INSERT INTO audit_leaves (leaf_index, entry_seq, leaf_hash) SELECT 8, max(seq), "
        f"{blob(log.url, leaf_hash(forged))} FROM audit_entries",
        "INSERT INTO audit_tree_heads (tree_size, root_hash, checkpoint, signed_at) VALUES "
        f"(9, {blob(log.url, bytes(root))}, '{note}', CURRENT_TIMESTAMP)",
    )
    await verify_fails(log, "signed tree head at size 9: its checkpoint says size 8")
    await refuses_to_sign_or_serve(log, "the database holds a signed head of size 9, beyond the signer.s state")


async def test_a_head_row_for_a_size_never_signed_is_not_served(log: Logged) -> None:
    rows = await sql(log.url, "SELECT checkpoint, root_hash FROM audit_tree_heads WHERE tree_size = 5", triggers=True)
    note, root = rows[0]
    await insert_as_service_role(
        log,
        "INSERT INTO audit_tree_heads (tree_size, root_hash, checkpoint, signed_at) VALUES "
        f"(6, {blob(log.url, bytes(root))}, '{note}', CURRENT_TIMESTAMP)",
    )
    await verify_fails(log, "signed tree head at size 6: its checkpoint says size 5")
    async with log.service() as service:
        for call in (service.audit_queries.inclusion_proof(0, 6), service.audit_queries.consistency_proof(1, 6)):
            with pytest.raises(ServiceError) as refused:
                await call
            assert refused.value.reason == Reason.AUDIT_LOG_DAMAGED, refused.value


async def test_an_edited_signed_at_is_named_and_not_served(log: Logged) -> None:
    await sql(log.url, "UPDATE audit_tree_heads SET signed_at = '2020-01-01 00:00:00' WHERE tree_size = 8")
    await verify_fails(log, "signed tree head at size 8: its stored signed_at is not the time it signs (edited)")
    async with log.service() as service:
        with pytest.raises(ServiceError) as refused:
            await service.audit_queries.signed_tree_head()
        assert refused.value.reason == Reason.AUDIT_LOG_DAMAGED


async def test_log_time_is_signed_and_never_goes_back(log: Logged) -> None:
    async with log.service() as service, service.db.sessions() as session:
        heads = await service.log.heads(session)
    facts = [note_facts(head.checkpoint) for head in heads]
    assert [f.previous for f in facts if f] == [0, 1, 5]
    times = [f.time for f in facts if f]
    assert times == sorted(times) and [head.signed_at for head in heads] == times


# --- item 9: consent proven by the log ------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "queried", "reason"),
    [
        ([], query(STRANGER), "authorization a1 does not name this person"),
        ([AuditEvent(kind="AUTHORIZATION_REVOKED", authorization="a1")], query(), "was revoked before the query"),
        ([], query(authorization="a2"), "authorization a2 was not registered earlier in the log"),
        ([registration("a2", departments=("tax",))], query(authorization="a2"), "does not cover public_security"),
        ([registration("a2", purpose="OTHER")], query(authorization="a2"), "another purpose or organisation"),
        ([registration("a2", valid_until="2026-01-01")], query(authorization="a2"), "not valid on the day"),
        (
            [
                registration("a2"),
                AuditEvent(
                    kind="TRUSTED_KEY_REVOKED", details={"keyid": "key-1", "revoked_at": "2020-01-01T00:00:00+00:00"}
                ),
            ],
            query(authorization="a2"),
            "holds no signature by a key that was not revoked before it was registered",
        ),
    ],
)
async def test_a_query_without_a_covering_authorization_earlier_in_the_log_fails_verify(
    log: Logged, before: list[AuditEvent], queried: AuditEvent, reason: str
) -> None:
    """Entries hedui's own append wrote and its key signed: what they say does not add up to consent."""
    await log.append([*before, queried])
    index = log.size - 1
    out = await verify_fails(log, f"entry {index}: consent not proven by the log: the query at public_security")
    assert reason in out, out


async def test_an_entry_and_its_leaf_edited_under_a_running_server_are_not_served(log: Logged) -> None:
    """After the server proved the log, an entry is edited with its leaf hash and column to match: the stored
    rows agree with each other, not with the tree the server proved."""
    async with log.service() as service:
        await service.log.integrate(service.db.write)
        seq, entry = await entry_at(log.url, 3)
        changed = entry.replace(b'"worker-1"', b'"worker-2"')
        await sql(
            log.url,
            f"UPDATE audit_entries SET entry = {blob(log.url, changed)}, operator = 'worker-2' WHERE seq = {seq}",
            f"UPDATE audit_leaves SET leaf_hash = {blob(log.url, leaf_hash(changed))} WHERE leaf_index = 3",
        )
        for call in (
            service.audit_queries.list_events(page_size=50, page_token=""),
            service.audit_queries.inclusion_proof(3, 0),
        ):
            with pytest.raises(ServiceError) as refused:
                await call
            assert refused.value.reason == Reason.AUDIT_LOG_DAMAGED
            assert "entry 3: not the leaf the log signed" in refused.value.message
    await verify_fails(log, "entry 1: entries 1..4 do not match the signed tree head at size 5")


async def test_a_consistent_tail_cut_with_a_witness_configured_and_the_state_lost(db_url: str, tmp_path: Path) -> None:
    """The state file gone too: the witness the configuration names still holds the head of size 8."""
    witness = tmp_path / "witness"
    log = await logged(db_url, tmp_path, witness=witness)
    cosigned = sorted(p.name for p in witness.iterdir() if p.suffix == ".checkpoint")
    await sql(
        log.url,
        "DELETE FROM audit_entries WHERE seq IN (SELECT entry_seq FROM audit_leaves WHERE leaf_index >= 5)",
        "DELETE FROM audit_leaves WHERE leaf_index >= 5",
        "DELETE FROM audit_tree_heads WHERE tree_size > 5",
    )
    assert log.settings.audit_log_state_file is not None
    log.settings.audit_log_state_file.unlink()
    await verify_fails(log, "entry 5: missing: a witness recorded a signed head of size 8")
    code, out = await hedui("audit", "recover", "--config", str(log.config))  # no adopting a cut log
    assert code == 1 and "a witness recorded a signed head of size 8" in out, out
    before = [(p.name, p.read_bytes()) for p in sorted(witness.iterdir()) if p.suffix == ".checkpoint"]
    async with log.service() as service:
        with pytest.raises(SigningStopped, match="there is no signer state"):
            await service.log.integrate(service.db.write)
    after = [(p.name, p.read_bytes()) for p in sorted(witness.iterdir()) if p.suffix == ".checkpoint"]
    assert after == before and [name for name, _ in after] == cosigned  # nothing more for the witness to cosign


# --- item 4: reports and department answers bound to the log ---------------------------------------


@pytest.fixture
async def reported(db_url: str, tmp_path: Path) -> Verified:
    return await verified(db_url, tmp_path)


async def refuses_to_serve_report(case: Verified, reason: str) -> None:
    """GetReport, its HTML view and ``hedui verify``'s path (the same read) refuse the report, naming it."""
    async with case.log.service() as service:
        for read in (service.reports.get(case.report), service.reports.message(case.report, html=True)):
            with pytest.raises(ServiceError) as refused:
                await read
            assert refused.value.reason == Reason.REPORT_TAMPERED and refused.value.code == "DATA_LOSS"
            assert f"{case.report} (report {case.report_id})" in refused.value.message, refused.value
            assert reason in refused.value.message, refused.value


async def test_an_untouched_report_and_its_answers_verify_and_are_served(reported: Verified) -> None:
    code, out = await verify(reported.log)
    assert code == 0 and "audit log intact" in out and "not checked" not in out, out
    async with reported.log.service() as service:
        body = await service.reports.get(reported.report)
    assert body["report_id"] == reported.report_id


async def test_an_edited_report_is_named_by_verify_and_never_served(reported: Verified) -> None:
    """The issue's attack: the stored report of an eligible household turned into NOT_ELIGIBLE."""
    (body_json,) = (await sql(reported.log.url, f"SELECT body_json FROM reports WHERE id = '{reported.report_id}'"))[0]
    body = json.loads(body_json)
    genuine = body["assessment"]["classification"]
    assert genuine != "NOT_ELIGIBLE"
    body["assessment"]["classification"] = "NOT_ELIGIBLE"
    edited = json.dumps(body, ensure_ascii=False).replace("'", "''")
    await sql(reported.log.url, f"UPDATE reports SET body_json = '{edited}' WHERE id = '{reported.report_id}'")
    out = await verify_fails(reported.log, f"report {reported.report_id} (verifications/{reported.verification}/")
    assert "is not the" in out and "its REPORT_CREATED entry recorded (edited)" in out, out
    await refuses_to_serve_report(reported, "its REPORT_CREATED entry recorded (edited)")


async def test_a_recheck_of_an_edited_report_is_refused(reported: Verified) -> None:
    await sql(
        reported.log.url,
        f"UPDATE reports SET body_json = replace(body_json, '\"household_size\": 3', '\"household_size\": 2') "
        f"WHERE id = '{reported.report_id}'",
    )
    async with sandbox_service(reported.log.settings, sandbox()) as (service, request, authorization):
        recheck = dataclasses.replace(request, previous_report_id=reported.report_id)
        with pytest.raises(ServiceError) as refused:
            await service.verifications.create(recheck, [authorization])
    assert refused.value.reason == Reason.REPORT_TAMPERED and reported.report_id in refused.value.message


async def test_a_report_whose_entry_is_hidden_by_an_edited_column_is_not_served(reported: Verified) -> None:
    """Editing the REPORT_CREATED row's verification column hides the entry from the lookup: no entry, no report."""
    await sql(reported.log.url, "UPDATE audit_entries SET verification = 'elsewhere' WHERE kind = 'REPORT_CREATED'")
    await verify_fails(reported.log, "its stored verification 'elsewhere' is not the signed")
    await refuses_to_serve_report(reported, "no REPORT_CREATED entry of the log records it")


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (
            "records_json = replace(records_json, '0', '1')",
            "it differs from the answer its DEPARTMENT_ANSWER_RECEIVED entry recorded (edited)",
        ),
        ("status = 'unavailable', records_json = '[]'", "it is stored as 'unavailable', but the log's"),
    ],
)
async def test_an_edited_department_answer_is_named_by_verify(reported: Verified, edit: str, named: str) -> None:
    await sql(
        reported.log.url,
        f"UPDATE department_results SET {edit} "
        f"WHERE verification_id = '{reported.verification}' AND department = 'tax'",
    )
    out = await verify_fails(reported.log, f"department answer of verifications/{reported.verification} at tax: ")
    assert named in out, out


class _Refusals(logging.Handler):
    """Sets an event when the service logs that it refused a stored answer."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "stored department answer refused" in record.getMessage():
            self.seen.set()


@pytest.mark.slow
async def test_no_report_is_built_from_an_edited_department_answer(db_url: str, tmp_path: Path) -> None:
    """The banks answer later (a ticket): meanwhile the tax answer is edited in its row. When the banks' answer
    comes, the next report would be built from the rows read back: the service refuses, and no version 2 exists."""
    # The banks hand out a ticket within their deadline (generous, for a busy machine) and answer after it.
    log = configured(db_url, tmp_path, extra="poll_interval_seconds = 0.05\ndepartment_deadline_seconds = 2.0\n")
    refusals = _Refusals()
    logging.getLogger("hedui.report").addHandler(refusals)
    async with sandbox_service(log.settings, sandbox(bank_after=6.0)) as (service, request, authorization):
        created = await service.verifications.create(request, [authorization])
        await service.verifications.wait_for_report(created.name, 60.0)  # v1: banks pending (built from rows)
        vid = created.name.removeprefix("verifications/")
        first = await service.reports.get(f"{created.name}/reports/1")
        assert next(s for s in first["sources"] if s["department"] == "banks")["status"] == "pending"
        await unsealed_rows(service)  # issue 17: edited as someone holding the data keys could
        await sql(
            db_url,
            "UPDATE department_results SET records_json = replace(records_json, '0', '1') "
            f"WHERE verification_id = '{vid}' AND department = 'tax'",
        )
        async with asyncio.timeout(60):
            await refusals.seen.wait()
        async with service.db.sessions() as session:
            (latest,) = (
                await session.execute(text(f"SELECT latest_report_version FROM verifications WHERE id = '{vid}'"))
            ).one()
    logging.getLogger("hedui.report").removeHandler(refusals)
    assert latest == 1
    code, out = await verify(log)
    assert code == 1 and f"department answer of verifications/{vid} at tax: it differs" in out, out


async def test_get_report_over_grpc_refuses_an_edited_report_with_data_loss(harness: Harness) -> None:
    """The wire: GetReport (every view) answers DATA_LOSS, ErrorInfo REPORT_TAMPERED, the report named; no
    report bytes travel."""
    verification = await harness.run(example_request())
    name = f"{verification.name}/reports/1"
    first = await harness.verifications.GetReport(verification_pb2.GetReportRequest(name=name))
    assert first.assessment.household_size == 3
    await unsealed_rows(harness.service)  # issue 17: edited as someone holding the data keys could
    await sql(
        harness.service.db.url,
        "UPDATE reports SET body_json = replace(body_json, '\"household_size\": 3', '\"household_size\": 2') "
        f"WHERE id = '{first.report_id}'",
    )
    for view in (verification_pb2.STRUCTURED, verification_pb2.HTML, verification_pb2.PDF):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await harness.verifications.GetReport(verification_pb2.GetReportRequest(name=name, view=view))
        assert refused.value.code() == grpc.StatusCode.DATA_LOSS
        assert error_details(refused.value)[0] == "REPORT_TAMPERED"
        assert f"{name} (report {first.report_id})" in (refused.value.details() or "")
