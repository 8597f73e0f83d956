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
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from sqlalchemy import ARRAY, any_, bindparam, delete, insert, or_, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from audit import metrics
from audit._export_scan import line_record
from audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteKey,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    sign_checkpoint,
)
from audit.heads import head_facts, head_line, note_facts
from audit.leaf_index import LeafIndex
from audit.log import (
    EntryMac,
    as_utc,
    audit_entries,
    audit_leaves,
    audit_pending,
    audit_refused,
    audit_tree_heads,
    column_disagreement,
    insert_rows,
    sqlite_datetime_text,
    subjects_column,
)
from audit.merkle import MerkleTree, RootAccumulator, compact_range, leaf_hash
from audit.organisation import entry_organisation
from audit.signer import (
    SigningStopped,
    StoredTip,
    adopted_state,
    disagreement,
    extend_proven,
    holder_name,
    proven_tree,
    resumable,
    stored_tip,
    take_turn,
)
from audit.state import MemoryState, SignerState, StateError, StateStore, WriteGate, runs, seqs_of
from audit.witness import Witness, WitnessConflict

__all__ = [
    "LogDamaged",
    "ProofUnavailable",
    "SignedTreeHead",
    "SigningStopped",
    "Transaction",
    "TransparencyLog",
    "checked_head",
    "screen",
    "synced_tree",
]

log = logging.getLogger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[AsyncSession]]
"""Opens a write transaction that commits when the block exits cleanly (e.g. ``Database.write``)."""

MAX_BATCH = 50_000
_LEAF_PREFIX = b"\x00"
_sha256 = hashlib.sha256
_loads = orjson.loads


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """A tree size and root, signed by the log as a C2SP checkpoint note."""

    tree_size: int
    root_hash: bytes
    checkpoint: str
    signed_at: dt.datetime


class LogDamaged(Exception):
    """The stored log does not match what the log signed: nothing is served from it as genuine."""


