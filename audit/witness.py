"""Witnesses: cosigners that remember the audit log's latest tree head, after C2SP tlog-witness.

The log signs its own tree heads, so whoever controls both its database and its key could
rewrite the whole history and sign a fresh tree that is consistent with itself. A witness,
kept by someone else on other storage, remembers the latest checkpoint it saw for each log
(by origin) and cosigns a new one only when a consistency proof shows that the new tree
extends the old one. A rewritten log can no longer obtain cosignatures, and the heads the
witness holds (and any cosigned head a user kept) convict it.

This follows https://c2sp.org/tlog-witness (the ``add-checkpoint`` call) in process, with its
HTTP status codes turned into exceptions:

* the log's signature does not verify, unknown origin, malformed request, old size larger
  than the checkpoint size (400/403/404), or a consistency proof that does not verify (422):
  :class:`WitnessRejected`;
* old size other than the size of the witness's latest checkpoint for the origin (409):
  :class:`WitnessConflict`, carrying that size so the log can retry with the right proof;
* same size as the latest checkpoint but another root hash (409 in the spec): a fork, which
  no retry can mend, so :class:`WitnessRejected`.

The cosignature returned is a plain Ed25519 note signature line (signature type 0x01) by the
witness's own :class:`~audit.checkpoint.NoteSigner` over the checkpoint text, not the
timestamped c2sp.org/tlog-cosignature (type 0x04) format; it is appended to the checkpoint
note and checked with :func:`~audit.checkpoint.open_note` and the witness's verifier key.

:class:`FileWitness` keeps, in one directory, the latest cosigned checkpoint of each origin
(one file per origin, replaced atomically) and ``history.jsonl``, an append-only record of
every cosignature and of every refusal that is evidence of a misbehaving log (a fork or a
failed consistency proof). Checking the old size and storing the new checkpoint happen under
one lock (an asyncio lock and an ``flock`` on the directory), as the spec requires, so two
concurrent submissions cannot roll the witness back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Protocol

from audit._files import append_durably, locked, write_atomically
from audit.checkpoint import (
    HASH_SIZE,
    Checkpoint,
    CheckpointError,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    open_note,
    parse_note,
    signature_line,
)
from audit.merkle import ProofError, verify_consistency

__all__ = [
    "HISTORY_FILE",
    "KEY_FILE",
    "MAX_PROOF_HASHES",
    "FileWitness",
    "Witness",
    "WitnessConflict",
    "WitnessError",
    "WitnessRejected",
]

MAX_PROOF_HASHES = 63
"""A consistency proof never has more hashes than this (tlog-witness: at most 63 proof lines)."""

HISTORY_FILE = "history.jsonl"
KEY_FILE = "witness.key"
_LOCK_FILE = ".lock"
_SUFFIX = ".checkpoint"


class WitnessError(Exception):
    """Something went wrong with a witness; the subclasses say what the log should do."""


class WitnessConflict(WitnessError):
    """The old size given is not the size of the witness's latest checkpoint: retry from ``known_size``."""

    def __init__(self, known_size: int) -> None:
        super().__init__(known_size)
        self.known_size = known_size

    def __str__(self) -> str:
        return f"the witness's latest checkpoint for this origin has size {self.known_size}"


class WitnessRejected(WitnessError):
    """The witness refused to cosign the checkpoint (bad signature or request, rollback, fork, bad proof)."""


class Witness(Protocol):
    """A witness as the log sees it (the ``add-checkpoint`` call of C2SP tlog-witness)."""

    async def add_checkpoint(self, old_size: int, consistency_proof: Sequence[bytes], checkpoint: str) -> str:
        """Cosign ``checkpoint`` if it extends the witness's latest one of size ``old_size``; returns signature lines.

        Raises :class:`WitnessConflict` if ``old_size`` is not the witness's latest size and
        :class:`WitnessRejected` if the checkpoint is refused.
        """
        ...

    async def latest(self, origin: str) -> str | None:
        """The latest checkpoint cosigned for ``origin`` (log and witness signatures), if any."""
        ...


