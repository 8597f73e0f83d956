"""``hedui witness serve``: a witness that speaks C2SP tlog-witness over HTTP and answers tlog-cosignatures.

https://c2sp.org/tlog-witness, ``POST <prefix>/add-checkpoint`` with the body

    old <size the log thinks this witness cosigned last>
    <base64 consistency proof hash, one per line, at most 63>
    <empty line>
    <the checkpoint note, signed by the log>

is answered, in the spec's order of checks:

* 400: a malformed request, or an old size larger than the checkpoint's;
* 404: an origin this witness was not configured with (``--log ORIGIN=VKEY``);
* 403: no valid signature by a key configured for the origin, or an invalid one by such a key;
* 409: the old size is not the size this witness cosigned last for the origin; the body is that size and
  a newline (``Content-Type: text/x.tlog.size``), so the log retries with the right proof;
* 422: a size-0 checkpoint whose root is not the empty tree's, a proof from size 0 or between equal sizes,
  a consistency proof that does not verify, or the same size with another root (a fork). Nothing is
  cosigned; only a fork — both roots signed by the log's key — is kept in ``history.jsonl`` as evidence
  (once, with the log's verified signature lines only, within a bound of size and rate); a bad proof is
  anyone's and is not evidence against the log;
* 200: the body is one ``cosignature/v1`` line (C2SP tlog-cosignature, Ed25519, signature type 0x04, with
  the witness's time), after the new checkpoint was made durable: checking the old size and writing the
  state happen under one lock (a thread lock and an ``flock`` on the state directory), and the state file
  of the origin is replaced atomically (temporary file, fsync, rename, fsync of the directory).

The same head again is answered with the cosignature made for it (nothing written); a new cosignature's
timestamp is never below the last one's. At most :data:`MAX_CONNECTIONS` connections are served at once, each
for at most 30 s in all; errors are one log line, never a traceback.

``GET <prefix>/<hex SHA-256 of the origin>/checkpoint`` (the spec's monitoring API) serves the checkpoint
cosigned last, with the log's signature and the witness's cosignature (404 if none).
The witness's state is its own directory (``--state``), never hedui's database.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import http.server
import logging
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit._files import append_durably, locked, write_atomically
from audit.checkpoint import Checkpoint, CheckpointError, NoteVerifier, open_note, parse_note
from audit.merkle import EMPTY_ROOT, HASH_SIZE, ProofError, verify_consistency

__all__ = ["MAX_CONNECTIONS", "MAX_HISTORY", "MAX_REQUEST", "Answer", "CosignatureSigner", "WitnessService", "serve"]

log = logging.getLogger("hedui.witness")
MAX_REQUEST = 1 << 20
"""Request bodies larger than this are refused (413) before they are read."""
MAX_HISTORY = 64 << 20
"""``history.jsonl`` takes no more refusals beyond this size (cosignatures, one per new head, still go in)."""
MAX_CONNECTIONS = 64
"""Connections served at once; more are answered 503 and closed."""
_DEADLINE = 30.0  # default seconds one connection may last, whatever its client sends (headers, body, keep-alive)
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_REFUSALS_PER_HOUR = 60  # fork records kept per origin and hour (each a distinct fork signed by the log's key)
_MAX_PROOF = 63
_SIZE_TYPE = "text/x.tlog.size"
_OLD = re.compile(rb"old (0|[1-9][0-9]{0,18})")
_KEY_TYPE = 0x04


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status, content type and body."""

    status: int
    content_type: str
    body: bytes

    @classmethod
    def text(cls, status: int, message: str) -> Answer:
        """A plain-text answer of one line."""
        return cls(status, "text/plain; charset=utf-8", message.encode("utf-8") + b"\n")


