"""Checking a whole audit log: every entry against the tree, every signed head, witnessed heads.

The checker is fed the log in order — entries by leaf index, each signed head right after the
entry that completes it — and stops at the first thing that is wrong, naming the entry (or the
head) where the log stops being what its signatures say it is. The same checker reads an
export file offline and the stored tables of a running service. Nothing here writes: a file
witness's directory is read as it lies (:func:`witnessed_checkpoint`), without taking its lock.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Row, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from audit import _export_scan
from audit._export_scan import EntryFault, Head, Item, Moment, Segment, allowed_after, line_record, scan
from audit._export_scan import decoded_entry as _decoded
from audit.bound import BoundLedger, CellOpener
from audit.checkpoint import Checkpoint, CheckpointError, NoteVerifier, open_checkpoint
from audit.consent_proof import CONSENT_KINDS, ConsentLedger
from audit.events import entry_time
from audit.heads import head_facts
from audit.log import (
    as_utc,
    audit_entries,
    audit_leaves,
    audit_pending,
    audit_refused,
    audit_tree_heads,
    column_disagreement,
)
from audit.merkle import RootAccumulator
from audit.witness import HISTORY_FILE, WitnessError

__all__ = [
    "EXPORT_CHUNK_BYTES",
    "EXPORT_FORMAT",
    "MAX_CLOCK_SKEW",
    "CheckResult",
    "Failure",
    "LogCheckFailed",
    "LogChecker",
    "check_export",
    "check_stored_log",
    "export_entry_line",
    "export_head_line",
    "export_header_line",
    "export_stored_log",
    "witnessed_checkpoint",
]

EXPORT_FORMAT = "hedui-audit-export/v1"
_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Failure:
    """The first thing found wrong: the entry's leaf index (or ``None`` for the file itself) and why."""

    index: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.index is None else f"entry {self.index}: {self.message}"


class LogCheckFailed(Exception):
    """Raised by :class:`LogChecker` at the first failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What was checked, and the first failure if any.

    ``pending`` counts the entries newer than the signed heads the check started from, not checked:
    those awaiting integration and those integrated while the check ran.
    """

    entries: int
    heads: int
    witnessed: int
    failure: Failure | None
    pending: int = 0
    unchecked_rows: int = 0  # reports and answers whose entries are among those ``pending`` (checked next time)
    expired_answers: int = 0  # issue 17: answers whose data key retention destroyed, as the log records
    unopened_rows: int = 0  # issue 17: reports and answers whose data key is not at hand (not checked)

    @property
    def intact(self) -> bool:
        """Whether everything checked held."""
        return self.failure is None


MAX_CLOCK_SKEW: Final = _export_scan.MAX_CLOCK_SKEW
"""How far an entry's time may lie before an earlier entry's: writers stamp entries before they commit, and a
transaction that commits later integrates later. An entry further back was backdated or moved."""
_BEFORE_ALL = _export_scan.FIRST_INSTANT  # no entry's time is earlier
_NEVER = 1 << 63  # a size no log reaches
_LEAF_PREFIX = b"\x00"
_sha256 = hashlib.sha256


