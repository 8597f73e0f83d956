"""DSSE envelopes: signatures over the exact payload bytes, via the pre-authentication encoding.

See https://github.com/secure-systems-lab/dsse/blob/master/protocol.md. Ed25519, ECDSA P-256 (SHA-256) and
SM2 (SM3, the default user id ``1234567812345678``; issue 17, :mod:`consent.sm2`) keys are supported. An ECDSA or
SM2 signature may be DER (what OpenSSL, ``cryptography``, GmSSL and securesystemslib write) or the raw 64 bytes
``r ‖ s`` (IEEE P1363, what WebCrypto on a phone writes): both are the same two integers, so both are accepted;
hedui itself signs DER. The key id is the same for every algorithm: SHA-256 over the SubjectPublicKeyInfo DER.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from consent.errors import FieldError
from consent.identity import scrub
from consent.instants import format_rfc3339
from consent.sm2 import Sm2PrivateKey, Sm2PublicKey, is_sm2_pem
from consent.suite import CryptoSuite

__all__ = [
    "MAX_KEYID",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_BYTES",
    "Envelope",
    "EnvelopeFormatError",
    "EnvelopeSignature",
    "SignatureError",
    "SigningKey",
    "TrustedKey",
    "check_signatures_shape",
    "envelope_from_json",
    "envelope_to_json",
    "first_per_keyid",
    "key_id_for",
    "load_public_key",
    "not_trusted",
    "pae",
    "shown_keyid",
    "sign_envelope",
    "signature_holds",
    "usable_key",
    "verify_envelope",
    "verify_signature",
]

# The longest key id an envelope may carry (hedui's are 16 hex digits; securesystemslib's 64).
MAX_KEYID: Final = 128
# The most signatures one envelope may carry: the organisation's and a few members' phones. Each distinct key id
# is verified at most once (the first signature naming it), so bogus signatures under a trusted key id cost one
# verification, not one each.
MAX_SIGNATURES: Final = 8
# The longest signature (bytes): Ed25519 is 64, ECDSA P-256 and SM2 DER at most 72.
MAX_SIGNATURE_BYTES: Final = 512
_KEYID = re.compile(r"[\x21-\x7e]{1,128}")
# The raw ``r ‖ s`` form of an ECDSA P-256 signature: two 32-byte big-endian integers.
_RAW_P256_SIGNATURE: Final = 64
_SSLIB_KEYID = re.compile(r"[0-9a-f]{64}")

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | Sm2PublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | Sm2PrivateKey
_UNSUPPORTED: Final = "only Ed25519, ECDSA P-256 and SM2 keys are supported"


class SignatureError(FieldError):
    """An envelope whose signatures do not verify against the trust store; ``str()`` is the message alone."""

    @staticmethod
    def describe(field: str, message: str) -> str:
        """The message alone: it names the keys and why each signature failed."""
        return message


@dataclass(frozen=True, slots=True)
class EnvelopeSignature:
    """One DSSE signature: the key id it names and the signature bytes."""

    keyid: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    """A DSSE envelope: the exact payload bytes, their type, and the signatures over their PAE."""

    payload: bytes
    payload_type: str
    signatures: tuple[EnvelopeSignature, ...]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _public_der(key: PublicKey) -> bytes:
    if isinstance(key, Sm2PublicKey):  # cryptography cannot serialise an SM2 key
        return key.spki_der()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def shown_keyid(keyid: str) -> str:
    """A key id as an error message shows it: quoted, at most 64 characters, any identity number in it masked
    (a number pasted into the wrong field is never echoed in full)."""
    cut = keyid[:64]
    return repr(scrub(cut)) + ("…" if len(keyid) > len(cut) else "")


def not_trusted(keyid: str, also: str = "") -> str:
    """Why a signature's key id names no trusted key (``also``: what else it is not); a securesystemslib key id
    (64 hex digits, its own form) is told how hedui's differs."""
    message = f"key {shown_keyid(keyid)} is not in the trust store{also}"
    if _SSLIB_KEYID.fullmatch(keyid):
        message += (
            " (this looks like a securesystemslib key id: hedui's key id is the first 16 hex digits of SHA-256 over"
            " the public key's SubjectPublicKeyInfo DER, as `hedui keys list` shows it; sign with"
            " CryptoSigner(private_key, SSlibKey.from_crypto(public_key, keyid=<that id>)))"
        )
    return message


