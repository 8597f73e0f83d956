"""audit/verify.py on its own: a check while the service integrates, exports that lie, witnesses read as they lie.

The command-line side (``hedui audit verify``) is in test_transparency_log.py and tests/verifier/cli/test_audit.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from audit.checkpoint import Checkpoint, CheckpointError, NoteSigner, sign_checkpoint
from audit.events import AuditEvent, canonical_entry
from audit.log import AuditLog, audit_entries, audit_leaves
from audit.merkle import MerkleTree, leaf_hash
from audit.tree import TransparencyLog
from audit.verify import (
    check_export,
    check_stored_log,
    export_entry_line,
    export_head_line,
    export_header_line,
    witnessed_checkpoint,
)
from audit.witness import HISTORY_FILE, FileWitness, WitnessError
from verifier.storage.db import Database

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # when the test exports' entries were written

ORIGIN = "hedui.test/audit"
SIGNER = NoteSigner.from_private_bytes(ORIGIN, bytes(range(32)))
VERIFIER = SIGNER.verifier()


# --- the stored log, checked while the service goes on integrating ---------------------------------


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.migrate()
    yield database
    await database.close()


class Service:
    """What the running service does to the log: append entries, integrate them under signed heads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.log = AuditLog(b"k" * 32)
        self.tree = TransparencyLog(ORIGIN, SIGNER)
        self.appended = 0

    async def append(self, n: int) -> None:
        async with self.db.write() as session:
            for _ in range(n):
                await self.log.append(session, AuditEvent(kind="REPORT_READ", operator=f"op-{self.appended}"))
                self.appended += 1

    async def integrate(self) -> None:
        await self.tree.integrate(self.db.write)


async def test_a_check_while_the_service_integrates_is_intact_and_counts_the_newer_entries(db: Database) -> None:
    service = Service(db)
    await service.append(5)
    await service.integrate()
    async with db.sessions() as session:
        execute = session.execute
        statements = 0

        async def execute_then_integrate(*args: Any, **kwargs: Any) -> Any:
            # After each of the checker's first statements (the heads, the leaves, the strays), the
            # service integrates a batch and appends another entry that waits.
            nonlocal statements
            result = await execute(*args, **kwargs)
            statements += 1
            if statements <= 3:
                await service.append(3)
                await service.integrate()
                await service.append(1)
            return result

        session.execute = execute_then_integrate  # type: ignore[method-assign]
        result = await check_stored_log(session, VERIFIER, origin=ORIGIN)
    assert result.intact, result.failure
    assert (result.entries, result.heads) == (5, 1)
    assert result.pending >= 4  # at least the batch integrated after the heads were read, and its waiting entry
    async with db.sessions() as session:
        quiet = await check_stored_log(session, VERIFIER, origin=ORIGIN)
    assert quiet.intact, quiet.failure
    assert (quiet.entries, quiet.heads, quiet.pending) == (service.appended - 1, 4, 1)


async def test_entries_waiting_for_integration_are_counted_not_failed(db: Database) -> None:
    service = Service(db)
    await service.append(4)
    await service.integrate()
    await service.append(2)
    async with db.sessions() as session:
        result = await check_stored_log(session, VERIFIER, origin=ORIGIN)
    assert result.intact, result.failure
    assert (result.entries, result.heads, result.pending) == (4, 1, 2)


async def test_a_leaf_that_no_signed_head_covers_is_still_caught(db: Database) -> None:
    service = Service(db)
    await service.append(3)
    await service.integrate()
    # Behind the service's back: an entry and its leaf, with no signed head over them.
    forged = json.dumps({"kind": "REPORT_READ", "operator": "ghost"}, sort_keys=True, separators=(",", ":")).encode()
    async with db.write() as session:
        inserted = await session.execute(
            insert(audit_entries).values(
                recorded_at=dt.datetime.now(dt.UTC),
                kind="REPORT_READ",
                operator="ghost",
                client="",
                verification="",
                authorization="",
                department="",
                subjects="[]",
                entry=forged,
            )
        )
        seq = inserted.inserted_primary_key[0]  # type: ignore[attr-defined]
        await session.execute(insert(audit_leaves).values(leaf_index=3, entry_seq=seq, leaf_hash=leaf_hash(forged)))
    async with db.sessions() as session:
        result = await check_stored_log(session, VERIFIER, origin=ORIGIN)
    assert result.failure is not None
    assert str(result.failure) == "entry 3: not covered by any signed tree head (inserted after the last head)"


# --- exports: the file, header included, is untrusted ------------------------------------------------