class LogChecker:
    """Recomputes the tree entry by entry and checks each signed head as the log reaches its size."""

    def __init__(
        self,
        verifier: NoteVerifier,
        *,
        origin: str | None = None,
        witnessed: Sequence[Checkpoint] = (),
        signer_state: Checkpoint | None = None,
        ledger: BoundLedger | None = None,
        head_rule: Callable[[str], None] | None = None,
    ) -> None:
        """Check against ``verifier``'s heads; ``witnessed`` heads and the ``signer_state`` (the size and root
        the signer keeps beside its key) must be in the log too; ``ledger`` takes every entry (to check the
        stored reports and answers against them afterwards); ``head_rule`` sees each head's note (issue 17: the SM2
        line under the sm suite, audit.note_sm2.Sm2Continuity) and raises CheckpointError to fail it."""
        self._verifier = verifier
        self._head_rule = head_rule
        self._ledger = ledger
        self._origin = origin
        self._tree = RootAccumulator()
        self._leaves: list[bytes] = []  # taken since the tree was last brought up to date (hashed a batch at a time)
        self._size = 0
        self._heads = 0
        self._last_head = 0
        pins = [(c, "a witness") for c in witnessed]
        if signer_state is not None and signer_state.size:
            pins.append((signer_state, "the signer's state (kept with its key)"))
        self._witnessed = sorted(pins, key=lambda pin: pin[0].size)
        self._witnessed_checked = 0
        self._next_pin = self._witnessed[0][0].size if self._witnessed else _NEVER
        # The latest writer's time so far and since the last head (at which entry), and how far back one may lie.
        self._latest, self._latest_at, self._earliest_allowed = _BEFORE_ALL, -1, _BEFORE_ALL
        self._batch_latest, self._batch_latest_at = _BEFORE_ALL, -1
        self._log_time: dt.datetime | None = None
        self._consent = ConsentLedger()

    @property
    def size(self) -> int:
        """How many entries the checker has taken so far."""
        return self._size

    def _hashed(self) -> RootAccumulator:
        """The tree of every entry taken so far."""
        if self._leaves:
            self._tree.extend(self._leaves)
            self._leaves = []
        return self._tree

    @property
    def pinned_sizes(self) -> tuple[int, ...]:
        """The sizes at which a witness's head or the signer's state pins the tree's root."""
        return tuple(seen.size for seen, _ in self._witnessed)

    @property
    def heads(self) -> int:
        """How many signed heads it has checked so far."""
        return self._heads

    def fail(self, index: int | None, message: str) -> LogCheckFailed:
        """The failure to raise at entry ``index`` (None: not one entry's)."""
        return LogCheckFailed(Failure(index, message))

    def entry(self, index: int, entry: bytes, stored_leaf: bytes | None = None) -> None:
        """The next entry; ``stored_leaf`` is the leaf hash recorded when it was integrated, if known."""
        if index != self._size:
            self._out_of_place(index)
        body = _decoded(entry)
        if body is None:
            raise self.fail(index, "not in the canonical encoding (UTF-8 JSON object, sorted keys, no spaces)")
        time = entry_time(body)
        if time.__class__ is str:
            raise self.fail(index, f"not an entry hedui writes: {time}")
        assert isinstance(time, dt.datetime)
        if time < self._earliest_allowed:
            self._backdated(index, time)
        if time > self._latest:
            self._latest, self._latest_at, self._earliest_allowed = time, index, allowed_after(time)
        if time > self._batch_latest:
            self._batch_latest, self._batch_latest_at = time, index
        if self._ledger is not None:
            self._ledger.take(body)
        if body["kind"] in CONSENT_KINDS:
            unconsented = self._consent.take(body, time)
            if unconsented is not None:
                raise self.fail(index, f"consent not proven by the log: {unconsented}")
        leaf = _sha256(_LEAF_PREFIX + entry).digest()
        if stored_leaf is not None and stored_leaf != leaf:
            raise self.fail(index, "its bytes do not hash to the leaf recorded when it was integrated (altered)")
        self._leaves.append(leaf)
        self._size = index + 1
        if self._size >= self._next_pin:
            self._check_witnessed()

    def _out_of_place(self, index: int) -> None:
        """Fail on an entry given out of order (never returns)."""
        expected = self._size
        if index > expected:
            raise self.fail(expected, f"missing (the log goes on with entry {index})")
        raise self.fail(expected, f"out of order or duplicated (found entry {index} in its place)")

    def _backdated(self, index: int, time: dt.datetime) -> None:
        """Fail on an entry whose time lies more than :data:`MAX_CLOCK_SKEW` before an earlier one's (never returns)."""
        latest = self._latest
        raise self.fail(
            index,
            f"its time {time.isoformat()} lies {latest - time} before entry {self._latest_at}'s: more than "
            f"{MAX_CLOCK_SKEW} back in log order (backdated or moved)",
        )

    def segment(self, segment: Segment) -> None:
        """Entries :func:`audit._export_scan.scan` found well formed, taken as :meth:`entry` would take each."""
        if segment.first != self._size:
            self._out_of_place(segment.first)
        backdated = self._first_backdated(segment)
        stop = segment.count if backdated is None else backdated[0]
        for offset, time, body in segment.notable:
            if offset >= stop:
                break
            unconsented = self._consent.take(body, time)
            if unconsented is not None:
                self._size = segment.first + offset  # the entries before it were taken
                raise self.fail(self._size, f"consent not proven by the log: {unconsented}")
        if backdated is not None:
            self._size = segment.first + backdated[0]
            self._backdated(self._size, backdated[1])
        offset, latest = segment.high
        if latest > self._latest:
            self._latest, self._latest_at = latest, segment.first + offset
            self._earliest_allowed = allowed_after(latest)
        if latest > self._batch_latest:
            self._batch_latest, self._batch_latest_at = latest, segment.first + offset
        tree = self._hashed()
        for node, leaves in segment.subtrees:
            tree.push_subtree(node, leaves)
        self._size = tree.size
        if self._size >= self._next_pin:
            self._check_witnessed()

    def _first_backdated(self, segment: Segment) -> Moment | None:
        """The segment's first entry lying too far back after those taken so far, if any; the latest time before it
        (and its entry) become the checker's, for the message."""
        found: tuple[Moment, Moment | None] | None = None
        for low, before in segment.lows:  # the first entry before the allowed time is one earlier than all before it
            if low[1] < self._earliest_allowed:
                found = (low, before)
                break
        back = segment.back
        if back is not None and (found is None or back[0][0] < found[0][0]):
            found = back
        if found is None:
            return None
        moment, before = found
        if before is not None and before[1] > self._latest:
            self._latest, self._latest_at = before[1], segment.first + before[0]
        return moment

    def head(
        self, tree_size: int, note: str, stored_root: bytes | None = None, stored_time: dt.datetime | None = None
    ) -> None:
        """A signed tree head, given right after the entry that completes its tree (with its stored root and
        signing time, when read from a database)."""
        first_unproven = self._last_head
        where = f"signed tree head at size {tree_size}"
        try:
            checkpoint = open_checkpoint(note, self._verifier, self._origin)
            if self._head_rule is not None:
                self._head_rule(note)
        except CheckpointError as exc:
            raise self.fail(None, f"{where}: {exc}") from None
        if checkpoint.size != tree_size:
            raise self.fail(None, f"{where}: its checkpoint says size {checkpoint.size}")
        if tree_size <= self._last_head:
            raise self.fail(None, f"{where}: heads must grow (previous head at size {self._last_head})")
        if tree_size > self._size:
            raise self.fail(self._size, f"missing: the {where} covers {tree_size} entries, the log has {self._size}")
        if tree_size < self._size:
            raise self.fail(tree_size, f"not covered by the {where} that should follow entry {tree_size - 1}")
        if stored_root is not None and stored_root != checkpoint.root_hash:
            raise self.fail(None, f"{where}: the stored root differs from the signed one")
        if self._hashed().root() != checkpoint.root_hash:
            raise self.fail(
                first_unproven,
                f"entries {first_unproven}..{tree_size - 1} do not match the {where}: one of them was "
                "altered, removed, inserted or moved",
            )
        self._check_facts(where, checkpoint, stored_time)
        self._heads += 1
        self._last_head = tree_size

    def _check_facts(self, where: str, checkpoint: Checkpoint, stored_time: dt.datetime | None) -> None:
        """The head follows the one before it (none deleted), its log time never goes back, its entries were not
        written after it was signed, and the stored signing time is the signed one."""
        try:
            facts = head_facts(checkpoint)
        except CheckpointError as exc:
            raise self.fail(None, f"{where}: {exc}") from None
        if facts is None:  # a head signed before hedui wrote the line
            self._batch_latest, self._batch_latest_at = _BEFORE_ALL, -1
            return
        if facts.previous != self._last_head:
            raise self.fail(
                None,
                f"{where}: it follows the signed head of size {facts.previous}, which is missing (deleted)"
                if facts.previous > self._last_head
                else f"{where}: it claims to follow the head of size {facts.previous}, not {self._last_head}",
            )
        if self._log_time is not None and facts.time < self._log_time:
            raise self.fail(None, f"{where}: its log time {facts.time.isoformat()} goes back (forged)")
        latest, at = self._batch_latest, self._batch_latest_at
        if latest > facts.time + MAX_CLOCK_SKEW:
            raise self.fail(at, f"written at {latest.isoformat()}, after the {where} covering it was signed")
        if stored_time is not None and as_utc(stored_time) != facts.time:
            raise self.fail(None, f"{where}: its stored signed_at is not the time it signs (edited)")
        self._log_time = facts.time
        self._batch_latest, self._batch_latest_at = _BEFORE_ALL, -1

    def _check_witnessed(self) -> None:
        while self._witnessed_checked < len(self._witnessed):
            seen, who = self._witnessed[self._witnessed_checked]
            if seen.size > self._size:
                self._next_pin = seen.size
                return
            if seen.size == self._size and self._hashed().root() != seen.root_hash:
                raise self.fail(
                    None, f"the tree at size {seen.size} differs from the head {who} recorded: log rewritten"
                )
            self._witnessed_checked += 1
        self._next_pin = _NEVER

    def finish(self) -> CheckResult:
        """The end of the log: everything must be under a signed head, and no witness may have seen more."""
        self._check_witnessed()
        if self._size > self._last_head:
            raise self.fail(self._last_head, "not covered by any signed tree head (inserted after the last head)")
        for seen, who in self._witnessed[self._witnessed_checked :]:
            if seen.size > self._size:
                raise self.fail(
                    self._size,
                    f"missing: {who} recorded a signed head of size {seen.size}, the log has {self._size} "
                    "entries (the tail was removed)",
                )
        return CheckResult(self._size, self._heads, len(self._witnessed), None)


