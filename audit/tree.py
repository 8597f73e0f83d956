"""The Merkle tree over the audit entries, its signed tree heads and its proofs.

Entries are appended in the transactions of the state changes they record; the log then
*integrates* them in batches: it gives each committed entry the next leaf index, stores the
leaf hashes, and signs one C2SP checkpoint for the new tree size. One signature per batch
is what makes thousands of appends a second affordable (the log's group commit), and proofs
are only ever built at the size of a signed head, so every proof can be checked against a
checkpoint the log cannot later deny.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from audit.checkpoint import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint
from audit.log import audit_entries, audit_leaves, audit_pending, audit_tree_heads
from audit.merkle import MerkleTree, leaf_hash
from audit.witness import Witness, WitnessConflict

__all__ = ["ProofUnavailable", "SignedTreeHead", "Transaction", "TransparencyLog"]

log = logging.getLogger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[AsyncSession]]
"""Opens a write transaction that commits when the block exits cleanly (e.g. ``Database.write``)."""

# Arbitrary constant naming the integration lock on PostgreSQL (pg_advisory_xact_lock).
_INTEGRATION_LOCK = 0x68656475_69  # "hedui"
MAX_BATCH = 50_000


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """A tree size and root, signed by the log as a C2SP checkpoint note."""

    tree_size: int
    root_hash: bytes
    checkpoint: str
    signed_at: dt.datetime


class ProofUnavailable(ValueError):
    """A proof was asked for at a size the log never signed, or for an index outside it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TransparencyLog:
    """Integrates committed audit entries into a Merkle tree, signs heads, serves proofs.

    The tree lives in memory (≈ 64 MB per million entries) and is brought up to date from the
    stored leaf hashes before each use, so several processes can share one database.
    """

    def __init__(self, origin: str, signer: NoteSigner, witnesses: Sequence[Witness] = ()) -> None:
        self.origin = origin
        self.signer = signer
        self.verifier: NoteVerifier = NoteVerifier.from_vkey(signer.verifier_key())
        self.witnesses = tuple(witnesses)
        self._tree = MerkleTree()
        self._lock = asyncio.Lock()

    # --- integration -----------------------------------------------------------------------

    async def integrate(self, transaction: Transaction, *, max_batch: int = MAX_BATCH) -> SignedTreeHead | None:
        """Give committed pending entries leaf indices and sign the new head; ``None`` if none were pending.

        Four statements when entries are pending (read them with the stored tree size, insert their leaves,
        take them off the queue, insert the head), one when none are; the head before is read only for
        the witnesses, and the stored leaf hashes only when another process integrated meanwhile.
        """
        async with self._lock:
            before: SignedTreeHead | None = None
            try:
                async with transaction() as session:
                    if session.get_bind().dialect.name == "postgresql":
                        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INTEGRATION_LOCK})
                    pending = await self._pending(session, max_batch)
                    if not pending:
                        return None
                    await self._sync(session, stored=pending[0].stored)
                    if self.witnesses:
                        before = await self.latest_head(session)
                    head = await self._integrate_in(session, pending)
            except BaseException:
                # The tree may hold leaves that were never committed; rebuild it from the database.
                self._tree = MerkleTree()
                raise
        await self._publish(before, head)
        return head

    @staticmethod
    async def _pending(session: AsyncSession, max_batch: int) -> Sequence[Any]:
        """Up to ``max_batch`` pending entries (seq, entry) in log order, each row with the stored tree size."""
        stored = select(func.coalesce(func.max(audit_leaves.c.leaf_index), -1) + 1).scalar_subquery()
        query = (
            select(audit_entries.c.seq, audit_entries.c.entry, stored.label("stored"))
            .join(audit_pending, audit_pending.c.seq == audit_entries.c.seq)
            .order_by(audit_entries.c.seq)
            .limit(max_batch)
        )
        return (await session.execute(query)).all()

    async def _integrate_in(self, session: AsyncSession, pending: Sequence[Any]) -> SignedTreeHead:
        """Append ``pending`` to the tree (synced to the stored leaves), store the leaves and the signed head."""
        first = self._tree.size
        leaves = [leaf_hash(row.entry) for row in pending]
        await session.execute(
            insert(audit_leaves),
            [
                {"leaf_index": first + i, "entry_seq": row.seq, "leaf_hash": leaf}
                for i, (row, leaf) in enumerate(zip(pending, leaves, strict=True))
            ],
        )
        await session.execute(delete(audit_pending).where(audit_pending.c.seq.in_([row.seq for row in pending])))
        self._tree.extend(leaves)
        root = self._tree.root()
        head = SignedTreeHead(
            tree_size=self._tree.size,
            root_hash=root,
            checkpoint=sign_checkpoint(Checkpoint(self.origin, self._tree.size, root), self.signer),
            signed_at=dt.datetime.now(dt.UTC),
        )
        await session.execute(
            insert(audit_tree_heads).values(
                tree_size=head.tree_size, root_hash=head.root_hash, checkpoint=head.checkpoint, signed_at=head.signed_at
            )
        )
        return head

    async def _sync(self, session: AsyncSession, *, stored: int | None = None) -> None:
        """Bring the in-memory tree to the stored leaves (another process may have integrated); ``stored``: the
        stored tree size when the caller has just read it."""
        if stored is None:
            stored = (
                await session.execute(select(func.coalesce(func.max(audit_leaves.c.leaf_index), -1)))
            ).scalar_one() + 1
        if self._tree.size > stored:
            self._tree = MerkleTree()
        if self._tree.size < stored:
            hashes = await session.execute(
                select(audit_leaves.c.leaf_hash)
                .where(audit_leaves.c.leaf_index >= self._tree.size)
                .order_by(audit_leaves.c.leaf_index)
            )
            self._tree.extend(hashes.scalars())

    async def _publish(self, before: SignedTreeHead | None, head: SignedTreeHead) -> None:
        """Hand the new head to every witness, with a consistency proof from the size it last saw."""
        for witness in self.witnesses:
            old_size = before.tree_size if before else 0
            for _attempt in range(2):
                try:
                    proof = self._tree.consistency_proof(old_size, head.tree_size) if old_size else []
                    await witness.add_checkpoint(old_size, proof, head.checkpoint)
                    break
                except WitnessConflict as conflict:
                    old_size = conflict.known_size
                except Exception:
                    log.exception("witness %r refused tree head %d", witness, head.tree_size)
                    break

    # --- reading -------------------------------------------------------------------------

    async def latest_head(self, session: AsyncSession) -> SignedTreeHead | None:
        """The newest signed tree head (None: the log has signed none yet)."""
        row = (
            await session.execute(select(audit_tree_heads).order_by(audit_tree_heads.c.tree_size.desc()).limit(1))
        ).first()
        return _head(row) if row is not None else None

    async def head_at(self, session: AsyncSession, tree_size: int) -> SignedTreeHead | None:
        """The signed tree head of exactly ``tree_size`` entries, if the log signed one."""
        row = (await session.execute(select(audit_tree_heads).where(audit_tree_heads.c.tree_size == tree_size))).first()
        return _head(row) if row is not None else None

    async def entry_at(self, session: AsyncSession, index: int) -> bytes:
        """The entry at leaf ``index``; :class:`ProofUnavailable` when the tree has none there."""
        entry: bytes | None = (
            await session.execute(
                select(audit_entries.c.entry)
                .join(audit_leaves, audit_leaves.c.entry_seq == audit_entries.c.seq)
                .where(audit_leaves.c.leaf_index == index)
            )
        ).scalar()
        if entry is None:
            raise ProofUnavailable("index", f"no entry at {index}")
        return entry

    async def heads(self, session: AsyncSession) -> list[SignedTreeHead]:
        """Every signed tree head, smallest first."""
        rows = (await session.execute(select(audit_tree_heads).order_by(audit_tree_heads.c.tree_size))).all()
        return [_head(row) for row in rows]

    async def _signed_size(self, session: AsyncSession, tree_size: int, what: str) -> SignedTreeHead:
        head = await (self.latest_head(session) if tree_size == 0 else self.head_at(session, tree_size))
        if head is None:
            raise ProofUnavailable(
                what,
                "the log has signed no tree head yet"
                if tree_size == 0
                else f"{tree_size} is not the size of a signed tree head",
            )
        return head

    async def inclusion_proof(
        self, session: AsyncSession, index: int, tree_size: int = 0
    ) -> tuple[list[bytes], SignedTreeHead]:
        """Audit path of leaf ``index`` in the tree of a signed head (the latest when ``tree_size`` is 0)."""
        head = await self._signed_size(session, tree_size, "tree_size")
        if not 0 <= index < head.tree_size:
            raise ProofUnavailable("index", f"{index} is outside the signed tree of size {head.tree_size}")
        async with self._lock:
            await self._sync(session)
            return self._tree.inclusion_proof(index, head.tree_size), head

    async def consistency_proof(
        self, session: AsyncSession, first_size: int, second_size: int = 0
    ) -> tuple[list[bytes], SignedTreeHead, SignedTreeHead]:
        """Proof that the signed tree of ``first_size`` is a prefix of the one of ``second_size``."""
        second = await self._signed_size(session, second_size, "second_size")
        if first_size <= 0:
            raise ProofUnavailable("first_size", "a consistency proof from the empty tree proves nothing")
        first = await self._signed_size(session, first_size, "first_size")
        if first.tree_size > second.tree_size:
            raise ProofUnavailable("first_size", "must not be larger than second_size")
        async with self._lock:
            await self._sync(session)
            return self._tree.consistency_proof(first.tree_size, second.tree_size), first, second


def _head(row: object) -> SignedTreeHead:
    signed_at: dt.datetime = row.signed_at  # type: ignore[attr-defined]
    return SignedTreeHead(
        tree_size=row.tree_size,  # type: ignore[attr-defined]
        root_hash=row.root_hash,  # type: ignore[attr-defined]
        checkpoint=row.checkpoint,  # type: ignore[attr-defined]
        signed_at=signed_at if signed_at.tzinfo else signed_at.replace(tzinfo=dt.UTC),
    )