def key_id_for(key: PublicKey) -> str:
    """Key id: the first 16 hex digits of SHA-256 over the SubjectPublicKeyInfo DER."""
    return hashlib.sha256(_public_der(key)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key with the key id its signatures carry."""

    private_key: PrivateKey

    @classmethod
    def generate_ed25519(cls) -> SigningKey:
        """A new Ed25519 key (tests, sandboxes and `hedui consent keygen`)."""
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def generate_p256(cls) -> SigningKey:
        """A new ECDSA P-256 key."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def generate_sm2(cls) -> SigningKey:
        """A new SM2 key (issue 17, the ``sm`` suite)."""
        return cls(Sm2PrivateKey.generate())

    @classmethod
    def generate(cls, suite: CryptoSuite) -> SigningKey:
        """A new key of the suite's signature algorithm: Ed25519 (``standard``) or SM2 (``sm``)."""
        return cls.generate_sm2() if suite is CryptoSuite.SM else cls.generate_ed25519()

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        """A key read from unencrypted PKCS#8 PEM (SEC1 too for SM2); only Ed25519, P-256 and SM2 are accepted."""
        if is_sm2_pem(data):
            return cls(Sm2PrivateKey.from_pem(data))
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(_UNSUPPORTED)
        return cls(key)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        if isinstance(self.private_key, Sm2PrivateKey):
            return self.private_key.pem()
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def public_key(self) -> PublicKey:
        """The public half of the key."""
        if isinstance(self.private_key, Sm2PrivateKey):
            return self.private_key.public
        return self.private_key.public_key()

    @property
    def keyid(self) -> str:
        """The key id its signatures carry (:func:`key_id_for`)."""
        return key_id_for(self.public_key)

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM, as the trust store holds it."""
        if isinstance(self.private_key, Sm2PrivateKey):
            return self.private_key.public.pem()
        public = self.private_key.public_key()
        return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` (the PAE): Ed25519, ECDSA P-256 over SHA-256, or SM2 with SM3 (DER)."""
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey | Sm2PrivateKey):
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
        """The public key, checked to be Ed25519, P-256 or SM2."""
        return load_public_key(self.public_key_pem)

    def valid_at(self, at: dt.datetime) -> bool:
        """Whether a signature made at ``at`` may use the key."""
        return self.why_not_valid_at(at) is None

    def why_not_valid_at(self, at: dt.datetime) -> str | None:
        """Why the key may not be used for a signature made at ``at`` (None: it may)."""
        if self.revoked_at is not None and at >= self.revoked_at:
            return f"key {self.keyid!r} of {self.organisation} was revoked at {format_rfc3339(self.revoked_at)}"
        if at < self.not_before:
            return f"key {self.keyid!r} of {self.organisation} is not valid before {format_rfc3339(self.not_before)}"
        if self.not_after is not None and at >= self.not_after:
            return f"key {self.keyid!r} of {self.organisation} expired at {format_rfc3339(self.not_after)}"
        return None


@functools.lru_cache(maxsize=1024)
def load_public_key(pem: bytes) -> PublicKey:
    """A PEM SubjectPublicKeyInfo that is Ed25519, ECDSA P-256 or SM2; anything else raises ``ValueError``.

    Cached: the trust store's few keys are parsed once, not at every check.
    """
    if is_sm2_pem(pem):
        return Sm2PublicKey.from_pem(pem)
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ValueError("not a PEM public key") from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError(_UNSUPPORTED)


def sign_envelope(payload: bytes, payload_type: str, keys: tuple[SigningKey, ...]) -> Envelope:
    """An envelope of ``payload`` signed by each of ``keys`` over its DSSE PAE."""
    message = pae(payload_type, payload)
    return Envelope(payload, payload_type, tuple(EnvelopeSignature(k.keyid, k.sign(message)) for k in keys))