def export_header_line(origin: str, log_key: str, tree_size: int) -> bytes:
    """An export's first line: its format, the log's origin and key, and how many entries follow."""
    header = {"format": EXPORT_FORMAT, "origin": origin, "log_key": log_key, "tree_size": tree_size}
    return json.dumps(header, sort_keys=True).encode() + b"\n"


def export_entry_line(index: int, entry: bytes) -> bytes:
    """One entry of an export, base64 in JSON."""
    return json.dumps({"index": index, "entry": base64.b64encode(entry).decode()}).encode() + b"\n"


def export_head_line(tree_size: int, checkpoint: str) -> bytes:
    """A signed head of an export, written after its last entry."""
    return json.dumps({"head": tree_size, "checkpoint": checkpoint}).encode() + b"\n"


def check_export(
    lines: Iterable[bytes],
    verifier: NoteVerifier,
    *,
    witnessed: Sequence[Checkpoint] = (),
    signer_state: Checkpoint | None = None,
    head_rule: Callable[[str], None] | None = None,
) -> CheckResult:
    """Check an export (JSON lines: a header, entries in order, each head after its last entry).

    The file is untrusted, header included: its heads must carry ``verifier``'s log name as their
    origin, and it must hold exactly the ``tree_size`` entries its header announces (a file cut
    right after a signed head is otherwise a smaller log consistent with itself). What each line
    decides alone is scanned by :func:`audit._export_scan.scan`, in several processes for a large
    export (:func:`_scans`); the checker takes the results in file order, as if it read each entry.
    """
    checker: LogChecker | None = None
    try:
        file = lines if isinstance(lines, io.BufferedReader) and lines.seekable() else None
        remaining = iter(lines)
        header = file.readline() if file is not None else next(remaining, None)
        if not header:
            raise LogCheckFailed(Failure(None, "empty file"))
        tree_size = _check_header(_header_record(header), verifier)
        checker = LogChecker(
            verifier, origin=verifier.name, witnessed=witnessed, signer_state=signer_state, head_rule=head_rule
        )
        cuts = frozenset({tree_size, tree_size + 1, *checker.pinned_sizes})
        number = 2  # the line number of the next task's first line
        for count, items in _scans(_spans(file) if file is not None else _chunks(remaining), cuts):
            for item in items:
                _replay(checker, item, tree_size, number)
            number += count
        if checker.size < tree_size:
            raise checker.fail(
                checker.size,
                f"missing: the file's header announces {tree_size} entries, the file ends after {checker.size}",
            )
        return checker.finish()
    except LogCheckFailed as failed:
        size = checker.size if checker else 0
        return CheckResult(size, checker.heads if checker else 0, len(witnessed), failed.failure)


