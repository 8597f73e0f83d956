"""Query tokens (issue 13): hedui signs each query it sends a department, the connector server checks it.

An authorization reference alone is a name anyone can make up. A query token binds it to the query: hedui's
Ed25519 signature over the department, the authorization reference, the idempotency key, the purpose, a hash of
the identity numbers asked about, and an expiry a few minutes on. A connector server that holds hedui's public
key answers only a query whose token verifies and matches what it asks (:meth:`QueryTokenVerifier.problem`).
The token travels in the call's metadata, ``x-hedui-query-token``; a server in another language checks the same
bytes: ``base64url(claims JSON) "." base64url(signature)``, the signature over ``hedui-query-token-v1\\n`` and the
claims' bytes, the claims ``{"v": 1, "dep", "ref", "key", "purpose", "ids", "exp", "n"}`` (``n``: 16 random
bytes as hex, new for each token; ``ids``: SHA-256 hex of those 16 bytes followed by the identity numbers joined
by ``\\n``, in the order asked, so the hash gives no identity number away; ``exp``: Unix seconds).

A ``Poll`` carries a token too (review S7: a ticket alone would be a bearer capability): the same claims with
``ref`` and ``key`` empty, ``purpose`` ``POLL`` and ``ids`` the SHA-256 hex of ``ticket\\n`` and the ticket id
(:meth:`QueryClaims.of_poll`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "QUERY_TOKEN_METADATA",
    "TOKEN_SECONDS",
    "QueryClaims",
    "QueryTokenSigner",
    "QueryTokenVerifier",
    "new_token_key",
]

QUERY_TOKEN_METADATA: Final = "x-hedui-query-token"
TOKEN_SECONDS: Final = 300
_CONTEXT: Final = b"hedui-query-token-v1\n"
_MAX_TOKEN: Final = 4096
_SKEW: Final = 60
POLL_PURPOSE: Final = "POLL"
_NONCE_BYTES: Final = 16
_NONCE: Final = re.compile(f"[0-9a-f]{{{2 * _NONCE_BYTES}}}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ticket_hash(ticket_id: str) -> str:
    """SHA-256 hex of ``ticket\\n`` and a ticket id: what a poll's token vouches for."""
    return hashlib.sha256(b"ticket\n" + ticket_id.encode("utf-8")).hexdigest()


