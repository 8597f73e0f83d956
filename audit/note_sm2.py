"""Issue 17: an SM2 signature on every checkpoint, beside the Ed25519 one (the ``sm`` crypto suite).

C2SP signed-note reserves signature type ``0xff`` for "signature types without an identifier byte assigned by this
specification", recommending a longer identifier after it; hedui's is ``hedui.cn/sm2-sm3/v1`` and a newline. So:

* key ID = SHA-256(key name || 0x0A || 0xff || identifier || SPKI DER)[:4] (the spec's recommended derivation);
* the line = ``— <name> base64(key ID || r ‖ s)``: SM2 with SM3 and the default user id over the note text,
  always 64 bytes (raw ``r ‖ s``, fixed length, as Ed25519's);
* the verifier key = ``<name>+<hex key ID>+base64(0xff || identifier || SPKI DER)``, for hedui's own verifiers.

Verifiers "MUST ignore signatures from unknown keys", so Go's note package, witnesses and every C2SP client open
such a checkpoint with the Ed25519 key alone (tests/audit/test_go_checklog.py); they are handed that key only.
:class:`Sm2Continuity` is hedui's own rule under ``sm``: once a head carries the SM2 line, every later one must.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Final

from audit.checkpoint import CheckpointError, NoteCheck, NoteVerifier, _check_key_name, parse_note
from consent.sm2 import Sm2PrivateKey, Sm2PublicKey

__all__ = ["SM2_TYPE", "Sm2Continuity", "Sm2NoteSigner", "Sm2NoteVerifier", "note_verifier"]

SM2_TYPE: Final = b"\xff" + b"hedui.cn/sm2-sm3/v1\n"
"""The signature type: 0xff, then hedui's newline-terminated identifier."""
_SIGNATURE_BYTES: Final = 64


def _key_id(name: str, public: Sm2PublicKey) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + SM2_TYPE + public.spki_der()).digest()[:4]


class Sm2NoteVerifier:
    """An SM2 public key with its key name: checks SM2 note lines."""

    def __init__(self, name: str, public: Sm2PublicKey) -> None:
        """The key ``public`` under the key name ``name`` (the log's origin)."""
        self.name = _check_key_name(name)
        self.public = public
        self.key_id = _key_id(name, public)

    @classmethod
    def from_vkey(cls, vkey: str) -> Sm2NoteVerifier:
        """Parse ``<name>+<hex key ID>+base64(0xff || identifier || SPKI DER)``."""
        name, id_text, key_text = [*vkey.split("+", 2), "", ""][:3]
        try:
            key = base64.b64decode(key_text.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error):
            raise CheckpointError("SM2 verifier key is not valid base64") from None
        if not key.startswith(SM2_TYPE):
            raise CheckpointError("not an SM2 verifier key (type 0xff hedui.cn/sm2-sm3/v1)")
        try:
            verifier = cls(name, Sm2PublicKey.from_spki_der(key[len(SM2_TYPE) :]))
        except ValueError as exc:
            raise CheckpointError(f"SM2 verifier key: {exc}") from None
        if verifier.key_id.hex() != id_text.lower():
            raise CheckpointError(f"SM2 verifier key ID {id_text!r} does not match the key name and public key")
        return verifier

    @property
    def vkey(self) -> str:
        """The verifier key string, as :meth:`from_vkey` reads it."""
        key = base64.b64encode(SM2_TYPE + self.public.spki_der()).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{key}"

    def verify(self, body: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (64 bytes ``r ‖ s``) is this key's SM2 signature of ``body``."""
        return len(signature) == _SIGNATURE_BYTES and self.public.verify(signature, body)

    def __repr__(self) -> str:
        return f"Sm2NoteVerifier({self.vkey!r})"


class Sm2NoteSigner:
    """An SM2 private key with its key name: signs note texts beside the log's Ed25519 key."""

    def __init__(self, name: str, key: Sm2PrivateKey) -> None:
        """``key`` signing under the key name ``name`` (the log's origin)."""
        self.name = _check_key_name(name)
        self._key = key
        self.key_id = _key_id(name, key.public)

    @classmethod
    def from_pem(cls, name: str, pem: bytes) -> Sm2NoteSigner:
        """A signer from the PKCS#8 PEM of the key file (``audit_log_sm2_key_file``)."""
        try:
            return cls(name, Sm2PrivateKey.from_pem(pem))
        except ValueError as exc:
            raise CheckpointError(f"cannot load the SM2 log key: {exc}") from None

    def sign(self, body: bytes) -> bytes:
        """The 64-byte raw ``r ‖ s`` SM2 signature of ``body``."""
        return self._key.sign(body, raw=True)

    def verifier(self) -> Sm2NoteVerifier:
        """The matching verifier."""
        return Sm2NoteVerifier(self.name, self._key.public)

    def verifier_key(self) -> str:
        """The verifier key string (for hedui's own verifiers; never hand it to Go's note package)."""
        return self.verifier().vkey

    def __repr__(self) -> str:
        return f"Sm2NoteSigner({self.verifier_key()!r})"


def note_verifier(vkey: str) -> NoteCheck:
    """A verifier key of either kind: Ed25519 (type 0x01) or hedui's SM2 (type 0xff + identifier)."""
    parts = vkey.split("+", 2)
    if len(parts) == 3:
        try:
            key = base64.b64decode(parts[2].encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error):
            key = b""
        if key.startswith(b"\xff"):
            return Sm2NoteVerifier.from_vkey(vkey)
    return NoteVerifier.from_vkey(vkey)


@dataclass
class Sm2Continuity:
    """hedui's rule under ``sm``: the log's SM2 line, once a head carries it, is on every later head, and a line
    under the log's SM2 key verifies (older heads predate the switch). Fed each head's note in log order."""

    verifier: Sm2NoteVerifier
    seen: int = field(default=0)

    def check(self, note: str) -> None:
        """Raise :class:`CheckpointError` if ``note`` lacks the SM2 line earlier heads had, or carries a bad one."""
        body, signatures = parse_note(note)
        mine = [s for s in signatures if (s.name, s.key_id) == (self.verifier.name, self.verifier.key_id)]
        if not mine:
            if self.seen:
                raise CheckpointError(
                    f"no SM2 signature by {self.verifier.name}+{self.verifier.key_id.hex()}, which signed "
                    f"{self.seen} earlier head(s)"
                )
            return
        if not all(self.verifier.verify(body, s.signature) for s in mine):
            raise CheckpointError(f"invalid SM2 signature by {self.verifier.name}+{self.verifier.key_id.hex()}")
        self.seen += 1
