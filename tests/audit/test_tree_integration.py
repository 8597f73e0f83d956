"""audit.tree.TransparencyLog.integrate: the statements it costs, and two logs on one database staying in step
(they share the signer's state, kept beside the key)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import func, select
from statements import StatementCounter

from audit import AuditEvent, AuditLog
from audit.checkpoint import NoteSigner
from audit.log import audit_entries, audit_pending
from audit.state import FileState
from audit.tree import TransparencyLog
from verifier.storage.db import Database

ORIGIN = "hedui.test/tree-integration"
SIGNER = NoteSigner.from_private_bytes(ORIGIN, bytes(range(32)))


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162's MTH written out from the definition (no code shared with audit/)."""
    if len(leaves) == 1:
        return leaves[0]
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:split]) + _mth(leaves[split:])).digest()


async def _append(db: Database, log: AuditLog, count: int) -> None:
    async with db.write() as session:
        events = [(AuditEvent(kind="REPORT_READ", verification=f"v{i}"), ()) for i in range(count)]
        await log.append_many(session, events)


async def _pending(db: Database) -> int:
    async with db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(audit_pending))).scalar_one())


async def test_integrating_costs_six_statements_and_one_read_when_nothing_is_pending(db: Database) -> None:
    log, tree = AuditLog(b"k" * 32), TransparencyLog(ORIGIN, SIGNER)
    await _append(db, log, 3)
    with StatementCounter(db.engine) as counter:
        head = await tree.integrate(db.write)
    assert head is not None and head.tree_size == 3
    # the lease · the stored tip · the queue screened · the leaves · off the queue · the head (copies are looked
    # up in the proven tree in memory, audit.leaf_index)
    assert counter.count() == 6, counter.summary()
    assert await _pending(db) == 0
    with StatementCounter(db.engine) as counter:
        assert await tree.integrate(db.write) is None
    assert counter.count() == 1, counter.summary()  # is anything queued? no lease taken


async def test_a_log_behind_another_process_reads_the_leaves_it_missed(db: Database, tmp_path: Path) -> None:
    log = AuditLog(b"k" * 32)
    # Two processes with the same key share the signer's state beside it.
    mine, theirs = (TransparencyLog(ORIGIN, SIGNER, state=FileState(tmp_path / "log.state")) for _ in range(2))
    await _append(db, log, 2)
    await mine.integrate(db.write)
    await _append(db, log, 3)
    await theirs.integrate(db.write)  # another process: leaves 2..4
    await _append(db, log, 1)
    head = await mine.integrate(db.write)
    assert head is not None and head.tree_size == 6
    async with db.sessions() as session:
        found = await session.execute(select(audit_entries.c.entry).order_by(audit_entries.c.seq))
        entries = [bytes(e) for e in found.scalars()]
    assert head.root_hash == _mth([hashlib.sha256(b"\x00" + e).digest() for e in entries])