def _raw_to_der(sig: bytes) -> bytes:
    """A raw ``r ‖ s`` P-256 signature (64 bytes) as DER."""
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))


def verify_signature(key: PublicKey, sig: bytes, message: bytes) -> bool:
    """One signature over ``message`` (the PAE) with an Ed25519, ECDSA P-256 (SHA-256) or SM2 (SM3, default user
    id) key; an ECDSA or SM2 signature is DER or, when 64 bytes that are not a DER signature that verifies, raw
    ``r ‖ s``."""
    if isinstance(key, Sm2PublicKey):
        return key.verify(sig, message)
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, message)
            return True
        try:
            key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
            return True
        except InvalidSignature:
            if len(sig) != _RAW_P256_SIGNATURE:
                raise
        key.verify(_raw_to_der(sig), message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def usable_key(sig: EnvelopeSignature, trusted: TrustedKey, problems: list[str]) -> PublicKey | None:
    """The trusted key ``sig`` names, loaded; None, with why in ``problems``, when it cannot be used."""
    try:
        return trusted.load()
    except ValueError as exc:
        problems.append(f"key {shown_keyid(sig.keyid)} cannot be used: {exc}")
        return None


def signature_holds(key: PublicKey, sig: EnvelopeSignature, message: bytes, problems: list[str]) -> bool:
    """Whether ``sig`` verifies over ``message`` (the PAE) with ``key``; when not, ``problems`` says so."""
    if verify_signature(key, sig.sig, message):
        return True
    form = ""
    if isinstance(key, ec.EllipticCurvePublicKey):
        form = " (ECDSA P-256 over SHA-256 of the PAE: DER, or raw r‖s of exactly 64 bytes)"
    elif isinstance(key, Sm2PublicKey):
        form = " (SM2 with SM3 over the PAE, user id 1234567812345678: DER, or raw r‖s of exactly 64 bytes)"
    problems.append(f"signature by key {shown_keyid(sig.keyid)} does not verify{form}")
    return False


def first_per_keyid(signatures: tuple[EnvelopeSignature, ...], problems: list[str]) -> list[EnvelopeSignature]:
    """The first signature of each key id, in order: a later one naming the same key is not verified (and
    ``problems`` says so), so one key id costs one verification however many signatures name it."""
    seen: set[str] = set()
    first: list[EnvelopeSignature] = []
    for sig in signatures:
        if sig.keyid in seen:
            problems.append(f"key {shown_keyid(sig.keyid)} signs more than once: only its first signature is checked")
            continue
        seen.add(sig.keyid)
        first.append(sig)
    return first


def check_signatures_shape(envelope: Envelope, where: str) -> None:
    """Refuse ``envelope`` (at ``where``) with no signature, more than :data:`MAX_SIGNATURES`, a key id that is not
    1-128 printable ASCII characters (no space, no NUL: nothing else reaches the trust store's look-up) or a
    signature longer than :data:`MAX_SIGNATURE_BYTES`."""
    if not envelope.signatures:
        raise SignatureError(f"{where}.signatures", "no signature")
    if len(envelope.signatures) > MAX_SIGNATURES:
        raise SignatureError(f"{where}.signatures", f"at most {MAX_SIGNATURES} signatures")
    for index, sig in enumerate(envelope.signatures):
        if not _KEYID.fullmatch(sig.keyid):
            raise SignatureError(
                f"{where}.signatures[{index}].keyid", f"must be 1-{MAX_KEYID} printable ASCII characters"
            )
        if len(sig.sig) > MAX_SIGNATURE_BYTES:
            raise SignatureError(f"{where}.signatures[{index}].sig", f"at most {MAX_SIGNATURE_BYTES} bytes")


def verify_envelope(
    envelope: Envelope, payload_type: str, trust: Mapping[str, TrustedKey], at: dt.datetime
) -> tuple[TrustedKey, ...]:
    """Return the trusted keys whose signatures verify; raise if none does.

    A signature counts only when its key is in ``trust`` and valid (not yet
    expired, not revoked) at ``at``, the time of registration.
    """
    if envelope.payload_type != payload_type:
        raise SignatureError("envelope.payload_type", f"must be {payload_type!r}")
    check_signatures_shape(envelope, "envelope")
    message = pae(envelope.payload_type, envelope.payload)
    verified: list[TrustedKey] = []
    problems: list[str] = []
    for sig in first_per_keyid(envelope.signatures, problems):
        trusted = trust.get(sig.keyid)
        if trusted is None:
            problems.append(not_trusted(sig.keyid))
            continue
        why = trusted.why_not_valid_at(at)
        if why is not None:
            problems.append(why)
            continue
        public_key = usable_key(sig, trusted, problems)
        if public_key is None or not signature_holds(public_key, sig, message, problems):
            continue
        if trusted not in verified:
            verified.append(trusted)
    if not verified:
        raise SignatureError("envelope.signatures", "; ".join(problems))
    return tuple(verified)


# --- the DSSE JSON envelope (what `hedui consent sign` writes and case systems may send as files) -------


class EnvelopeFormatError(FieldError):
    """A DSSE JSON envelope that is malformed; ``field`` names where."""


_STANDARD_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URLSAFE_B64 = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def _b64decode(value: object, field: str) -> bytes:
    """Strict, canonical base64 (standard or URL-safe alphabet, padded): one text for one byte string."""
    if not isinstance(value, str):
        raise EnvelopeFormatError(field, "must be a base64 string")
    try:
        if _STANDARD_B64.fullmatch(value):
            data = base64.b64decode(value, validate=True)
            canonical = base64.b64encode(data).decode("ascii")
        elif _URLSAFE_B64.fullmatch(value):
            data = base64.urlsafe_b64decode(value)
            canonical = base64.urlsafe_b64encode(data).decode("ascii")
        else:
            raise EnvelopeFormatError(field, "is not base64")
    except binascii.Error:
        raise EnvelopeFormatError(field, "is not base64") from None
    if canonical != value:
        raise EnvelopeFormatError(field, "is not canonical, padded base64")
    return data


def envelope_to_json(envelope: Envelope) -> dict[str, Any]:
    """The DSSE JSON envelope: ``payload`` and ``sig`` in standard base64, ``payloadType`` as text."""
    return {
        "payload": base64.b64encode(envelope.payload).decode("ascii"),
        "payloadType": envelope.payload_type,
        "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")} for s in envelope.signatures],
    }