def _header_record(line: bytes) -> dict[str, Any]:
    """An export's first line as a JSON object (else the failure)."""
    try:
        record = line_record(line)
    except ValueError:
        raise LogCheckFailed(Failure(None, "line 1: not JSON")) from None
    if not isinstance(record, dict):
        raise LogCheckFailed(Failure(None, "line 1: not a JSON object"))
    return record


_LINE_FAULTS = {
    "json": "not JSON",
    "object": "not a JSON object",
    "entry": "malformed entry record",
    "base64": "entry is not base64",
    "head": "malformed head record",
    "kind": "neither an entry nor a head",
}


def _replay(checker: LogChecker, item: Item, tree_size: int, number: int) -> None:
    """One result of :func:`audit._export_scan.scan`, taken by ``checker`` (in file order; the lines scanned
    began at line ``number``)."""
    if isinstance(item, Segment):
        checker.segment(item)
        if checker.size > tree_size:
            raise checker.fail(tree_size, f"beyond the {tree_size} entries the file's header announces")
    elif isinstance(item, Head):
        checker.head(item.size, item.note)
    elif isinstance(item, EntryFault):
        if item.index != checker.size:
            checker.entry(item.index, b"")  # fails on its place first, as for any entry
        raise checker.fail(item.index, item.message)
    else:
        index = {"entry": checker.size, "base64": item.index}.get(item.what)
        raise LogCheckFailed(Failure(index, f"line {number + item.number}: {_LINE_FAULTS[item.what]}"))


