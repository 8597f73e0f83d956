"""The signer's state: what the log last signed, kept with its key, outside the database.

A log must never sign two checkpoints that are not consistent with each other (C2SP tlog-checkpoint).
The database cannot be the judge of that: whoever can write it can empty the tables, put edited entries
back in the queue and wait for the log to sign them. So the signer keeps the state of the last head it
signed — tree size, root hash and the compact range (the roots of the perfect subtrees, enough to extend
the tree without its leaves) — in a file beside its key, and extends only that. Whoever can rewrite this
file holds the key anyway.

The state names the batch of entries (their ``seq`` numbers) that took the tree from the size before to
this one and the checkpoint signed for it: the state is written *before* the transaction that stores the
batch commits, so after a crash in between the state is one head ahead of the database, and the batch can
be stored again exactly as signed (``audit.tree`` resumes it). Nothing else that disagrees is repaired
automatically.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from audit._files import write_atomically
from audit.merkle import EMPTY_ROOT, RootAccumulator

__all__ = [
    "STATE_FORMAT",
    "FileState",
    "MemoryState",
    "SignerState",
    "StateError",
    "StateStore",
    "WriteGate",
    "runs",
    "seqs_of",
]

STATE_FORMAT = "hedui-audit-signer-state/v1"


class StateError(ValueError):
    """The state file cannot be read or does not hold a signer state."""


def runs(seqs: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """``seqs`` (in order) as runs of consecutive numbers ``(first, last)``: a batch is mostly one run."""
    out: list[tuple[int, int]] = []
    for seq in seqs:
        if out and seq == out[-1][1] + 1:
            out[-1] = (out[-1][0], seq)
        else:
            out.append((seq, seq))
    return tuple(out)


def seqs_of(batch: Sequence[tuple[int, int]]) -> list[int]:
    """The sequence numbers of a batch given as runs, in order."""
    return [seq for first, last in batch for seq in range(first, last + 1)]


@dataclass(frozen=True, slots=True)
class SignerState:
    """The head the signer signed last, and the batch of entries that made it.

    ``previous_size`` is the size of the head before; ``batch`` the entries (runs of ``seq``) that were
    integrated from there, in leaf order; ``checkpoint`` the note signed for ``size`` (empty at size 0).
    """

    origin: str
    key_id: str
    size: int = 0
    compact_range: tuple[bytes, ...] = ()
    checkpoint: str = ""
    previous_size: int = 0
    batch: tuple[tuple[int, int], ...] = field(default=())

    @property
    def root(self) -> bytes:
        """The root hash of the tree the state describes."""
        return self.accumulator().root() if self.size else EMPTY_ROOT

    def accumulator(self) -> RootAccumulator:
        """A fresh accumulator at this state, to extend with the next batch's leaf hashes."""
        return RootAccumulator.from_range(self.size, self.compact_range)

    def to_json(self) -> bytes:
        """The state file's bytes."""
        body = {
            "format": STATE_FORMAT,
            "origin": self.origin,
            "key_id": self.key_id,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "compact_range": [base64.b64encode(node).decode() for node in self.compact_range],
            "checkpoint": self.checkpoint,
            "previous_size": self.previous_size,
            "batch": [list(run) for run in self.batch],
        }
        return json.dumps(body, sort_keys=True, indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> SignerState:
        """Parse a state file; anything malformed is a :class:`StateError`."""
        try:
            body = json.loads(data)
            if not isinstance(body, dict) or body.get("format") != STATE_FORMAT:
                raise StateError(f"not a {STATE_FORMAT} file")
            state = cls(
                origin=_typed(body, "origin", str),
                key_id=_typed(body, "key_id", str),
                size=_typed(body, "size", int),
                compact_range=tuple(base64.b64decode(n, validate=True) for n in _typed(body, "compact_range", list)),
                checkpoint=_typed(body, "checkpoint", str),
                previous_size=_typed(body, "previous_size", int),
                batch=tuple((int(a), int(b)) for a, b in _typed(body, "batch", list)),
            )
            root = base64.b64decode(_typed(body, "root", str), validate=True)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise StateError(f"malformed signer state: {exc}") from None
        if state.root != root:
            raise StateError("malformed signer state: its root does not follow from its compact range")
        return state


def _typed(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise StateError(f"malformed signer state: {key!r} is not a {kind.__name__}")
    return value


class StateStore(Protocol):
    """Where the signer's state lives."""

    def load(self) -> SignerState | None:
        """The state saved last; ``None`` if none was ever saved."""
        ...

    def save(self, state: SignerState) -> None:
        """Make ``state`` durable before returning."""
        ...

    @property
    def where(self) -> str:
        """Where the state is, for messages (a path)."""
        ...


class FileState:
    """The state in a file beside the log key (``audit_log_state_file``), replaced atomically (mode 0600)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """The state kept at ``path`` (its directory must exist)."""
        self.path = Path(path)

    @property
    def where(self) -> str:
        """The file's path."""
        return str(self.path)

    def load(self) -> SignerState | None:
        """The saved state, or ``None`` when the file does not exist."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            return SignerState.from_json(data)
        except StateError as exc:
            raise StateError(f"{self.path}: {exc}") from None

    def save(self, state: SignerState) -> None:
        """Write the state durably (temporary file, fsync, rename, fsync of the directory)."""
        write_atomically(self.path, state.to_json())


class MemoryState:
    """The state in memory, for a service built without a state file (tests and benches only).

    It lives as long as the process: within it, the log is held to what it signed; across restarts it is
    not (``trust_on_first_use``: the first integration adopts the stored log if its leaves prove its newest
    head, whatever key signed it). ``hedui serve`` always keeps its state in a file.
    """

    trust_on_first_use = True

    def __init__(self) -> None:
        """Nothing signed yet."""
        self._state: SignerState | None = None

    @property
    def where(self) -> str:
        """There is no file."""
        return "memory"

    def load(self) -> SignerState | None:
        """The state saved last in this process."""
        return self._state

    def save(self, state: SignerState) -> None:
        """Keep ``state``."""
        self._state = state


class WriteGate:
    """Whether hedui may write: closed while the audit log cannot sign, so no state change goes unlogged.

    The integrator closes it (with one reason) when the stored log disagrees with the signer's state or
    entries wait for integration too long, and opens it when integration succeeds again. Appends refuse
    while it is closed (:class:`audit.log.WritesStopped`); listeners (the health service) hear each change.
    """

    def __init__(self) -> None:
        """Open, with no listeners."""
        self.reason: str | None = None
        self._listeners: list[Callable[[str | None], None]] = []

    @property
    def open(self) -> bool:
        """Whether writes may proceed."""
        return self.reason is None

    def listen(self, listener: Callable[[str | None], None]) -> None:
        """Call ``listener(reason)`` on every change (``None``: open again), and once now."""
        self._listeners.append(listener)
        listener(self.reason)

    def close(self, reason: str) -> bool:
        """Stop writes for ``reason``; whether this changed anything (the first reason stays)."""
        if self.reason is not None:
            return False
        self.reason = reason
        for listener in self._listeners:
            listener(reason)
        return True

    def reopen(self) -> bool:
        """Let writes proceed again; whether they were stopped."""
        if self.reason is None:
            return False
        self.reason = None
        for listener in self._listeners:
            listener(None)
        return True