def members_hash(id_numbers: Sequence[str], nonce: str = "") -> str:
    """SHA-256 hex of the token's ``nonce`` (hex, as bytes) and the identity numbers asked about, joined by
    newlines in the order asked (review N2: salted, so the hash does not give an identity number away)."""
    return hashlib.sha256(bytes.fromhex(nonce) + "\n".join(id_numbers).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class QueryClaims:
    """What a token vouches for: one query of one department."""

    department: str
    reference: str
    key: str
    purpose: str
    ids: str
    expires: int
    nonce: str = ""  # 16 random bytes, hex: what ``ids`` is salted with
    id_numbers: tuple[str, ...] | None = None  # a query's, for a verifier to hash with the token's nonce

    @classmethod
    def of(
        cls,
        department: str,
        reference: str,
        key: str,
        purpose: str,
        id_numbers: Sequence[str],
        expires: int,
        nonce: str = "",
    ) -> QueryClaims:
        """The claims of a query (``ids`` salted with ``nonce``)."""
        ids = tuple(id_numbers)
        return cls(department, reference, key, purpose, members_hash(ids, nonce), expires, nonce, ids)

    @classmethod
    def of_poll(cls, department: str, ticket_id: str, expires: int, nonce: str = "") -> QueryClaims:
        """The claims of a poll of one ticket."""
        return cls(department, "", "", POLL_PURPOSE, ticket_hash(ticket_id), expires, nonce)

    def ids_with(self, nonce: str) -> str:
        """``ids`` as a token salted with ``nonce`` would carry it."""
        return self.ids if self.id_numbers is None else members_hash(self.id_numbers, nonce)

    def encoded(self) -> bytes:
        """The claims' bytes (sorted keys, no spaces)."""
        plain = {
            "v": 1,
            "dep": self.department,
            "ref": self.reference,
            "key": self.key,
            "purpose": self.purpose,
            "ids": self.ids,
            "exp": self.expires,
            "n": self.nonce,
        }
        return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def new_token_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair for query tokens: (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


class QueryTokenSigner:
    """hedui's side: signs a token for each query it sends."""

    def __init__(self, private_pem: bytes) -> None:
        """From an Ed25519 private key PEM; :class:`ValueError` when it is not one."""
        key = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("a query token key must be an Ed25519 private key")
        self._key = key

    def token(
        self,
        department: str,
        reference: str,
        key: str,
        purpose: str,
        id_numbers: Sequence[str],
        *,
        seconds: int = TOKEN_SECONDS,
    ) -> str:
        """The token of one query, valid for ``seconds``."""
        expires, nonce = int(time.time()) + seconds, secrets.token_hex(_NONCE_BYTES)
        return self.signed(QueryClaims.of(department, reference, key, purpose, id_numbers, expires, nonce))

    def poll_token(self, department: str, ticket_id: str, *, seconds: int = TOKEN_SECONDS) -> str:
        """The token of one poll of ``ticket_id``, valid for ``seconds``."""
        nonce = secrets.token_hex(_NONCE_BYTES)
        return self.signed(QueryClaims.of_poll(department, ticket_id, int(time.time()) + seconds, nonce))

    def signed(self, claims: QueryClaims) -> str:
        """``claims`` as a token signed with hedui's key."""
        encoded = claims.encoded()
        return f"{_b64(encoded)}.{_b64(self._key.sign(_CONTEXT + encoded))}"


class QueryTokenVerifier:
    """A connector server's side: checks a query's token with hedui's public key(s)."""

    def __init__(self, public_pems: Sequence[bytes]) -> None:
        """From Ed25519 public key PEMs (more than one while hedui rotates its key)."""
        keys = []
        for pem in public_pems:
            key = serialization.load_pem_public_key(pem)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("a query token key must be an Ed25519 public key")
            keys.append(key)
        if not keys:
            raise ValueError("at least one query token key is needed")
        self._keys = tuple(keys)

    def problem(self, token: str, expected: QueryClaims, now: float | None = None) -> str | None:
        """What is wrong with ``token`` for the query ``expected`` describes (its ``expires`` ignored), or None."""
        if not token:
            return "the query carries no query token"
        if len(token) > _MAX_TOKEN or token.count(".") != 1:
            return "the query token is malformed"
        claims_text, _, signature_text = token.partition(".")
        try:
            claims, signature = _unb64(claims_text), _unb64(signature_text)
        except (ValueError, binascii.Error):
            return "the query token is malformed"
        # The signature over the raw bytes first: nothing of an unsigned token is parsed (review S6).
        if not any(self._verifies(key, signature, claims) for key in self._keys):
            return "the query token's signature does not verify with hedui's key"
        try:
            plain = json.loads(claims)
        except (ValueError, RecursionError):
            return "the query token is malformed"
        if not isinstance(plain, dict) or plain.get("v") != 1 or type(plain.get("exp")) is not int:
            return "the query token is malformed"
        nonce = plain.get("n")
        if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
            return "the query token is malformed"
        wanted = {"dep": expected.department, "ref": expected.reference, "key": expected.key}
        wanted |= {"purpose": expected.purpose, "ids": expected.ids_with(nonce)}
        for name, value in wanted.items():
            if plain.get(name) != value:
                return f"the query token is for another query (its {name} differs)"
        at = time.time() if now is None else now
        if plain["exp"] + _SKEW < at:
            return "the query token has expired"
        if plain["exp"] > at + TOKEN_SECONDS + _SKEW:  # review N1: hedui signs for TOKEN_SECONDS, no longer
            return "the query token is valid for longer than hedui signs tokens for"
        return None

    @staticmethod
    def _verifies(key: Ed25519PublicKey, signature: bytes, claims: bytes) -> bool:
        try:
            key.verify(signature, _CONTEXT + claims)
        except InvalidSignature:
            return False
        return True