_CHUNK_LINES = 4096
_BLOCK_BYTES = 1 << 20
Task = list[bytes] | tuple[int, int, int]
"""Lines to scan: given, or where they lie in a file (its descriptor, the first byte, the byte after the last)."""


def _chunks(lines: Iterator[bytes]) -> Iterator[Task]:
    """The lines after the header in runs of :data:`_CHUNK_LINES`."""
    while chunk := list(itertools.islice(lines, _CHUNK_LINES)):
        yield chunk


def _spans(file: io.BufferedReader) -> Iterator[Task]:
    """Where a file's lines after the header lie, in spans of whole lines of about :data:`_BLOCK_BYTES`: each
    scanning process reads its own (``pread`` on the descriptor it inherits, the file never reopened by name);
    this one reads only the line that ends each span."""
    fd, start = file.fileno(), file.tell()
    size = os.fstat(fd).st_size
    while start < size:
        end = min(start + _BLOCK_BYTES, size)
        if end < size:
            file.seek(end - 1)
            file.readline()
            end = file.tell()
        yield fd, start, end
        start = end


def _scan_task(task: Task, cuts: frozenset[int]) -> tuple[int, list[Item]]:
    """How many lines the task holds and :func:`audit._export_scan.scan` of them (line numbers from 0)."""
    if isinstance(task, list):
        return len(task), scan(task, 0, cuts)
    fd, start, end = task
    block = bytearray()
    while len(block) < end - start and (part := os.pread(fd, end - start - len(block), start + len(block))):
        block += part
    lines = _export_scan.lines_of(bytes(block))
    return len(lines), scan(lines, 0, cuts)