class ProofUnavailable(ValueError):
    """A proof was asked for at a size the log never signed, or for an index outside it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TransparencyLog:
    """Integrates committed audit entries into a Merkle tree, signs heads, serves proofs.

    Signing extends only the signer's state (:mod:`audit.state`), proven against the stored log first
    (:mod:`audit.signer`). The tree lives in memory (≈ 64 MB per million entries, its leaves' index 16-32 MB:
    :mod:`audit.leaf_index`) for proofs and copies; processes sharing one database take turns through its lease."""

    def __init__(
        self,
        origin: str,
        signer: NoteSigner,
        witnesses: Sequence[Witness] = (),
        *,
        state: StateStore | None = None,
        gate: WriteGate | None = None,
        entry_mac: EntryMac | None = None,
        cosigners: Sequence[NoteKey] = (),  # issue 17: the log's SM2 key signs each head too under the sm suite
    ) -> None:
        """The log ``origin`` signed by ``signer``; its state in ``state`` (in memory when not given: tests),
        writes stopped through ``gate`` while it cannot sign, queued rows checked with ``entry_mac``."""
        self.origin = origin
        self.signer, self.cosigners = signer, tuple(cosigners)
        self.verifier: NoteVerifier = NoteVerifier.from_vkey(signer.verifier_key())
        self.witnesses = tuple(witnesses)
        self.state: StateStore = state if state is not None else MemoryState()
        self.gate = gate if gate is not None else WriteGate()
        self.entry_mac = entry_mac
        self.last_integrated = time.monotonic()
        self.damage: str | None = None
        self._checked = False  # the stored log was found to agree with the state since the last failure
        self._holder = holder_name()
        self._tree, self._leaves = MerkleTree(), LeafIndex()  # the proven tree; its leaves by hash (copies)
        self._lock = asyncio.Lock()

    # --- integration -----------------------------------------------------------------------

    async def integrate(self, transaction: Transaction, *, max_batch: int = MAX_BATCH) -> SignedTreeHead | None:
        """Give committed pending entries leaf indices and sign the new head; ``None`` if none were pending.

        :class:`~audit.signer.SigningStopped` when the stored log disagrees with the signer's state; writes
        stop (the gate closes) until an integration succeeds again.
        """
        async with self._lock:
            if self._checked and self.gate.open and not await _queued(transaction):
                self.last_integrated = time.monotonic()
                return None
            try:
                async with transaction() as session:
                    await take_turn(session, self._holder)
                    state, resumed = await self._agreed_state(session)
                    head = resumed or await self._integrate_in(session, state, max_batch)
            except SigningStopped as stop:
                self._tree, self._checked = MerkleTree(), False
                if self.damage is None:  # one line when it stops (the gate may be closed already, for the bound)
                    log.error("audit log: signing and writes STOPPED: %s; see docs/audit.md, hedui audit recover", stop)
                self.damage = stop.reason
                self.gate.close(f"the audit log stopped signing: {stop.reason}")
                metrics.WRITES_STOPPED.set(1)
                raise
            except BaseException:
                # The tree may hold leaves that were never committed; rebuild it from the database.
                self._tree = MerkleTree()
                self._checked = False
                raise
        self.last_integrated = time.monotonic()
        if self.gate.reopen():
            log.warning("audit log: signing again, writes resumed")
            metrics.WRITES_STOPPED.set(0)
        self.damage = None
        self._checked = True
        if head is not None:
            await self._publish(state.previous_size if resumed else state.size, head)
        return head

    def overdue(self, bound_seconds: float) -> bool:
        """Stop writes when no integration succeeded for ``bound_seconds``; whether they are stopped now."""
        waited = time.monotonic() - self.last_integrated
        if waited > bound_seconds and self.gate.close(
            f"audit entries could not be integrated for {waited:.0f} s (audit_integration_bound_seconds: "
            f"{bound_seconds:g})"
        ):
            log.error("audit log: writes STOPPED: nothing integrated for %.0f s; see docs/audit.md", waited)
            metrics.WRITES_STOPPED.set(1)
        return not self.gate.open

    async def _agreed_state(self, session: AsyncSession) -> tuple[SignerState, SignedTreeHead | None]:
        """The signer's state once the stored log is found to agree with it (a crash resumed: its head)."""
        tip = await stored_tip(session)
        try:
            state = self.state.load()
        except StateError as exc:
            raise SigningStopped(str(exc)) from None
        if state is None:
            state = await self._first_state(session, tip)
        if (state.origin, state.key_id) != (self.origin, self.signer.key_id.hex()):
            raise SigningStopped(f"the signer state at {self.state.where} is of another log or key")
        if tip.head_size == state.size and tip.head_note == state.checkpoint and tip.leaves == state.size:
            await self._tree_at(session, state)
            return state, None
        if tip.head_size == state.previous_size < state.size:
            return state, await self._resume(session, state, tip)
        raise SigningStopped(disagreement(state, tip, self.state.where))

    async def _first_state(self, session: AsyncSession, tip: StoredTip) -> SignerState:
        """No state saved yet: a new log starts empty; a stored log is adopted only by a state in memory."""
        state = SignerState(self.origin, self.signer.key_id.hex())
        if tip.head_size or tip.leaves:
            if not getattr(self.state, "trust_on_first_use", False):
                raise SigningStopped(
                    f"there is no signer state at {self.state.where}, yet the database holds a log of {tip.leaves} "
                    f"leaves (newest signed head: size {tip.head_size}); after an upgrade or a lost state file, check "
                    "the log and adopt it with `hedui audit recover`"
                )
            state, self._tree = await adopted_state(session, tip, state)
            self.state.save(state)
        return state  # a new log's state is saved with the first head it signs

    async def _tree_at(self, session: AsyncSession, state: SignerState) -> None:
        """The in-memory tree at the state's size, its leaves proven against the state's root."""
        if self._tree.size == state.size and self._tree.root() == state.root:
            return
        if 0 < self._tree.size < state.size and self._checked:  # proven before: another process integrated since
            tree = self._tree
            await extend_proven(session, tree, state.size)
        else:
            tree, _ = await proven_tree(session, state.size)
        if tree.root() != state.root:
            raise SigningStopped(
                f"the stored leaves 0..{state.size - 1} do not hash to the root the signer signed at size "
                f"{state.size}: the log was rewritten"
            )
        self._tree = tree

    async def _resume(self, session: AsyncSession, state: SignerState, tip: StoredTip) -> SignedTreeHead:
        """Store the batch of a state one head ahead (a crash before its commit) exactly as it was signed."""
        how, rows = await resumable(session, state, tip)
        if not how:
            raise SigningStopped(disagreement(state, tip, self.state.where))
        seqs = seqs_of(state.batch)
        if how == "queued":
            self._tree, _ = await proven_tree(session, state.previous_size)
            leaves = [(s, leaf_hash(bytes(rows[s].entry))) for s in seqs]
            await _store_leaves(session, self._tree.size, leaves)
            await session.execute(delete(audit_pending).where(audit_pending.c.seq.in_(seqs)))
            self._tree.extend(leaf for _, leaf in leaves)
        else:
            self._tree, _ = await proven_tree(session, state.size)
        if self._tree.root() != state.root:
            raise SigningStopped(
                f"the entries of the batch signed at size {state.size} no longer hash to its root: rewritten"
            )
        facts = note_facts(state.checkpoint)
        signed_at = facts.time if facts is not None else dt.datetime.now(dt.UTC)
        head = await _store_head(session, state.size, state.root, state.checkpoint, signed_at)
        log.warning("audit log: resumed the head of size %d signed before a crash", state.size)
        return head

    async def _integrate_in(self, session: AsyncSession, state: SignerState, max_batch: int) -> SignedTreeHead | None:
        """Screen the queue, extend the signer's state with what passes, store the leaves and the signed head."""
        accepted, refused = await screen(session, self.entry_mac, max_batch, partial(self._leaves.find, self._tree))
        if refused:
            await _refuse(session, refused)
        if not accepted:
            return None
        leaves, first = [leaf for _, leaf in accepted], self._tree.size
        accumulator = _extended(self._tree, state, leaves)
        root, size = accumulator.root(), accumulator.size
        before = note_facts(state.checkpoint)
        signed_at = dt.datetime.now(dt.UTC)
        if before is not None and signed_at < before.time:  # log time never goes backwards
            signed_at = before.time
        line = head_line(state.size, signed_at)
        note = sign_checkpoint(Checkpoint(self.origin, size, root, (line,)), self.signer, *self.cosigners)
        await _store_leaves(session, first, accepted)
        await _dequeue(session, [s for s, _ in accepted])
        head = await _store_head(session, size, root, note, signed_at)
        # Durable before the commit: a crash now leaves the state one head ahead, which is resumed.
        self.state.save(
            SignerState(
                self.origin,
                self.signer.key_id.hex(),
                size,
                accumulator.compact_range,
                note,
                state.size,
                runs(s for s, _ in accepted),
            )
        )
        if self._tree.size < size:
            self._tree.extend(leaves)
        return head

    def vouches_for(self, index: int, entry: bytes) -> bool:
        """Whether ``entry`` is the leaf at ``index`` of the tree this process proved (True beyond its size)."""
        return index >= self._tree.size or self._tree.leaf(index) == leaf_hash(entry)

    def checked(self, head: SignedTreeHead) -> SignedTreeHead:
        """``head`` if its note is this log's signature of it (see :func:`checked_head`), else :class:`LogDamaged`."""
        return checked_head(head, self.verifier, self.origin)

    async def _sync(self, session: AsyncSession, head: SignedTreeHead) -> None:
        """The in-memory tree up to ``head`` (another process may have integrated), checked against it: the
        head's note must be this log's signature of its size and root, and the stored leaves must hash to it."""
        self.checked(head)
        if self._tree.size < head.tree_size:
            rows = await _leaf_hashes(session, self._tree.size, head.tree_size)
            self._tree.extend(bytes(r.leaf_hash) for r in rows)
        if self._tree.size < head.tree_size or self._tree.root(head.tree_size) != head.root_hash:
            self._tree = MerkleTree()
            raise LogDamaged(f"the stored leaves do not hash to the signed head of size {head.tree_size}")

    async def _publish(self, before: int, head: SignedTreeHead) -> None:
        """Hand the new head to every witness, with a consistency proof from the size it last saw."""
        for witness in self.witnesses:
            old_size = before
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
            await self._sync(session, head)
            return self._tree.inclusion_proof(index, head.tree_size), head

    async def consistency_proof(
        self, session: AsyncSession, first_size: int, second_size: int = 0
    ) -> tuple[list[bytes], SignedTreeHead | None, SignedTreeHead]:
        """Proof that the tree of ``first_size`` entries is a prefix of the signed one of ``second_size``.

        ``first_size`` may be any size up to it: a supervisor holding a checkpoint checks the proof against the
        root they hold, so the log cannot deny a checkpoint whose head row is gone. The stored head of
        ``first_size`` is returned too when there is one (``None`` otherwise).
        """
        second = await self._signed_size(session, second_size, "second_size")
        if first_size <= 0:
            raise ProofUnavailable("first_size", "a consistency proof from the empty tree proves nothing")
        if first_size > second.tree_size:
            raise ProofUnavailable("first_size", "must not be larger than second_size")
        first = await self.head_at(session, first_size)
        async with self._lock:
            await self._sync(session, second)
            if first is not None:
                self.checked(first)
            return self._tree.consistency_proof(first_size, second.tree_size), first, second


