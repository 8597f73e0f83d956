"""DSSE envelopes: signatures over the exact payload bytes, via the pre-authentication encoding.

See https://github.com/secure-systems-lab/dsse/blob/master/protocol.md. Ed25519 and
ECDSA P-256 (SHA-256) keys are supported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

__all__ = [
    "Envelope",
    "EnvelopeSignature",
    "SignatureError",
    "SigningKey",
    "TrustedKey",
    "key_id_for",
    "pae",
    "sign_envelope",
    "verify_envelope",
]

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


class SignatureError(ValueError):
    """An envelope whose signatures do not verify against the trust store."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class EnvelopeSignature:
    keyid: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    payload: bytes
    payload_type: str
    signatures: tuple[EnvelopeSignature, ...]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _public_der(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id_for(key: PublicKey) -> str:
    """Key id: the first 16 hex digits of SHA-256 over the SubjectPublicKeyInfo DER."""
    return hashlib.sha256(_public_der(key)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key with the key id its signatures carry."""

    private_key: PrivateKey

    @classmethod
    def generate_ed25519(cls) -> SigningKey:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def generate_p256(cls) -> SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("only Ed25519 and ECDSA P-256 keys are supported")
        return cls(key)

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    @property
    def keyid(self) -> str:
        return key_id_for(self.public_key)

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, message: bytes) -> bytes:
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            return self.private_key.sign(message)
        return self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key in the trust store, with the organisation it speaks for and its validity."""

    keyid: str
    organisation: str
    public_key_pem: bytes
    not_before: dt.datetime
    not_after: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    def load(self) -> PublicKey:
        key = serialization.load_pem_public_key(self.public_key_pem)
        if isinstance(key, ed25519.Ed25519PublicKey):
            return key
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            return key
        raise ValueError("only Ed25519 and ECDSA P-256 keys are supported")

    def valid_at(self, at: dt.datetime) -> bool:
        if at < self.not_before:
            return False
        if self.not_after is not None and at >= self.not_after:
            return False
        return self.revoked_at is None or at < self.revoked_at


def sign_envelope(payload: bytes, payload_type: str, keys: tuple[SigningKey, ...]) -> Envelope:
    message = pae(payload_type, payload)
    return Envelope(payload, payload_type, tuple(EnvelopeSignature(k.keyid, k.sign(message)) for k in keys))


def _verifies(key: PublicKey, sig: bytes, message: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, message)
        else:
            key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def verify_envelope(
    envelope: Envelope, payload_type: str, trust: Mapping[str, TrustedKey], at: dt.datetime
) -> tuple[TrustedKey, ...]:
    """Return the trusted keys whose signatures verify; raise if none does.

    A signature counts only when its key is in ``trust`` and valid (not yet
    expired, not revoked) at ``at``, the time of registration.
    """
    if envelope.payload_type != payload_type:
        raise SignatureError("envelope.payload_type", f"must be {payload_type!r}")
    if not envelope.signatures:
        raise SignatureError("envelope.signatures", "no signature")
    message = pae(envelope.payload_type, envelope.payload)
    verified: list[TrustedKey] = []
    problems: list[str] = []
    for sig in envelope.signatures:
        trusted = trust.get(sig.keyid)
        if trusted is None:
            problems.append(f"key {sig.keyid!r} is not in the trust store")
            continue
        if not trusted.valid_at(at):
            problems.append(f"key {sig.keyid!r} is revoked, expired or not yet valid")
            continue
        try:
            public_key = trusted.load()
        except ValueError as exc:
            problems.append(f"key {sig.keyid!r} cannot be used: {exc}")
            continue
        if not _verifies(public_key, sig.sig, message):
            problems.append(f"signature by key {sig.keyid!r} does not verify")
            continue
        if trusted not in verified:
            verified.append(trusted)
    if not verified:
        raise SignatureError("envelope.signatures", "; ".join(problems))
    return tuple(verified)