def _workers() -> int:
    """How many processes scan a large export: one per CPU this process may use, when it can fork safely (no
    other thread that a forked child could find holding a lock); 1 (no others) otherwise."""
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _scans(tasks: Iterator[Task], cuts: frozenset[int]) -> Iterator[tuple[int, list[Item]]]:
    """:func:`_scan_task` of every task, in order: in this process for an export of one task or on one CPU, else
    in forked processes (a few tasks ahead; the rest are not read before they are needed)."""
    ahead = list(itertools.islice(tasks, 2))
    workers = _workers() if len(ahead) > 1 else 1
    if workers == 1:
        for task in itertools.chain(ahead, tasks):
            yield _scan_task(task, cuts)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        pending: collections.deque[Future[tuple[int, list[Item]]]] = collections.deque()
        for task in itertools.chain(ahead, tasks):
            pending.append(pool.submit(_scan_task, task, cuts))
            if len(pending) > 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _check_header(record: dict[str, object], verifier: NoteVerifier) -> int:
    """The tree size an export's header announces, once the header is found to be for this log."""
    if record.get("format") != EXPORT_FORMAT:
        raise LogCheckFailed(Failure(None, f"line 1: not a {EXPORT_FORMAT} file"))
    origin, tree_size = record.get("origin"), record.get("tree_size")
    if origin != verifier.name:
        raise LogCheckFailed(
            Failure(None, f"line 1: the header's origin {origin!r} is not the log of the key given ({verifier.name!r})")
        )
    if isinstance(tree_size, bool) or not isinstance(tree_size, int) or tree_size < 0:
        raise LogCheckFailed(Failure(None, f"line 1: the header's tree_size {tree_size!r} is not a size"))
    return tree_size


async def check_stored_log(
    session: AsyncSession,
    verifier: NoteVerifier,
    *,
    origin: str | None = None,
    witnessed: Sequence[Checkpoint] = (),
    signer_state: Checkpoint | None = None,
    refused_rows: bool = True,
    bound_rows: bool = False,
    head_rule: Callable[[str], None] | None = None,
    opener: CellOpener | None = None,
) -> CheckResult:
    """Check the log tables as stored: leaves against entries, heads against the tree, strays.

    The service may integrate while this runs: the signed heads are read once, and the leaves
    under the newest of them are checked. Entries still waiting for integration, and those
    integrated after the heads were read, are counted (``pending``), not failed. An entry that is
    neither in the tree nor waiting was put there behind the log's back, and so was a leaf that no
    signed head covers even when the check is over (the log stores each batch of leaves with its head).
    A queue row for an entry already in the tree, and a row the integrator refused (``refused_rows``), fail
    too: somebody queued what hedui did not append. With ``bound_rows``, every stored report and department answer
    must then be what its entry recorded (:class:`audit.bound.BoundLedger`).
    """
    ledger = BoundLedger(opener) if bound_rows else None  # issue 17: opener opens cells sealed at rest
    checker = LogChecker(
        verifier, origin=origin, witnessed=witnessed, signer_state=signer_state, ledger=ledger, head_rule=head_rule
    )
    heads = (await session.execute(select(audit_tree_heads).order_by(audit_tree_heads.c.tree_size))).all()
    size = heads[-1].tree_size if heads else 0
    try:
        await _check_leaves(session, checker, heads, size)
        await _check_queue(session, checker, refused_rows=refused_rows)
        pending = await _check_nothing_behind_the_logs_back(session, checker, size)
        result = checker.finish()
        unchecked = await _check_bound_rows(session, checker, ledger, size)
    except LogCheckFailed as failed:
        return CheckResult(checker.size, checker.heads, len(witnessed), failed.failure)
    expired, unopened = (ledger.expired, ledger.unopened) if ledger is not None else (0, 0)
    return CheckResult(result.entries, result.heads, result.witnessed, None, pending, unchecked, expired, unopened)


async def _check_bound_rows(session: AsyncSession, checker: LogChecker, ledger: BoundLedger | None, size: int) -> int:
    """Every stored report and department answer is what its entry recorded (checked last, once every entry and
    head held); how many could not be checked yet. Nothing to check on a database without the service's tables."""
    if ledger is None or not await session.run_sync(lambda s: inspect(s.connection()).has_table("reports")):
        return 0
    problem, unchecked = await ledger.check(session, size)
    if problem is not None:
        raise checker.fail(None, f"{problem} (every entry and signed head checked before it held)")
    return unchecked


