"""The integrator's guard: the stored log proven against the signer's state before anything is signed.

Every integration takes the signer's lease first (one row, locked until the integration commits, so
integrations take turns across every process on the database), then compares what the database holds with
the state kept beside the key (:mod:`audit.state`):

* the newest stored head is the one the state names, and exactly that many leaves are stored: go on, after
  proving the stored leaves against the state's root once per process (every entry hashed);
* the state is one head ahead and its batch is still queued (or stored without its head): a crash between
  saving the state and committing; the batch is stored again exactly as it was signed;
* anything else — heads or leaves removed, a database restored from an older backup, a head the state never
  signed, leaves beyond the signed size — stops signing (:class:`SigningStopped`) until an operator runs
  ``hedui audit recover`` (docs/audit.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from audit.checkpoint import Checkpoint, CheckpointError, parse_note
from audit.log import audit_entries, audit_leaves, audit_pending, audit_signer, audit_tree_heads
from audit.merkle import MerkleTree, RootAccumulator, leaf_hash
from audit.state import SignerState, seqs_of

__all__ = [
    "SigningStopped",
    "StoredTip",
    "adopted_state",
    "batch_rows",
    "disagreement",
    "extend_proven",
    "holder_name",
    "proven_tree",
    "resumable",
    "stored_tip",
    "take_turn",
]

_PAGE = 10_000


class SigningStopped(Exception):
    """The log will not sign: the stored log disagrees with the signer's state (the reason says how)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StoredTip:
    """What the database says the log is: its stored leaf rows and its newest signed head row."""

    leaves: int
    head_size: int
    head_note: str


def holder_name() -> str:
    """Who holds the lease, for an operator reading the row: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


async def take_turn(session: AsyncSession, holder: str) -> None:
    """Take the signer's lease for this transaction (the row stays locked until it ends)."""
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        update(audit_signer).where(audit_signer.c.id == 1).values(holder=holder, taken_at=dt.datetime.now(dt.UTC))
    )
    if result.rowcount != 1:
        raise SigningStopped("the signer's lease row (audit_signer, id 1) is gone: the schema was tampered with")


async def stored_tip(session: AsyncSession) -> StoredTip:
    """The stored leaf count and the newest head row, in one statement."""
    newest = select(audit_tree_heads.c.tree_size, audit_tree_heads.c.checkpoint).order_by(
        audit_tree_heads.c.tree_size.desc()
    )
    leaves = select(func.coalesce(func.max(audit_leaves.c.leaf_index), -1) + 1).scalar_subquery()
    row = (
        await session.execute(
            select(
                leaves,
                newest.with_only_columns(audit_tree_heads.c.tree_size).limit(1).scalar_subquery(),
                newest.with_only_columns(audit_tree_heads.c.checkpoint).limit(1).scalar_subquery(),
            )
        )
    ).one()
    return StoredTip(int(row[0]), int(row[1] or 0), str(row[2] or ""))


async def proven_tree(session: AsyncSession, size: int) -> tuple[MerkleTree, RootAccumulator]:
    """The stored leaves ``0..size-1``, each checked against the entry it names, as a tree and a compact range.

    :class:`SigningStopped` names the first leaf that is missing, whose entry is gone, or whose entry does
    not hash to it. Whether the leaves are the ones signed is the caller's check (the roots).
    """
    tree, accumulator = MerkleTree(), RootAccumulator()
    await extend_proven(session, tree, size, accumulator)
    return tree, accumulator


async def extend_proven(
    session: AsyncSession, tree: MerkleTree, size: int, accumulator: RootAccumulator | None = None
) -> None:
    """Extend ``tree`` (and ``accumulator``) with the stored leaves from its size up to ``size``, each checked
    against its entry as :func:`proven_tree` does: a tree proven before need not be read again."""
    e, leaves = audit_entries.c, audit_leaves.c
    after = tree.size - 1
    while tree.size < size:
        rows = (
            await session.execute(
                select(leaves.leaf_index, leaves.leaf_hash, leaves.entry_seq, e.entry)
                .outerjoin(audit_entries, e.seq == leaves.entry_seq)
                .where(leaves.leaf_index > after, leaves.leaf_index < size)
                .order_by(leaves.leaf_index)
                .limit(_PAGE)
            )
        ).all()
        if not rows:
            raise SigningStopped(f"leaf {tree.size}: missing, although the signer signed {size} leaves")
        for row in rows:
            _check_leaf(tree.size, row)
            tree.append(bytes(row.leaf_hash))
            if accumulator is not None:
                accumulator.push(bytes(row.leaf_hash))
        after = rows[-1].leaf_index