async def synced_tree(log: TransparencyLog, session: AsyncSession, head: SignedTreeHead) -> MerkleTree:
    """``log``'s in-memory tree holding at least ``head``'s leaves, proven against its root (C2SP tlog-tiles,
    audit/tiles.py, reads its subtree hashes; the tree only grows, so what it holds up to ``head`` stays)."""
    async with log._lock:
        await log._sync(session, head)
        return log._tree


def checked_head(head: SignedTreeHead, verifier: NoteVerifier, origin: str) -> SignedTreeHead:
    """``head`` if its note is ``verifier``'s signature of its size and root (and, for heads hedui signs now, of
    the time stored beside it); else :class:`LogDamaged` — a head row for a size never signed, or edited."""
    try:
        signed = open_checkpoint(head.checkpoint, verifier, origin)
        facts = head_facts(signed)
    except CheckpointError as exc:
        raise LogDamaged(f"the stored signed head of size {head.tree_size} does not verify: {exc}") from None
    if (signed.size, signed.root_hash) != (head.tree_size, head.root_hash):
        raise LogDamaged(f"the stored head of size {head.tree_size} is not the checkpoint it carries")
    if facts is not None and facts.time != head.signed_at:
        raise LogDamaged(f"the stored head of size {head.tree_size}: its signed_at is not the time it signs")
    return head