class FileWitness:
    """A witness that keeps its state in a local directory (see the module docstring)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        log_verifier: NoteVerifier,
        signer: NoteSigner,
        *,
        origins: Collection[str] | None = None,
    ) -> None:
        """Witness the log whose key is ``log_verifier``, cosigning with ``signer``.

        ``origins``, if given, limits the origins accepted; otherwise every origin the log signs is tracked.
        """
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_verifier = log_verifier
        self.signer = signer
        self.verifier = signer.verifier()
        self.origins = frozenset(origins) if origins is not None else None
        self._lock = asyncio.Lock()

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        log_key: str | NoteVerifier,
        *,
        name: str | None = None,
        origins: Collection[str] | None = None,
    ) -> FileWitness:
        """The witness kept in ``directory``, for the log whose verifier key is ``log_key``.

        The witness's own key lives in the directory (``witness.key``, a Go-style signer key,
        mode 0600); it is generated on first use, named ``name`` or after the directory.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        log_verifier = NoteVerifier.from_vkey(log_key) if isinstance(log_key, str) else log_key
        key_file = path / KEY_FILE
        default = "file-witness/" + "".join("-" if c.isspace() or c == "+" else c for c in path.resolve().name)
        try:
            signer = _load_key(key_file) if key_file.exists() else _create_key(key_file, name or default)
        except (CheckpointError, UnicodeDecodeError) as exc:
            raise WitnessError(f"{key_file} does not hold a witness signer key: {exc}") from exc
        if name is not None and signer.name != name:
            raise WitnessError(f"{key_file} holds the key of {signer.name!r}, not {name!r}")
        return cls(path, log_verifier, signer, origins=origins)

    @property
    def name(self) -> str:
        """The witness's key name."""
        return self.signer.name

    def __repr__(self) -> str:
        return f"FileWitness({str(self.directory)!r}, {self.signer.verifier_key()!r})"

    async def add_checkpoint(self, old_size: int, consistency_proof: Sequence[bytes], checkpoint: str) -> str:
        """Check and cosign a checkpoint note; returns the witness's signature line."""
        proof = list(consistency_proof)
        async with self._lock:
            return await asyncio.to_thread(self._add, old_size, proof, checkpoint)

    async def latest(self, origin: str) -> str | None:
        """The latest cosigned checkpoint note for ``origin``, verified again as it is read."""
        async with self._lock:
            return await asyncio.to_thread(self._latest, origin)

    # --- the work, in a thread ----------------------------------------------------------------

    def _add(self, old_size: int, proof: list[bytes], note: str) -> str:
        """Check a checkpoint against the request and the state kept, then cosign it and record the outcome."""
        _check_request_shape(old_size, proof)
        checkpoint = self._opened(note, old_size)
        with self._locked():
            known = self._load(checkpoint.origin)
            known_size = known.size if known is not None else 0
            if old_size != known_size:
                raise WitnessConflict(known_size)
            if proof and old_size in (0, checkpoint.size):
                raise WitnessRejected(f"consistency proof from size {old_size} must be empty")
            if known is not None:
                self._check_extends(known, checkpoint, old_size, proof, note)
            cosignature = signature_line(checkpoint.body(), self.signer)
            write_atomically(self._path(checkpoint.origin), self._stored_note(note, cosignature).encode("utf-8"))
            self._record("cosigned", checkpoint, old_size, proof, note, cosignature=cosignature)
            return cosignature

    def _opened(self, note: str, old_size: int) -> Checkpoint:
        """The checkpoint the log signed, of an origin this witness tracks, at least ``old_size`` large."""
        try:
            checkpoint = open_checkpoint(note, self.log_verifier)
        except CheckpointError as exc:
            raise WitnessRejected(f"checkpoint refused: {exc}") from exc
        if self.origins is not None and checkpoint.origin not in self.origins:
            raise WitnessRejected(f"unknown origin {checkpoint.origin!r}")
        if old_size > checkpoint.size:
            raise WitnessRejected(f"old size {old_size} is larger than the checkpoint size {checkpoint.size}")
        return checkpoint

    def _check_extends(
        self, known: Checkpoint, checkpoint: Checkpoint, old_size: int, proof: list[bytes], note: str
    ) -> None:
        """Refuse (and record) a checkpoint that forks the one cosigned last or does not provably extend it."""
        if known.size == checkpoint.size and known.root_hash != checkpoint.root_hash:
            reason = f"fork: a different root hash for tree size {known.size}"
            self._record("refused", checkpoint, old_size, proof, note, reason=reason)
            raise WitnessRejected(reason)
        if 0 < known.size < checkpoint.size:
            try:
                verify_consistency(known.size, checkpoint.size, known.root_hash, checkpoint.root_hash, proof)
            except ProofError as exc:
                reason = f"consistency proof from size {known.size} to {checkpoint.size} does not verify: {exc}"
                self._record("refused", checkpoint, old_size, proof, note, reason=reason)
                raise WitnessRejected(reason) from exc

    def _latest(self, origin: str) -> str | None:
        with self._locked():
            loaded = self._read(origin)
            return loaded[1] if loaded is not None else None

    def _load(self, origin: str) -> Checkpoint | None:
        loaded = self._read(origin)
        return loaded[0] if loaded is not None else None

    def _read(self, origin: str) -> tuple[Checkpoint, str] | None:
        """The latest cosigned checkpoint for ``origin`` and its note, refusing a state file tampered with or lost."""
        path = self._path(origin)
        try:
            stored = path.read_bytes()
        except FileNotFoundError:
            if self._history_has_cosigned(origin):
                raise WitnessError(
                    f"{path} is missing, yet {HISTORY_FILE} records cosignatures for {origin!r}"
                ) from None
            return None
        try:
            _, signed = open_note(stored, [self.log_verifier, self.verifier])
            if self.verifier not in signed:
                raise CheckpointError("it does not carry this witness's signature")
            checkpoint = open_checkpoint(stored, self.log_verifier, origin=origin)
        except CheckpointError as exc:
            raise WitnessError(f"{path} is not a checkpoint cosigned by this witness: {exc}") from exc
        return checkpoint, stored.decode("utf-8")

    def _stored_note(self, note: str, cosignature: str) -> str:
        """The checkpoint with the log's signatures and this witness's cosignature (other signatures dropped)."""
        body, signatures = parse_note(note)
        log_lines = dict.fromkeys(
            s.line()
            for s in signatures
            if (s.name, s.key_id) == (self.log_verifier.name, self.log_verifier.key_id)
            and self.log_verifier.verify(body, s.signature)
        )
        return body.decode("utf-8") + "\n" + "".join(log_lines) + cosignature

    def _path(self, origin: str) -> Path:
        return self.directory / (hashlib.sha256(origin.encode("utf-8")).hexdigest() + _SUFFIX)

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        """Exclusive use of the directory, across threads and processes."""
        return locked(self.directory / _LOCK_FILE)

    def _record(
        self,
        outcome: str,
        checkpoint: Checkpoint,
        old_size: int,
        proof: list[bytes],
        note: str,
        *,
        cosignature: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Append one line to the history and make it durable."""
        record = {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "outcome": outcome,
            "origin": checkpoint.origin,
            "old_size": old_size,
            "size": checkpoint.size,
            "root_hash": base64.b64encode(checkpoint.root_hash).decode("ascii"),
            "proof": [base64.b64encode(node).decode("ascii") for node in proof],
            "checkpoint": note,
            "cosignature": cosignature,
            "reason": reason,
        }
        append_durably(self.directory / HISTORY_FILE, record)

    def _history_has_cosigned(self, origin: str) -> bool:
        try:
            with open(self.directory / HISTORY_FILE, encoding="utf-8") as history:
                for line in history:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if (
                        isinstance(record, dict)
                        and record.get("outcome") == "cosigned"
                        and record.get("origin") == origin
                    ):
                        return True
        except FileNotFoundError:
            return False
        return False


def _check_request_shape(old_size: object, proof: Sequence[object]) -> None:
    """Refuse a request whose old size is not a count or whose proof is too long or not of hashes."""
    if isinstance(old_size, bool) or not isinstance(old_size, int) or old_size < 0:
        raise WitnessRejected(f"old size {old_size!r} is not a non-negative integer")
    if len(proof) > MAX_PROOF_HASHES:
        raise WitnessRejected(f"consistency proof has {len(proof)} hashes, more than {MAX_PROOF_HASHES}")
    for index, node in enumerate(proof):
        if not isinstance(node, bytes) or len(node) != HASH_SIZE:
            raise WitnessRejected(f"consistency proof hash {index} is not {HASH_SIZE} bytes")


def _create_key(key_file: Path, name: str) -> NoteSigner:
    """A new signer saved to ``key_file`` (mode 0600), or the one another process saved there first."""
    signer = NoteSigner.generate(name)
    fd, temporary = tempfile.mkstemp(dir=key_file.parent, prefix=f".{key_file.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(signer.signer_key() + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, key_file)  # fails if the file exists: never replace a witness's key
        except FileExistsError:
            return _load_key(key_file)
    finally:
        os.unlink(temporary)
    return signer


def _load_key(key_file: Path) -> NoteSigner:
    return NoteSigner.from_signer_key(key_file.read_text(encoding="ascii").strip())