async def adopted_state(session: AsyncSession, tip: StoredTip, empty: SignerState) -> tuple[SignerState, MerkleTree]:
    """The stored log as the state (and its tree), when its leaves prove its newest head: for a state in memory only
    (tests and benches restart services with fresh keys over one database, as before there was a state)."""
    try:
        signed = Checkpoint.parse_body(parse_note(tip.head_note)[0])
    except CheckpointError as exc:
        raise SigningStopped(f"the stored signed head of size {tip.head_size} is not a checkpoint: {exc}") from None
    tree, accumulator = await proven_tree(session, tip.leaves)
    if signed.size != tip.leaves or tree.root() != signed.root_hash:
        raise SigningStopped(f"the stored leaves do not hash to the stored signed head of size {tip.head_size}")
    state = dataclasses.replace(
        empty,
        size=tip.leaves,
        compact_range=accumulator.compact_range,
        checkpoint=tip.head_note,
        previous_size=tip.leaves,
    )
    return state, tree


def _check_leaf(expected: int, row: Any) -> None:
    """One stored leaf, where it must be and naming an entry that hashes to it."""
    if row.leaf_index != expected:
        raise SigningStopped(f"leaf {expected}: missing (the stored leaves go on at {row.leaf_index})")
    if row.entry is None:
        raise SigningStopped(f"leaf {expected}: its entry (seq {row.entry_seq}) is gone")
    if leaf_hash(bytes(row.entry)) != bytes(row.leaf_hash):
        raise SigningStopped(f"leaf {expected}: its entry (seq {row.entry_seq}) does not hash to the stored leaf")


async def batch_rows(session: AsyncSession, seqs: Sequence[int]) -> dict[int, Any]:
    """The entries of ``seqs`` with whether each is queued and where it is in the tree, by seq."""
    found: dict[int, Any] = {}
    e = audit_entries.c
    for start in range(0, len(seqs), _PAGE):
        chunk = list(seqs[start : start + _PAGE])
        rows = await session.execute(
            select(e.seq, e.entry, audit_pending.c.seq.label("queued"), audit_leaves.c.leaf_index)
            .outerjoin(audit_pending, audit_pending.c.seq == e.seq)
            .outerjoin(audit_leaves, audit_leaves.c.entry_seq == e.seq)
            .where(e.seq.in_(chunk))
        )
        found.update({row.seq: row for row in rows})
    return found


async def resumable(session: AsyncSession, state: SignerState, tip: StoredTip) -> tuple[str, dict[int, Any]]:
    """Whether a state one head ahead can be resumed: ``"queued"`` (its batch still waits, the leaves before it
    stored), ``"stored"`` (its leaves stored, only the head missing) or ``""``; and the batch's rows."""
    if not tip.head_size == state.previous_size < state.size:
        return "", {}
    seqs = seqs_of(state.batch)
    rows = await batch_rows(session, seqs)
    if not all(s in rows for s in seqs):
        return "", rows
    if tip.leaves == state.previous_size and all(
        rows[s].queued is not None and rows[s].leaf_index is None for s in seqs
    ):
        return "queued", rows
    if tip.leaves == state.size and all(rows[s].leaf_index == state.previous_size + i for i, s in enumerate(seqs)):
        return "stored", rows
    return "", rows


def disagreement(state: SignerState, tip: StoredTip, where: str) -> str:
    """Why the stored log and the signer's state cannot both be right, in one line for the operator."""
    if tip.head_size > state.size:
        return (
            f"the database holds a signed head of size {tip.head_size}, beyond the signer's state at {where} "
            f"(size {state.size}): not signed from this state (another state file, or one restored from a backup)"
        )
    if tip.head_size < state.size:
        return (
            f"the database's newest signed head has size {tip.head_size}, the signer signed size {state.size} "
            f"(state at {where}): signed heads or entries were removed, or the database was restored from an "
            "older backup"
        )
    if tip.head_note != state.checkpoint:
        return f"the stored signed head of size {tip.head_size} is not the one the signer signed (state at {where})"
    return f"{tip.leaves} leaf rows are stored, the signer signed {state.size} (state at {where}): leaves were " + (
        "inserted beyond the signed tree" if tip.leaves > state.size else "removed"
    )