def _extended(tree: MerkleTree, state: SignerState, leaves: list[bytes]) -> RootAccumulator:
    """The signer state's accumulator extended by ``leaves``. When the tree in memory is the state's (proven: its
    root at the state's size is the one signed) the batch is hashed once: the tree is extended and its perfect
    subtrees at the new size are the compact range the accumulator would compute (should the transaction fail,
    the integrator rebuilds the tree). Otherwise the state's accumulator extends it as before."""
    if tree.size == state.size and tree.root() == state.root:
        tree.extend(leaves)
        return RootAccumulator.from_range(tree.size, compact_range(tree, tree.size))
    accumulator = state.accumulator()
    accumulator.extend(leaves)
    return accumulator


async def _store_leaves(session: AsyncSession, first: int, leaves: Sequence[tuple[int, bytes]]) -> None:
    """Store leaves ``first``.. for the entries (seq, leaf hash) given, in order."""
    rows = [(first + i, seq, leaf) for i, (seq, leaf) in enumerate(leaves)]
    await insert_rows(session, audit_leaves, ("leaf_index", "entry_seq", "leaf_hash"), rows)


async def _store_head(
    session: AsyncSession, size: int, root: bytes, note: str, signed_at: dt.datetime
) -> SignedTreeHead:
    """Store a signed head; ``signed_at`` is the time its note signs (stored beside it, checked by verify)."""
    head = SignedTreeHead(tree_size=size, root_hash=root, checkpoint=note, signed_at=signed_at)
    await session.execute(
        insert(audit_tree_heads).values(
            tree_size=head.tree_size, root_hash=head.root_hash, checkpoint=head.checkpoint, signed_at=head.signed_at
        )
    )
    return head