async def _check_leaves(session: AsyncSession, checker: LogChecker, heads: Sequence[Row[Any]], size: int) -> None:
    """Feed the checker the stored leaves under ``size``, page by page, each signed head as the tree reaches it."""
    e, leaves = audit_entries.c, audit_leaves.c
    next_head = 0
    after = last_seq = -1
    while True:
        rows = (
            await session.execute(
                select(audit_entries, leaves.leaf_index, leaves.leaf_hash, leaves.entry_seq)
                .select_from(audit_leaves)
                .outerjoin(audit_entries, e.seq == leaves.entry_seq)
                .where(leaves.leaf_index > after, leaves.leaf_index < size)
                .order_by(leaves.leaf_index)
                .limit(_PAGE)
            )
        ).all()
        for row in rows:
            while next_head < len(heads) and heads[next_head].tree_size <= checker.size:
                head = heads[next_head]
                checker.head(head.tree_size, head.checkpoint, head.root_hash, head.signed_at)
                next_head += 1
                last_seq = -1  # a batch's entries are integrated in seq order; a later batch may hold older seqs
            if row.entry is None:
                raise checker.fail(row.leaf_index, f"its stored entry (seq {row.entry_seq}) is gone (deleted)")
            if row.entry_seq <= last_seq:
                raise checker.fail(
                    row.leaf_index, f"its entry seq {row.entry_seq} follows seq {last_seq} in one batch (moved)"
                )
            last_seq = row.entry_seq
            checker.entry(row.leaf_index, row.entry, row.leaf_hash)
            disagreement = column_disagreement(row, json.loads(row.entry))
            if disagreement is not None:  # the columns supervisors filter by must be the signed values
                raise checker.fail(row.leaf_index, f"{disagreement} (a column edited)")
        if len(rows) < _PAGE:
            break
        after = rows[-1].leaf_index
    for head in heads[next_head:]:
        checker.head(head.tree_size, head.checkpoint, head.root_hash, head.signed_at)


async def _check_nothing_behind_the_logs_back(session: AsyncSession, checker: LogChecker, size: int) -> int:
    """Fail on an entry in no tree and not waiting, or a leaf no signed head covers; return how many entries are
    newer than the heads read (integrated meanwhile, or still waiting)."""
    e, leaves = audit_entries.c, audit_leaves.c
    # One statement, so one snapshot: an entry integrated meanwhile is in the leaves (beyond the
    # heads read, unchecked) or still pending, never neither.
    stray = (
        await session.execute(
            select(e.seq)
            .where(
                ~e.seq.in_(select(leaves.entry_seq)),
                ~e.seq.in_(select(audit_pending.c.seq)),
                ~e.seq.in_(select(audit_refused.c.seq)),  # named by _check_queue
            )
            .order_by(e.seq)
            .limit(1)
        )
    ).scalar()
    if stray is not None:
        raise checker.fail(None, f"stored entry seq {stray} is in no tree and not waiting to be (inserted)")
    counts = (
        await session.execute(
            select(
                select(func.coalesce(func.max(leaves.leaf_index), -1) + 1).scalar_subquery(),
                select(func.count()).select_from(audit_leaves).where(leaves.leaf_index >= size).scalar_subquery(),
                select(func.count()).select_from(audit_pending).scalar_subquery(),
            )
        )
    ).one()
    stored, newer, waiting = (int(n) for n in counts)
    # Read after the leaves: a leaf seen above was committed with its head, so that head shows now.
    signed = (await session.execute(select(func.coalesce(func.max(audit_tree_heads.c.tree_size), 0)))).scalar_one()
    if stored > signed:
        raise checker.fail(signed, "not covered by any signed tree head (inserted after the last head)")
    return newer + waiting


async def _check_queue(session: AsyncSession, checker: LogChecker, *, refused_rows: bool) -> None:
    """Fail on a queue row for an entry already in the tree and (``refused_rows``) on a row the integrator
    refused: each is a row queued behind hedui's back."""
    requeued = (
        await session.execute(
            select(audit_pending.c.seq, audit_leaves.c.leaf_index)
            .join(audit_leaves, audit_leaves.c.entry_seq == audit_pending.c.seq)
            .order_by(audit_pending.c.seq)
            .limit(1)
        )
    ).first()
    if requeued is not None:
        raise checker.fail(
            requeued.leaf_index, f"queued again (queue row seq {requeued.seq}) although it is in the tree"
        )
    if not refused_rows:
        return
    refused = (await session.execute(select(audit_refused).order_by(audit_refused.c.id).limit(1))).first()
    if refused is not None:
        raise checker.fail(
            None,
            f"queue row seq {refused.seq} was refused by the integrator at {as_utc(refused.refused_at).isoformat()}: "
            f"{refused.reason} (a row added behind hedui's back; every entry and signed head checked before it held)",
        )