class CosignatureSigner:
    """The witness's Ed25519 key and name: makes ``cosignature/v1`` lines (C2SP tlog-cosignature)."""

    def __init__(self, name: str, seed: bytes) -> None:
        """The cosigner ``name`` with the 32-byte Ed25519 seed ``seed``."""
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._seed = bytes(seed)
        self.public_key = self._key.public_key().public_bytes_raw()
        self.key_id = hashlib.sha256(name.encode() + b"\n" + bytes([_KEY_TYPE]) + self.public_key).digest()[:4]

    @classmethod
    def generate(cls, name: str) -> CosignatureSigner:
        """A signer with a fresh random key."""
        return cls(name, os.urandom(32))

    @classmethod
    def from_key_file(cls, path: Path) -> CosignatureSigner:
        """Read ``PRIVATE+KEY+<name>+<hex key ID>+base64(0x04 || seed)`` (what :meth:`key_file_text` writes)."""
        parts = path.read_text(encoding="utf-8").strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValueError(f"{path} is not a witness key (PRIVATE+KEY+<name>+<key ID>+<key>)")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error:
            raise ValueError(f"{path}: the key is not base64") from None
        if len(raw) != 33 or raw[0] != _KEY_TYPE:
            raise ValueError(f"{path}: not an Ed25519 cosignature key (type 0x04, 32 bytes)")
        signer = cls(parts[2], raw[1:])
        if signer.key_id.hex() != parts[3].lower():
            raise ValueError(f"{path}: the key ID does not match the name and key")
        return signer

    def key_file_text(self) -> str:
        """The secret key file's one line; keep it secret."""
        encoded = base64.b64encode(bytes([_KEY_TYPE]) + self._seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}\n"

    @property
    def vkey(self) -> str:
        """The public verifier key ``<name>+<hex key ID>+base64(0x04 || public key)`` logs and verifiers need."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([_KEY_TYPE]) + self.public_key).decode()}"

    def cosign(self, body: bytes, timestamp: int) -> str:
        """The cosignature line over a checkpoint note body at ``timestamp`` (POSIX seconds)."""
        message = b"cosignature/v1\ntime %d\n" % timestamp + body
        blob = self.key_id + timestamp.to_bytes(8, "big") + self._key.sign(message)
        return f"— {self.name} {base64.b64encode(blob).decode()}\n"


class _Refused(Exception):
    """A request refused with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _request(body: bytes) -> tuple[int, list[bytes], bytes]:
    """Old size, proof hashes and the checkpoint note of an add-checkpoint body (400 if malformed)."""
    head, blank, note = body.partition(b"\n\n")
    if not blank:
        raise _Refused(400, "the request has no empty line before the checkpoint")
    first, *lines = head.split(b"\n")
    found = _OLD.fullmatch(first)
    if found is None:
        raise _Refused(400, "the first line is not 'old <size>' in decimal without leading zeros")
    if len(lines) > _MAX_PROOF:
        raise _Refused(400, f"more than {_MAX_PROOF} consistency proof lines")
    proof = []
    for number, line in enumerate(lines, start=1):
        try:
            node = base64.b64decode(line, validate=True)
        except binascii.Error:
            raise _Refused(400, f"proof line {number} is not base64") from None
        if len(node) != HASH_SIZE:
            raise _Refused(400, f"proof line {number} is not a {HASH_SIZE}-byte hash")
        proof.append(node)
    return int(found.group(1)), proof, note