async def _leaf_hashes(session: AsyncSession, low: int, high: int) -> Sequence[Any]:
    """The stored leaf hashes ``low..high-1`` in order."""
    return (
        await session.execute(
            select(audit_leaves.c.leaf_hash)
            .where(audit_leaves.c.leaf_index >= low, audit_leaves.c.leaf_index < high)
            .order_by(audit_leaves.c.leaf_index)
        )
    ).all()


async def _queued(transaction: Transaction) -> bool:
    """Whether any row waits in the queue (one read; no lease taken when none does)."""
    async with transaction() as session:
        return (await session.execute(select(audit_pending.c.seq).limit(1))).first() is not None


async def screen(
    session: AsyncSession,
    entry_mac: EntryMac | None,
    max_batch: int,
    in_tree: Callable[[Sequence[bytes]], list[tuple[bytes, int]]],
) -> tuple[list[tuple[int, bytes]], list[tuple[int, str]]]:
    """The queue's next rows in seq order: those to integrate (seq, leaf hash) and those refused (seq, why).

    Refused: a queue row with no entry, an entry already in the tree (re-queued), an entry whose MAC does not
    verify (not appended by hedui) or whose columns disagree with its bytes (edited since), a copy of an entry
    in the tree (``in_tree`` says which hashes the signed tree holds, and where) or earlier in the batch.

    The rows are read by one statement handed to the driver as written (no SQLAlchemy row processing: on SQLite
    its DATETIME parse was a large part of an integration's CPU) and checked on the common path in few steps
    (:func:`_accepted_leaf`); any row off it takes :func:`_refusal`, which decides it as before.
    """
    dialect = session.get_bind().dialect
    connection = await session.connection()
    rows = await connection.exec_driver_sql(_queue_statement(dialect, int(max_batch)))
    slow = _slow_row(dialect)
    accepted: dict[bytes, int] = {}
    refused: list[tuple[int, str]] = []
    sqlite = dialect.name == "sqlite"
    raw: Sequence[Any]
    for raw in rows:
        leaf = _accepted_leaf(raw, entry_mac, sqlite)
        reason: str | None = None
        if leaf is None:
            queued_row = slow(raw)
            reason = _refusal(queued_row, entry_mac)
            entry = queued_row.entry
            leaf = _sha256(_LEAF_PREFIX + entry).digest() if isinstance(entry, bytes) else b""
        queued = raw[0]
        if reason is None and leaf in accepted:
            reason = f"a copy of entry seq {accepted[leaf]} queued before it"
        if reason is None:
            accepted[leaf] = queued
        else:
            refused.append((queued, reason))
    for leaf, index in in_tree(list(accepted)):
        refused.append((accepted.pop(leaf), f"a copy of the entry at leaf {index}"))
    return [(seq, leaf) for leaf, seq in sorted(accepted.items(), key=lambda item: item[1])], refused


# What screen reads of a queue row, in this order after the queued seq and the leaf index (if integrated).
_SCREENED = (
    "entry",
    "mac",
    "kind",
    "operator",
    "client",
    "verification",
    "authorization",
    "department",
    "subjects",
    "organisation",
    "recorded_at",
    "seq",
)