def export(
    n: int = 10,
    heads_after: tuple[int, ...] = (4, 9),
    *,
    origin: str = ORIGIN,
    signer: NoteSigner = SIGNER,
    header: dict[str, Any] | None = None,
) -> list[bytes]:
    """An export of ``n`` entries with heads after the given entries; ``header`` replaces the header's fields."""
    tree = MerkleTree()
    lines = [export_header_line(origin, signer.verifier_key(), n)]
    for i in range(n):
        entry = canonical_entry(AuditEvent(kind="REPORT_READ", verification=f"v{i}"), T0 + dt.timedelta(seconds=i))
        tree.append(leaf_hash(entry))
        lines.append(export_entry_line(i, entry))
        if i in heads_after:
            note = sign_checkpoint(Checkpoint(origin, tree.size, tree.root()), signer)
            lines.append(export_head_line(tree.size, note))
    if header is not None:
        lines[0] = json.dumps({**json.loads(lines[0]), **header}).encode() + b"\n"
    return lines


def test_a_whole_export_verifies() -> None:
    result = check_export(export(), VERIFIER)
    assert result.intact, result.failure
    assert (result.entries, result.heads) == (10, 2)


def test_an_export_cut_right_after_a_signed_head_is_missing_its_tail() -> None:
    lines = export()
    cut = lines[: lines.index(next(line for line in lines if b'"head": 5' in line)) + 1]
    result = check_export(cut, VERIFIER)
    assert result.failure is not None
    assert str(result.failure).startswith("entry 5: missing: the file's header announces 10 entries"), result.failure
    cut_mid_batch = export()[:10]  # the header, entries 0..4, the head at 5, entries 5..7
    assert str(check_export(cut_mid_batch, VERIFIER).failure).startswith("entry 8: missing")


def test_an_export_longer_than_its_header_says_fails_at_the_first_extra_entry() -> None:
    result = check_export(export(header={"tree_size": 5}), VERIFIER)
    assert str(result.failure) == "entry 5: beyond the 5 entries the file's header announces"


@pytest.mark.parametrize(
    "header",
    [{"origin": "another.log/audit"}, {"origin": None}, {"tree_size": "10"}, {"tree_size": -1}, {"tree_size": True}],
)
def test_an_export_header_that_is_not_for_this_log_fails(header: dict[str, Any]) -> None:
    result = check_export(export(header=header), VERIFIER)
    assert result.failure is not None and result.failure.index is None
    assert str(result.failure).startswith("line 1: the header's"), result.failure


@pytest.mark.parametrize("field", ["origin", "tree_size"])
def test_an_export_header_without_its_origin_or_size_fails(field: str) -> None:
    lines = export()
    lines[0] = json.dumps({k: v for k, v in json.loads(lines[0]).items() if k != field}).encode() + b"\n"
    result = check_export(lines, VERIFIER)
    assert str(result.failure).startswith(f"line 1: the header's {field}"), result.failure


def test_the_expected_origin_is_the_keys_not_the_headers() -> None:
    """Heads of another origin signed by the log's key, announced as such by the header, are refused."""
    lines = export(origin="another.log/audit")  # header and checkpoints say "another.log/audit"
    result = check_export(lines, VERIFIER)
    assert result.failure is not None and "another.log/audit" in str(result.failure)
    lines[0] = export_header_line(ORIGIN, SIGNER.verifier_key(), 10)  # the header lies, the heads do not
    result = check_export(lines, VERIFIER)
    assert str(result.failure).startswith("signed tree head at size 5: checkpoint origin 'another.log/audit'")


# --- a file witness's directory, read as it lies ----------------------------------------------------


def listing(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir()}


def cosigned(directory: Path, size: int) -> Checkpoint:
    """``directory`` becomes a file witness that cosigned the log's head of ``size``."""
    tree = MerkleTree()
    for i in range(size):
        tree.append(leaf_hash(b"%d" % i))
    checkpoint = Checkpoint(ORIGIN, size, tree.root())
    witness = FileWitness.open(directory, SIGNER.verifier_key())
    asyncio.run(witness.add_checkpoint(0, [], sign_checkpoint(checkpoint, SIGNER)))
    return checkpoint


def test_the_witnessed_checkpoint_is_read_without_changing_the_directory(tmp_path: Path) -> None:
    expected = cosigned(tmp_path, 7)
    before = listing(tmp_path)
    assert witnessed_checkpoint(tmp_path, VERIFIER) == expected
    assert listing(tmp_path) == before


def test_a_directory_that_never_witnessed_the_log_gives_nothing_and_stays_empty(tmp_path: Path) -> None:
    assert witnessed_checkpoint(tmp_path, VERIFIER) is None
    assert list(tmp_path.iterdir()) == []  # FileWitness.open would have created witness.key (and a lock)


def test_a_lost_or_forged_witness_state_is_refused(tmp_path: Path) -> None:
    cosigned(tmp_path, 3)
    [state] = tmp_path.glob("*.checkpoint")
    other = NoteSigner.generate(ORIGIN)
    state.write_text(sign_checkpoint(Checkpoint(ORIGIN, 9, bytes(32)), other))
    with pytest.raises(CheckpointError):
        witnessed_checkpoint(tmp_path, VERIFIER)
    state.unlink()
    assert (tmp_path / HISTORY_FILE).exists()
    with pytest.raises(WitnessError, match="is missing"):
        witnessed_checkpoint(tmp_path, VERIFIER)
