"""SM2 keys and signatures (GB/T 32918, SM2 with SM3 and the default user id), in the forms OpenSSL reads and writes.

The arithmetic is GmSSL's, compiled into the ``gmssl-pyx`` wheel (its nonces come from ``/dev/urandom``; the
pure-Python ``gmssl`` package draws them from ``random`` and is never used). gmssl-pyx knows raw keys only
(the 64-byte point ``x ‖ y``, the 32-byte scalar), so the DER forms are written here by their fixed layouts:

* public keys: SubjectPublicKeyInfo (``id-ecPublicKey`` with the curve ``1.2.156.10197.1.301``), PEM
  ``PUBLIC KEY`` — what ``openssl pkey -pubout`` writes;
* private keys: PKCS#8 carrying the public point (what ``openssl genpkey -algorithm SM2`` writes), and SEC1
  (``openssl ec``, labelled ``SM2 PRIVATE KEY`` or ``EC PRIVATE KEY``) on input. The public point must be in the file:
  gmssl-pyx cannot derive it, and a loaded key proves the pair by signing and verifying once.

A signature is DER (what GmSSL and OpenSSL write; hedui signs DER) or, on input, the raw 64 bytes ``r ‖ s``,
the same rule as for ECDSA P-256 (docs/consent.md). The digest includes Z over the user id
``1234567812345678`` (GM/T 0009 default); a signature made with another id does not verify.

GmSSL writes a line such as ``…/sm2_sign.c:265:sm2_fast_verify():`` to file descriptor 2 on every failed
verification, below Python's ``sys.stderr``. :func:`verify` therefore runs each call with fd 2 pointed at a
private buffer, and writes back whatever else reached fd 2 meanwhile (another thread's log lines): a refused
signature prints nothing, in the CLI as in the server.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import gmssl_pyx
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

__all__ = [
    "DEFAULT_USER_ID",
    "ORDER",
    "RAW_SIGNATURE_BYTES",
    "SM2_CURVE_OID",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "is_sm2_pem",
    "quiet_fd2",
]

DEFAULT_USER_ID: Final = b"1234567812345678"
"""The user id in Z (GM/T 0009-2012 §10, the default OpenSSL's ``distid`` and GmSSL use)."""
ORDER: Final = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
"""n, the order of the SM2 base point (GB/T 32918.5)."""
SM2_CURVE_OID: Final = "1.2.156.10197.1.301"
RAW_SIGNATURE_BYTES: Final = 64

# SubjectPublicKeyInfo: SEQ{ SEQ{ id-ecPublicKey, sm2 }, BIT STRING 00 04 x y }: these 27 bytes, then the point.
_SPKI_PREFIX: Final = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")
# PKCS#8 PrivateKeyInfo (138 bytes): the prefix, the scalar, [1] publicKey 04 x y.
_PKCS8_PREFIX: Final = bytes.fromhex("308187020100301306072a8648ce3d020106082a811ccf5501822d046d306b0201010420")
_PKCS8_MIDDLE: Final = bytes.fromhex("a14403420004")
# SEC1 ECPrivateKey (121 bytes): the prefix, the scalar, [0] the curve, [1] publicKey 04 x y.
_SEC1_PREFIX: Final = bytes.fromhex("307702010104" + "20")
_SEC1_MIDDLE: Final = bytes.fromhex("a00a06082a811ccf5501822da14403420004")
_POINT = 64
_SCALAR = 32
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END \1-----\s*")
_SM2_OID_DER: Final = bytes.fromhex("06082a811ccf5501822d")
# What GmSSL prints on a failure: a source file, a line and a function (``…/sm2_sign.c:265:sm2_fast_verify():``).
_GMSSL_LINE = re.compile(rb"^[^\n]*\.c:\d+:\w+\(\):[ \t]*\n", re.MULTILINE)


def _pem(label: str, der: bytes) -> bytes:
    text = base64.b64encode(der).decode("ascii")
    lines = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode("ascii")


def _unpem(pem: bytes) -> tuple[str, bytes]:
    """The label and DER of one PEM block (nothing before or after it but white space)."""
    found = _PEM.fullmatch(pem.strip() + b"\n")
    if found is None:
        raise ValueError("not a PEM block")
    try:
        der = base64.b64decode(re.sub(rb"\s", b"", found.group(2)), validate=True)
    except binascii.Error:
        raise ValueError("not a PEM block (its base64 is broken)") from None
    return found.group(1).decode("ascii"), der


def is_sm2_pem(pem: bytes) -> bool:
    """Whether ``pem`` is a PEM block whose DER names the SM2 curve (so :class:`Sm2PublicKey` should read it)."""
    try:
        return _SM2_OID_DER in _unpem(pem)[1]
    except ValueError:
        return False


class _Fd2Buffer:
    """fd 2 pointed at a private file for the length of one GmSSL call; what else was written there meanwhile
    (another thread's output) goes back to the real fd 2 afterwards, GmSSL's own lines dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sink = -1
        self._pid = 0

    def _sink_fd(self) -> int:
        if self._sink < 0 or self._pid != os.getpid():  # a forked child gets its own
            try:
                self._sink = os.memfd_create("hedui-gmssl-stderr", os.MFD_CLOEXEC)
            except (AttributeError, OSError):
                with tempfile.TemporaryFile() as handle:
                    self._sink = os.dup(handle.fileno())
            self._pid = os.getpid()
        return self._sink

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Run the block with GmSSL's fd-2 lines kept off stderr."""
        with self._lock:
            try:
                saved = os.dup(2)
            except OSError:  # no fd 2 at all: nothing to protect
                yield
                return
            sink = self._sink_fd()
            os.dup2(sink, 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                written = os.pread(sink, os.fstat(sink).st_size, 0)
                os.ftruncate(sink, 0)
                os.lseek(sink, 0, os.SEEK_SET)
                rest = _GMSSL_LINE.sub(b"", written)
                if rest:
                    os.write(2, rest)


_FD2 = _Fd2Buffer()
quiet_fd2 = _FD2.quiet


def _point(raw: bytes) -> bytes:
    """``raw`` (64 bytes x ‖ y) if it is a point of the curve, else ``ValueError``."""
    if len(raw) != _POINT:
        raise ValueError("an SM2 public point is 64 bytes")
    try:
        return bytes(gmssl_pyx.normalize_sm2_public_key(raw))
    except gmssl_pyx.GmsslInnerError:
        raise ValueError("the SM2 public key is not a point of the curve") from None


def _integers(sig: bytes) -> list[tuple[int, int]]:
    """The (r, s) that ``sig`` may be: its DER reading, and its raw ``r ‖ s`` reading when it is 64 bytes."""
    readings = []
    with contextlib.suppress(ValueError):
        readings.append(decode_dss_signature(sig))
    if len(sig) == RAW_SIGNATURE_BYTES:
        readings.append((int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")))
    return [(r, s) for r, s in readings if 0 < r < ORDER and 0 < s < ORDER]


@dataclass(frozen=True, slots=True)
class Sm2PublicKey:
    """An SM2 public key: the 64-byte point ``x ‖ y``, checked to be on the curve."""

    point: bytes

    def __post_init__(self) -> None:
        """Refuse a point that is not of the curve."""
        object.__setattr__(self, "point", _point(self.point))

    @classmethod
    def from_spki_der(cls, der: bytes) -> Sm2PublicKey:
        """A SubjectPublicKeyInfo DER of an SM2 key (91 bytes); anything else is ``ValueError``."""
        if len(der) != len(_SPKI_PREFIX) + _POINT or not der.startswith(_SPKI_PREFIX):
            raise ValueError("not an SM2 SubjectPublicKeyInfo")
        return cls(der[len(_SPKI_PREFIX) :])

    @classmethod
    def from_pem(cls, pem: bytes) -> Sm2PublicKey:
        """A PEM ``PUBLIC KEY`` of an SM2 key."""
        label, der = _unpem(pem)
        if label != "PUBLIC KEY":
            raise ValueError(f"not a PEM PUBLIC KEY but {label}")
        return cls.from_spki_der(der)

    def spki_der(self) -> bytes:
        """The SubjectPublicKeyInfo DER (what ``openssl pkey -pubout -outform DER`` writes)."""
        return _SPKI_PREFIX + self.point

    def pem(self) -> bytes:
        """The SubjectPublicKeyInfo PEM, as the trust store holds it."""
        return _pem("PUBLIC KEY", self.spki_der())

    @property
    def keyid(self) -> str:
        """hedui's key id: the first 16 hex digits of SHA-256 over the SPKI DER (as for Ed25519 and P-256)."""
        return hashlib.sha256(self.spki_der()).hexdigest()[:16]

    def verify(self, sig: bytes, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bool:
        """Whether ``sig`` (DER, or raw 64-byte ``r ‖ s``) is this key's SM2 signature of ``message`` under
        ``user_id``. Malformed forms and ``r``, ``s`` outside 1..n-1 are refused before GmSSL; nothing is printed."""
        for r, s in _integers(sig):
            with quiet_fd2():
                if gmssl_pyx.sm2_verify(self.point, message, encode_dss_signature(r, s), signer_id=user_id):
                    return True
        return False


@dataclass(frozen=True, slots=True)
class Sm2PrivateKey:
    """An SM2 private key: the scalar and its public key (kept with it, as PKCS#8 does: it cannot be derived here)."""

    scalar: bytes = field(repr=False)
    public: Sm2PublicKey

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        """A fresh key from GmSSL's generator (``/dev/urandom``)."""
        point, scalar = gmssl_pyx.sm2_key_generate()
        return cls(bytes(scalar), Sm2PublicKey(bytes(point)))

    @classmethod
    def from_pem(cls, pem: bytes) -> Sm2PrivateKey:
        """A PEM ``PRIVATE KEY`` (PKCS#8) or SEC1 key of the SM2 curve carrying its public point;
        the pair is proven by one signature (a mismatched public key is ``ValueError``)."""
        label, der = _unpem(pem)
        if label == "PRIVATE KEY" and len(der) == 138 and der.startswith(_PKCS8_PREFIX):
            scalar, middle, point = der[36:68], der[68:74], der[74:]
            if middle != _PKCS8_MIDDLE:
                raise ValueError("the SM2 PKCS#8 key does not carry its public key")
        elif label in ("EC PRIVATE KEY", "SM2 PRIVATE KEY") and len(der) == 121 and der.startswith(_SEC1_PREFIX):
            scalar, middle, point = der[7:39], der[39:57], der[57:]
            if middle != _SEC1_MIDDLE:
                raise ValueError("the SEC1 key is not an SM2 key carrying its public key")
        else:
            raise ValueError("not an unencrypted SM2 private key (PKCS#8 or SEC1, with its public key)")
        if not 0 < int.from_bytes(scalar, "big") < ORDER - 1:
            raise ValueError("the SM2 private key is out of range")
        key = cls(scalar, Sm2PublicKey(point))
        if not key.public.verify(key.sign(b"hedui sm2 key check"), b"hedui sm2 key check"):
            raise ValueError("the SM2 private key does not match the public key it carries")
        return key

    def pem(self) -> bytes:
        """The key as unencrypted PKCS#8 PEM (OpenSSL reads it); keep it secret."""
        return _pem("PRIVATE KEY", _PKCS8_PREFIX + self.scalar + _PKCS8_MIDDLE + self.public.point)

    def sign(self, message: bytes, *, raw: bool = False, user_id: bytes = DEFAULT_USER_ID) -> bytes:
        """The SM2 signature of ``message`` (SM3 over Z ‖ message): DER, or raw 64-byte ``r ‖ s`` if ``raw``."""
        der = bytes(gmssl_pyx.sm2_sign(self.scalar, self.public.point, message, signer_id=user_id))
        if not raw:
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