@functools.cache
def _queue_statement(dialect: Dialect, limit: int) -> str:
    """``screen``'s statement: the first ``limit`` queue rows with their entries' columns and leaf index."""
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(f"e.{quote(name)}" for name in _SCREENED)
    return (
        f"SELECT p.seq, l.leaf_index, {columns} FROM audit_pending p "
        "LEFT OUTER JOIN audit_entries e ON e.seq = p.seq LEFT OUTER JOIN audit_leaves l ON l.entry_seq = p.seq "
        f"ORDER BY p.seq LIMIT {int(limit)}"
    )


@dataclass(frozen=True, slots=True)
class _QueuedRow:
    """A queue row as :func:`_refusal` and :func:`~audit.log.column_disagreement` read it (the slow path)."""

    queued: int
    leaf_index: int | None
    entry: bytes | None
    mac: bytes | None
    kind: str
    operator: str
    client: str
    verification: str
    authorization: str
    department: str
    subjects: str
    organisation: str
    recorded_at: dt.datetime | None
    seq: int | None


@functools.cache
def _slow_row(dialect: Dialect) -> Callable[[Sequence[Any]], _QueuedRow]:
    """A raw queue row as a :class:`_QueuedRow`, its values as SQLAlchemy's column types would hand them back
    (on SQLite the stored text of ``recorded_at`` parsed by the DATETIME type; bytes as bytes)."""
    parse = audit_entries.c.recorded_at.type.dialect_impl(dialect).result_processor(dialect, None)

    def row(raw: Sequence[Any]) -> _QueuedRow:
        values = list(raw)
        for i in (2, 3):  # entry, mac: bytes as SQLAlchemy's LargeBinary hands them back
            if isinstance(values[i], memoryview | bytearray):
                values[i] = bytes(values[i])
        if parse is not None and values[12] is not None:
            values[12] = parse(values[12])
        return _QueuedRow(*values)

    return row


def _accepted_leaf(row: Sequence[Any], entry_mac: EntryMac | None, sqlite: bool) -> bytes | None:
    """The leaf hash of a raw queue row (see ``_SCREENED``) that passes every check of :func:`_refusal` on its
    common path — an entry not yet integrated, its MAC valid, its bytes a JSON object decoded by orjson, every
    column what :meth:`AuditLog._row <audit.log.AuditLog>` writes for it — else ``None`` (the row then takes
    :func:`_refusal`, which decides exactly what is wrong, or that nothing is). Nothing it accepts is refused
    there: each comparison is one of :func:`~audit.log.column_disagreement`'s, on the same values."""
    entry, mac = row[2], row[3]
    if entry.__class__ is not bytes or mac.__class__ is not bytes or row[1] is not None or entry_mac is None:
        return None
    if not hmac.compare_digest(entry_mac.mac(entry), mac):
        return None
    try:
        body = _loads(entry)
    except ValueError:
        return None
    if body.__class__ is not dict or not _columns_agree(row, body) or not _time_agrees(row[12], body, sqlite):
        return None
    return _sha256(_LEAF_PREFIX + entry).digest()


def _columns_agree(row: Sequence[Any], body: dict[str, Any]) -> bool:
    """Whether a raw queue row's text columns, subjects and organisation are the signed entry ``body``'s."""
    (kind, operator, client, verification, authorization, department, subjects, organisation) = row[4:12]
    signed_subjects, details = body.get("subjects"), body.get("details")
    return (
        kind == body.get("kind")
        and operator == body.get("operator")
        and client == body.get("client")
        and verification == body.get("verification")
        and authorization == body.get("authorization")
        and department == body.get("department")
        and client.__class__ is str
        and signed_subjects.__class__ is list
        and details.__class__ is dict
        and subjects == subjects_column(signed_subjects)
        and organisation == entry_organisation(client, details)
    )