def envelope_from_json(data: object, field: str = "envelope") -> Envelope:
    """Read a DSSE JSON envelope strictly: unknown fields, non-canonical base64 or wrong types are refused."""
    if not isinstance(data, dict):
        raise EnvelopeFormatError(field, "must be a JSON object")
    unknown = sorted(set(data) - {"payload", "payloadType", "signatures"})
    if unknown:
        raise EnvelopeFormatError(f"{field}.{unknown[0]}", "unknown field")
    payload = _b64decode(data.get("payload"), f"{field}.payload")
    payload_type = data.get("payloadType")
    if not isinstance(payload_type, str):
        raise EnvelopeFormatError(f"{field}.payloadType", "must be a string")
    raw_signatures = data.get("signatures")
    if not isinstance(raw_signatures, list):
        raise EnvelopeFormatError(f"{field}.signatures", "must be a list")
    if len(raw_signatures) > MAX_SIGNATURES:
        raise EnvelopeFormatError(f"{field}.signatures", f"at most {MAX_SIGNATURES} signatures")
    signatures = []
    for index, item in enumerate(raw_signatures):
        path = f"{field}.signatures[{index}]"
        if not isinstance(item, dict) or set(item) - {"keyid", "sig"}:
            raise EnvelopeFormatError(path, "must be an object with keyid and sig")
        keyid = item.get("keyid", "")
        if not isinstance(keyid, str):
            raise EnvelopeFormatError(f"{path}.keyid", "must be a string")
        signatures.append(EnvelopeSignature(keyid, _b64decode(item.get("sig"), f"{path}.sig")))
    return Envelope(payload, payload_type, tuple(signatures))
