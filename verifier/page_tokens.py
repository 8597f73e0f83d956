"""Page tokens that only this service can make (issue 13): the plain position, sealed with an HMAC.

A list's position (an offset, a leaf index, the last row seen) travels to the caller and back; unsealed, a
crafted one reached the database ("StatementError … [SQL: …]"). A sealed token is ``base64url(mac ‖ position)``,
the MAC (16 bytes of HMAC-SHA-256, or HMAC-SM3 under the ``sm`` crypto suite, issue 17) over the list it belongs to
(its *scope*: the method and its filters) and the position, under a key derived from a service key with the same
HMAC. A token that was not issued for this list by a service holding the key opens to nothing, and the call is
``INVALID_ARGUMENT`` naming ``page_token``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from typing import Final

from consent.suite import CryptoSuite

__all__ = ["MAX_PAGE_TOKEN", "NOT_ISSUED", "PageTokens"]

# The longest token a caller may send back (characters); what the service issues is well under it.
MAX_PAGE_TOKEN: Final = 512
_MAC_BYTES: Final = 16
_LABEL: Final = b"hedui page tokens v1"
NOT_ISSUED: Final = "not-issued"
"""What :meth:`PageTokens.position` gives for a token the service did not issue: no position check accepts it."""


class PageTokens:
    """Seal positions into page tokens and open them again, under one key."""

    __slots__ = ("_key", "suite")

    def __init__(self, key: bytes | None = None, suite: CryptoSuite = CryptoSuite.STANDARD) -> None:
        """Tokens under ``key`` (``None``: a random key of this process, so its tokens end with it), MACed with
        ``suite``'s keyed hash (HMAC-SHA256, or HMAC-SM3 under ``sm``)."""
        self._key = key if key is not None else os.urandom(32)
        self.suite = suite

    @classmethod
    def derived(cls, service_key: bytes, suite: CryptoSuite = CryptoSuite.STANDARD) -> PageTokens:
        """Tokens under a key derived from ``service_key`` (the audit subject key) with ``suite``'s HMAC: every
        replica of one service opens the tokens any of them issued, and a token says nothing of the service key.
        A token issued under the other suite does not open (after a switch, a caller starts its list again)."""
        return cls(suite.keyed_hash(service_key, _LABEL), suite)

    def _mac(self, scope: str, position: bytes) -> bytes:
        message = scope.encode("utf-8", "surrogatepass") + b"\x00" + position
        return self.suite.keyed_hash(self._key, message)[:_MAC_BYTES]

    def seal(self, position: str, scope: str) -> str:
        """The token of ``position`` in the list ``scope`` (``""`` stays ``""``: the list ended)."""
        if not position:
            return ""
        data = position.encode("utf-8")
        return base64.urlsafe_b64encode(self._mac(scope, data) + data).decode("ascii").rstrip("=")

    def position(self, token: str, scope: str) -> str:
        """The position a token sealed for ``scope`` holds; ``""`` for no token, :data:`NOT_ISSUED` for one this
        service did not issue for this list (another list's, another key's, edited or made up)."""
        if not token:
            return ""
        if len(token) > MAX_PAGE_TOKEN or not token.isascii():
            return NOT_ISSUED
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return NOT_ISSUED
        mac, data = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if len(mac) < _MAC_BYTES or not data or not hmac.compare_digest(mac, self._mac(scope, data)):
            return NOT_ISSUED
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return NOT_ISSUED