def witnessed_checkpoint(
    directory: str | os.PathLike[str], verifier: NoteVerifier, *, origin: str | None = None
) -> Checkpoint | None:
    """The latest checkpoint a :class:`~audit.witness.FileWitness` keeps for the log, read without writing.

    ``FileWitness.open`` would create the witness's key in a directory that has none and take its
    lock; a supervisor's check must change nothing. The state file (``<sha256(origin)>.checkpoint``,
    replaced atomically by the witness) is read as it lies and must be signed by the log's key for
    ``origin`` (the key's name by default). ``None`` if the witness never cosigned for the log.
    Raises :class:`~audit.witness.WitnessError` if the state file is lost although the witness's
    history records cosignatures, and :class:`~audit.checkpoint.CheckpointError` if it does not verify.
    """
    origin = verifier.name if origin is None else origin
    path = Path(directory) / (hashlib.sha256(origin.encode("utf-8")).hexdigest() + ".checkpoint")
    try:
        stored = path.read_bytes()
    except FileNotFoundError:
        if _history_has_cosigned(Path(directory) / HISTORY_FILE, origin):
            raise WitnessError(f"{path} is missing, yet {HISTORY_FILE} records cosignatures for {origin!r}") from None
        return None
    return open_checkpoint(stored, verifier, origin)


def _history_has_cosigned(history: Path, origin: str) -> bool:
    try:
        with history.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("outcome") == "cosigned" and record.get("origin") == origin:
                    return True
    except FileNotFoundError:
        return False
    return False


EXPORT_CHUNK_BYTES = 1 << 20
"""The largest piece :func:`export_stored_log` yields (whole lines; one line longer than this is a piece of its
own): a gRPC message is at most 4 MiB, and a piece is one message of ``ExportAuditLog``."""


async def export_stored_log(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    *,
    log_key: str = "",
    max_bytes: int = EXPORT_CHUNK_BYTES,
) -> AsyncIterator[bytes]:
    """The stored log up to its newest signed head, as export lines in pieces of whole lines, each at most
    ``max_bytes`` long (unless one line alone is longer).

    Entries below a signed head never change, so the pieces need no common snapshot.
    """
    async with sessions() as session:
        heads = (await session.execute(select(audit_tree_heads).order_by(audit_tree_heads.c.tree_size))).all()
    if not heads:
        raise LogCheckFailed(Failure(None, "the log has no signed tree head to export"))
    size = heads[-1].tree_size
    origin = heads[-1].checkpoint.split("\n", 1)[0]
    yield export_header_line(origin, log_key, size)
    e, leaves = audit_entries.c, audit_leaves.c
    next_head, index = 0, -1
    while index + 1 < size:
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(leaves.leaf_index, e.entry)
                    .join(audit_entries, e.seq == leaves.entry_seq)
                    .where(leaves.leaf_index > index, leaves.leaf_index < size)
                    .order_by(leaves.leaf_index)
                    .limit(_PAGE)
                )
            ).all()
        if not rows:
            raise LogCheckFailed(Failure(index + 1, "missing from the stored log"))
        chunk = bytearray()
        for row in rows:
            lines = [export_entry_line(row.leaf_index, row.entry)]
            index = row.leaf_index
            while next_head < len(heads) and heads[next_head].tree_size <= index + 1:
                lines.append(export_head_line(heads[next_head].tree_size, heads[next_head].checkpoint))
                next_head += 1
            for line in lines:
                if chunk and len(chunk) + len(line) > max_bytes:
                    yield bytes(chunk)
                    chunk = bytearray()
                chunk += line
        if chunk:
            yield bytes(chunk)