class WitnessService:
    """The witness's logic: its key, the logs it witnesses, its state directory (see the module docstring)."""

    def __init__(self, signer: CosignatureSigner, state: Path, logs: Mapping[str, Sequence[NoteVerifier]]) -> None:
        """Cosign with ``signer`` the logs ``logs`` (origin → its keys), keeping state in ``state``."""
        self.signer = signer
        self.state = state
        self.logs = {origin: tuple(keys) for origin, keys in logs.items()}
        state.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._forks: set[tuple[str, int, bytes]] = set()  # forks kept, this process (deduplicated)
        self._refusals: dict[str, tuple[int, int]] = {}  # origin → (hour, forks kept in it)

    def add_checkpoint(self, body: bytes) -> Answer:
        """Answer one ``add-checkpoint`` request body."""
        try:
            old, proof, note = _request(body)
            checkpoint, keys = self._signed(note)
            if old > checkpoint.size:
                raise _Refused(400, f"old size {old} is larger than the checkpoint size {checkpoint.size}")
            with self._locked():
                return self._cosigned(old, proof, note, checkpoint, keys)
        except _Refused as refused:
            return Answer.text(refused.status, str(refused))

    def checkpoint(self, origin_hash: str) -> Answer:
        """The checkpoint cosigned last for the origin with this SHA-256 (hex), or 404."""
        for origin in self.logs:
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                with self._locked():
                    stored = self._stored(origin)
                if stored is not None:
                    return Answer(200, "text/plain; charset=utf-8", stored[1])
        return Answer.text(404, "no checkpoint cosigned for that origin")

    def _signed(self, note: bytes) -> tuple[Checkpoint, tuple[NoteVerifier, ...]]:
        """The checkpoint of a note signed by a key configured for its origin (400, 404 or 403 if not)."""
        try:
            body, _ = parse_note(note)
            checkpoint = Checkpoint.parse_body(body)
        except CheckpointError as exc:
            raise _Refused(400, f"not a checkpoint: {exc}") from None
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            raise _Refused(404, f"unknown log origin {checkpoint.origin!r}")
        try:
            open_note(note, keys)
        except CheckpointError as exc:
            raise _Refused(403, f"the log's signature: {exc}") from None
        return checkpoint, keys

    def _cosigned(
        self, old: int, proof: list[bytes], note: bytes, checkpoint: Checkpoint, keys: tuple[NoteVerifier, ...]
    ) -> Answer:
        """Check against the state, persist, cosign; under the lock."""
        stored = self._stored(checkpoint.origin)
        known = stored[0] if stored is not None else None
        known_size = known.size if known is not None else 0
        if old != known_size:
            return Answer(409, _SIZE_TYPE, b"%d\n" % known_size)
        kept = checkpoint.body() + b"\n" + _log_lines(note, keys).encode()  # only the log's verified signatures
        try:
            _consistent(old, proof, known, checkpoint)
        except _Fork as fork:
            self._evidence(checkpoint, kept, str(fork))
            raise _Refused(422, str(fork)) from None
        if stored is not None and known is not None and known.size == checkpoint.size:
            line = self._own_line(stored[1])
            if line is not None:  # the same head again: its cosignature again, nothing written
                return Answer(200, "text/plain; charset=utf-8", line.encode())
        # Never back in time, even with the clock set back: at least the time of the last cosignature.
        last = _timestamp(self._own_line(stored[1])) if stored is not None else 0
        timestamp = max(int(time.time()), last, 1)
        line = self.signer.cosign(checkpoint.body(), timestamp)
        write_atomically(self._path(checkpoint.origin), kept + line.encode())
        self._record("cosigned", checkpoint, kept, old=old, proof=proof, cosignature=line)
        return Answer(200, "text/plain; charset=utf-8", line.encode())

    def _own_line(self, stored: bytes) -> str | None:
        """This witness's cosignature line in a stored note (``None``: none)."""
        _, lines = parse_note(stored)
        return next((s.line() for s in lines if s.name == self.signer.name and s.key_id == self.signer.key_id), None)

    def _evidence(self, checkpoint: Checkpoint, kept: bytes, reason: str) -> None:
        """Keep a fork signed by the log's key as evidence: once per (origin, size, root), within the bounds."""
        key = (checkpoint.origin, checkpoint.size, checkpoint.root_hash)
        if key in self._forks:
            return
        hour = int(time.monotonic() // 3600)
        recent = self._refusals.get(checkpoint.origin, (hour, 0))
        count = recent[1] if recent[0] == hour else 0
        history = self.state / "history.jsonl"
        size = history.stat().st_size if history.exists() else 0
        if count >= _REFUSALS_PER_HOUR or size + len(kept) * 2 > MAX_HISTORY:
            log.error(
                "fork of %s at size %d not kept: history.jsonl is at its bound", checkpoint.origin, checkpoint.size
            )
            return
        self._refusals[checkpoint.origin] = (hour, count + 1)
        self._forks.add(key)
        log.error("fork of %s at size %d, signed by the log's key: kept in history.jsonl", *key[:2])
        self._record("refused", checkpoint, kept, reason=reason)

    def _stored(self, origin: str) -> tuple[Checkpoint, bytes] | None:
        """The checkpoint cosigned last for ``origin`` and its stored note (``None``: never)."""
        try:
            stored = self._path(origin).read_bytes()
        except FileNotFoundError:
            return None
        return Checkpoint.parse_body(parse_note(stored)[0]), stored

    def _path(self, origin: str) -> Path:
        return self.state / (hashlib.sha256(origin.encode()).hexdigest() + ".checkpoint")

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        """Exclusive use of the state, across threads and processes."""
        return locked(self.state / ".lock", self._lock)

    def _record(
        self,
        outcome: str,
        checkpoint: Checkpoint,
        kept: bytes,
        *,
        old: int | None = None,
        proof: Sequence[bytes] = (),
        cosignature: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Append one durable line to ``history.jsonl``: what was cosigned, or a fork kept as evidence (the
        checkpoint with the log's verified signatures only)."""
        record = {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "outcome": outcome,
            "origin": checkpoint.origin,
            "old_size": old,
            "size": checkpoint.size,
            "proof": [base64.b64encode(node).decode() for node in proof],
            "checkpoint": kept.decode("utf-8"),
            "cosignature": cosignature,
            "reason": reason,
        }
        append_durably(self.state / "history.jsonl", record)


class _Fork(Exception):
    """The log signed two roots for one size: evidence against it."""


def _timestamp(line: str | None) -> int:
    """The timestamp of a cosignature line (0: none)."""
    if line is None:
        return 0
    blob = base64.b64decode(line.rsplit(" ", 1)[-1])
    return int.from_bytes(blob[4:12], "big")


def _consistent(old: int, proof: list[bytes], known: Checkpoint | None, checkpoint: Checkpoint) -> None:
    """422 unless ``checkpoint`` extends ``known`` (cosigned last, of size ``old``) by ``proof``; a fork (the
    same size, another root: both signed by the log's key) is :class:`_Fork`, evidence to keep. A proof that
    does not verify is not evidence: anyone can send a genuine checkpoint with a bad proof."""
    if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
        raise _Refused(422, "a checkpoint of size 0 must have the empty tree's root")
    if old == 0:
        if proof:
            raise _Refused(422, "a consistency proof from size 0 must be empty")
        return
    assert known is not None  # old == the known size > 0
    if old == checkpoint.size:
        if known.root_hash != checkpoint.root_hash:
            raise _Fork(f"fork: another root hash for tree size {old}, signed by the log's key")
        if proof:
            raise _Refused(422, f"a consistency proof was sent for equal sizes ({old})")
        return
    try:
        verify_consistency(old, checkpoint.size, known.root_hash, checkpoint.root_hash, proof)
    except ProofError as exc:
        raise _Refused(422, f"the consistency proof from size {old} does not verify: {exc}") from None


def _log_lines(note: bytes, keys: tuple[NoteVerifier, ...]) -> str:
    """The note's signature lines by the log's configured keys that verify (others are not kept)."""
    body, lines = parse_note(note)
    by_key = {(key.name, key.key_id): key for key in keys}
    kept = [
        s.line() for s in lines if (k := by_key.get((s.name, s.key_id))) is not None and k.verify(body, s.signature)
    ]
    return "".join(dict.fromkeys(kept))


class _Handler(http.server.BaseHTTPRequestHandler):
    """One HTTP exchange with the witness (HTTP/1.1, keep-alive), all of it within :attr:`deadline` seconds."""

    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds a client may take per read; the whole connection is bounded by the deadline too
    witness: WitnessService  # set on the subclass :func:`serve` builds
    deadline: float = 30.0

    def setup(self) -> None:
        """Start the connection's deadline: when it passes the socket is shut, whatever the client does."""
        super().setup()
        self._deadline = threading.Timer(self.deadline, self._expire)
        self._deadline.daemon = True
        self._deadline.start()

    def _expire(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        """Stop the deadline; a client gone away is not an error."""
        self._deadline.cancel()
        with contextlib.suppress(OSError):
            super().finish()

    def do_POST(self) -> None:
        """``add-checkpoint``."""
        if self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] != "add-checkpoint":
            self._send(Answer.text(404, "POST add-checkpoint only"))
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST:
            self.close_connection = True
            status = 413 if length > MAX_REQUEST else 400
            self._send(Answer.text(status, f"a Content-Length of at most {MAX_REQUEST} bytes is required"))
            return
        try:
            body = self.rfile.read(length)
        except OSError as exc:
            self._gone(exc)
            return
        try:
            answer = self.witness.add_checkpoint(body)
        except Exception as exc:  # a bug or a disk that failed: say so without a traceback
            log.error("add-checkpoint failed: %s: %s", type(exc).__name__, exc)
            self.close_connection = True
            answer = Answer.text(500, "the witness failed; ask again: it answers from its durable state")
        self._send(answer)

    def do_GET(self) -> None:
        """The monitoring API: ``<origin hash>/checkpoint``."""
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) >= 2 and parts[-1] == "checkpoint" and re.fullmatch("[0-9a-f]{64}", parts[-2]):
            try:
                answer = self.witness.checkpoint(parts[-2])
            except Exception as exc:  # an unreadable state: one line, no traceback
                log.error("checkpoint failed: %s: %s", type(exc).__name__, exc)
                answer = Answer.text(500, "the witness cannot read its state")
            self._send(answer)
        else:
            self._send(Answer.text(404, "GET <origin hash>/checkpoint only"))

    def _send(self, answer: Answer) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError as exc:
            self._gone(exc)

    def _gone(self, exc: OSError) -> None:
        """The client went away (or its deadline passed): one line, the connection closed."""
        self.close_connection = True
        log.info("%s: connection ended: %s", self.address_string(), type(exc).__name__)

    def log_message(self, format: str, *args: object) -> None:
        """Requests are logged at INFO through ``logging``, not printed."""
        log.info("%s %s", self.address_string(), format % args)


class _Server(http.server.ThreadingHTTPServer):
    """A thread per connection, at most :data:`MAX_CONNECTIONS` at once (more are answered 503 and closed);
    errors are one log line, never a traceback on stderr."""

    daemon_threads = True
    block_on_close = False  # stopping never waits on a client idling on keep-alive (state writes are atomic)

    def __init__(self, address: tuple[str, int], handler: type[_Handler], connections: int) -> None:
        """Listen on ``address``; serve at most ``connections`` at once."""
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve in a thread if a slot is free, else refuse at once."""
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.settimeout(1)
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """The thread of one connection; its slot freed when it ends."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, no traceback (a client that reset the connection is not worth more)."""
        exc = sys.exc_info()[1]
        log.info("%s: %s: %s", client_address[0] if client_address else "?", type(exc).__name__, exc)


def serve(
    witness: WitnessService,
    host: str,
    port: int,
    *,
    deadline: float = _DEADLINE,
    connections: int = MAX_CONNECTIONS,
) -> http.server.ThreadingHTTPServer:
    """An HTTP server for ``witness`` bound to ``host:port`` (port 0: any free one); call ``serve_forever``.
    Each connection lasts at most ``deadline`` seconds; at most ``connections`` are served at once."""
    handler = type("WitnessHandler", (_Handler,), {"witness": witness, "deadline": deadline})
    return _Server((host, port), handler, connections)