def _time_agrees(recorded_at: Any, body: dict[str, Any], sqlite: bool) -> bool:
    """Whether the stored time is the signed one: on SQLite the stored text must be the one an append stores for
    the signed instant (``sqlite_datetime_text``, which SQLAlchemy's DATETIME parses back to that instant, so
    column_disagreement agrees); elsewhere the instants must be equal."""
    time = body.get("time")
    if time.__class__ is not str:
        return False
    try:
        signed = dt.datetime.fromisoformat(time)
    except ValueError:
        return False
    if sqlite and len(time) == 32 and time[10] == "T" and time[26:] == "+00:00":
        # What canonical_entry writes (UTC, microseconds): its SQLite text is the same fields with a space for T,
        # which sqlite_datetime_text(signed) would write (a valid instant of this shape prints back as itself).
        return bool(recorded_at == time[:10] + " " + time[11:26])
    if not sqlite:
        return recorded_at.__class__ is dt.datetime and as_utc(recorded_at) == signed
    if signed.tzinfo is None:
        return False
    return bool(recorded_at == sqlite_datetime_text(signed if signed.tzinfo is dt.UTC else signed.astimezone(dt.UTC)))


def _among(session: AsyncSession, column: Any, values: Sequence[Any]) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter however many values (an IN
    list is compiled a parameter a value, most of an integration's CPU for a large batch)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("values", list(values), type_=ARRAY(column.type)))
    return column.in_(values)


async def _dequeue(session: AsyncSession, seqs: Sequence[int]) -> None:
    """Take ``seqs`` (ascending) off the queue: by ranges when they are few runs of consecutive numbers, as a
    batch mostly is (every number in a run is one of ``seqs``, so a range takes no other row)."""
    batch = runs(seqs)
    pending = audit_pending.c.seq
    where = (
        or_(*(pending.between(low, high) for low, high in batch))
        if len(batch) <= 32
        else _among(session, pending, seqs)
    )
    await session.execute(delete(audit_pending).where(where))


def _refusal(row: Any, entry_mac: EntryMac | None) -> str | None:
    """Why one queue row may not be integrated, or ``None``."""
    if row.entry is None:
        return "a queue row for no stored entry"
    if row.leaf_index is not None:
        return f"already integrated at leaf {row.leaf_index} (queued again)"
    if not isinstance(row.entry, bytes):  # SQLite stores whatever is inserted: text in the entry column
        return "its bytes are not an entry"
    if entry_mac is None:  # a log that checks nothing of what hedui's append guarantees (tests, benches)
        return None
    if not entry_mac.check(row.entry, row.mac if isinstance(row.mac, bytes) else None):
        return "its MAC does not verify: not appended by hedui"
    try:
        body = line_record(row.entry)  # orjson, json for what orjson refuses
    except ValueError:
        return "its bytes are not an entry"
    if not isinstance(body, dict):
        return "its bytes are not an entry"
    disagreement = column_disagreement(row, body)
    return None if disagreement is None else f"{disagreement}: a column edited after it was appended"


async def _refuse(session: AsyncSession, refused: Sequence[tuple[int, str]]) -> None:
    """Take refused rows off the queue and keep them as evidence; one warning each."""
    now = dt.datetime.now(dt.UTC)
    await session.execute(
        insert(audit_refused), [{"seq": seq, "refused_at": now, "reason": reason} for seq, reason in refused]
    )
    await session.execute(
        delete(audit_pending).where(_among(session, audit_pending.c.seq, [seq for seq, _ in refused]))
    )
    for seq, reason in refused:
        log.warning("audit log: queued entry seq %d refused: %s", seq, reason)
    metrics.ENTRIES_REFUSED.inc(len(refused))


def _head(row: object) -> SignedTreeHead:
    signed_at: dt.datetime = row.signed_at  # type: ignore[attr-defined]
    return SignedTreeHead(
        tree_size=row.tree_size,  # type: ignore[attr-defined]
        root_hash=row.root_hash,  # type: ignore[attr-defined]
        checkpoint=row.checkpoint,  # type: ignore[attr-defined]
        signed_at=signed_at if signed_at.tzinfo else signed_at.replace(tzinfo=dt.UTC),
    )
