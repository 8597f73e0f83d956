"""Checking witness cosignatures, written from the text of C2SP tlog-cosignature (Ed25519, ``cosignature/v1``).

https://c2sp.org/tlog-cosignature: a cosignature is a signed-note signature line on a checkpoint,

    — <cosigner name> base64(key ID || timestamp || signature)

* key ID = SHA-256(<name> || "\\n" || 0x04 || 32-byte Ed25519 public key)[:4] (signature type 0x04);
* ``timestamp`` is a big-endian u64, POSIX seconds, at most 2**63 - 1 (and, as c2sp.org/tlog-witness
  demands of a witness's answer, not zero);
* ``signature`` is the 64-byte Ed25519 signature of the message
  ``"cosignature/v1\\n" || "time " || decimal(timestamp) || "\\n" || <the checkpoint's note body>``
  (the whole body, extension lines included, with its final newline; no signature lines).

A v1 cosignature states: as of that time, the largest consistent tree the cosigner has observed for the
origin has this root. This module shares no code with the witness that makes the signatures
(:mod:`audit.witness_server`): it parses the note with the signed-note syntax of :mod:`audit.checkpoint`
and does everything this spec defines itself, so a witness that signs wrongly is caught here.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.checkpoint import CheckpointError, parse_note

__all__ = [
    "COSIGNATURE_TYPE",
    "Cosignature",
    "CosignatureError",
    "CosignatureVerifier",
    "cosignatures",
    "signed_message",
]

COSIGNATURE_TYPE = 0x04
"""The signature type byte of timestamped Ed25519 checkpoint cosignatures (c2sp.org/signed-note)."""
_MAX_TIMESTAMP = (1 << 63) - 1
_SIGNATURE = 64
_PUBLIC = 32


class CosignatureError(ValueError):
    """A cosignature, or the verifier key of a cosigner, is malformed or does not verify."""


@dataclass(frozen=True, slots=True)
class Cosignature:
    """One cosignature that verified: who signed, when (POSIX seconds), and the signature line itself."""

    name: str
    timestamp: int
    line: str

    @property
    def time(self) -> dt.datetime:
        """The cosignature's timestamp as a UTC instant."""
        return dt.datetime.fromtimestamp(self.timestamp, dt.UTC)


def signed_message(body: bytes, timestamp: int) -> bytes:
    """The bytes an Ed25519 v1 cosignature at ``timestamp`` signs for a checkpoint note body."""
    return b"cosignature/v1\ntime " + str(timestamp).encode("ascii") + b"\n" + body


class CosignatureVerifier:
    """A cosigner's name and Ed25519 public key: checks its ``cosignature/v1`` lines."""

    def __init__(self, name: str, public_key: bytes) -> None:
        """The cosigner ``name`` (as in its signature lines) with its raw 32-byte Ed25519 key."""
        if not name or "+" in name or any(c.isspace() for c in name):
            raise CosignatureError(f"cosigner name {name!r} is empty or holds a space or '+'")
        if len(public_key) != _PUBLIC:
            raise CosignatureError(f"cosigner public key is {len(public_key)} bytes, not {_PUBLIC}")
        try:
            self._key = Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError as exc:
            raise CosignatureError(f"cosigner public key is invalid: {exc}") from None
        self.name = name
        self.public_key = bytes(public_key)
        self.key_id = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([COSIGNATURE_TYPE]) + public_key).digest()[:4]

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``<name>+<hex key ID>+base64(0x04 || public key)`` (a signed-note vkey of type 0x04)."""
        parts = vkey.split("+", 2) if isinstance(vkey, str) else []
        if len(parts) != 3:
            raise CosignatureError("a cosigner's verifier key is <name>+<key ID>+<key>")
        name, key_id, key = parts
        try:
            raw = base64.b64decode(key.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error):
            raise CosignatureError("the cosigner's verifier key is not base64") from None
        if base64.b64encode(raw).decode("ascii") != key:  # one spelling per key: canonical padding bits only
            raise CosignatureError("the cosigner's verifier key is not canonical base64")
        if not raw or raw[0] != COSIGNATURE_TYPE:
            kind = f"0x{raw[0]:02x}" if raw else "none"
            raise CosignatureError(f"the verifier key has signature type {kind}, not 0x04 (cosignature/v1)")
        verifier = cls(name, raw[1:])
        if key_id.lower() != verifier.key_id.hex() or len(key_id) != 8:
            raise CosignatureError(f"verifier key ID {key_id} does not match the cosigner's name and key")
        return verifier

    @property
    def vkey(self) -> str:
        """The verifier key string, as :meth:`from_vkey` reads it."""
        encoded = base64.b64encode(bytes([COSIGNATURE_TYPE]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, body: bytes, signature: bytes) -> int:
        """The timestamp of ``signature`` (the bytes after the key ID) if it cosigns ``body``; else the error."""
        if len(signature) != 8 + _SIGNATURE:
            raise CosignatureError(f"{self.name}: a cosignature is 8 + 64 bytes, not {len(signature)}")
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp == 0 or timestamp > _MAX_TIMESTAMP:
            raise CosignatureError(f"{self.name}: cosignature timestamp {timestamp} is zero or above 2**63-1")
        try:
            self._key.verify(signature[8:], signed_message(body, timestamp))
        except InvalidSignature:
            raise CosignatureError(f"{self.name}: the cosignature does not verify") from None
        return timestamp

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.vkey!r})"


def cosignatures(
    note: str | bytes,
    verifiers: Sequence[CosignatureVerifier],
    *,
    now: dt.datetime | None = None,
    future_grace_seconds: float = 300.0,
) -> list[Cosignature]:
    """The verified cosignatures on ``note`` by the cosigners given, one per cosigner (its newest).

    Lines by other keys (name and key ID not both those of a verifier) are ignored, as signed-note requires;
    a line by a known cosigner that does not verify refuses the whole note (:class:`CosignatureError`).
    With ``now``, a timestamp more than ``future_grace_seconds`` after it is refused (the spec allows it).
    """
    try:
        body, lines = parse_note(note)
    except CheckpointError as exc:
        raise CosignatureError(f"not a signed note: {exc}") from None
    known = {(v.name, v.key_id): v for v in verifiers}
    found: dict[str, Cosignature] = {}
    for line in lines:
        verifier = known.get((line.name, line.key_id))
        if verifier is None:
            continue
        timestamp = verifier.verify(body, line.signature)
        if now is not None and timestamp > now.timestamp() + future_grace_seconds:
            raise CosignatureError(f"{verifier.name}: cosignature timestamp {timestamp} is in the future")
        if line.name not in found or found[line.name].timestamp < timestamp:
            found[line.name] = Cosignature(line.name, timestamp, line.line())
    return list(found.values())
