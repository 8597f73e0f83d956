"""Compatibility for the commands: the trust store's lifecycle as functions of a service.

The trust store is :class:`verifier.operations.trust_store.TrustStore` (``service.trust_store``);
these delegates go when the commands call the operations directly.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from consent import TrustedKey
from verifier.operations import Caller
from verifier.operations.trust_store import CLOCK_SKEW, KeyEntry, check_organisation

if TYPE_CHECKING:
    from verifier.service import HeduiService

_NOBODY = Caller()

__all__ = [
    "CLOCK_SKEW",
    "KeyEntry",
    "check_organisation",
    "list_trusted_keys",
    "revoke_trusted_key",
    "rotate_trusted_key",
]


async def list_trusted_keys(service: HeduiService, organisation: str = "") -> list[KeyEntry]:
    """Delegate of :meth:`TrustStore.list`."""
    return await service.trust_store.list(organisation)


async def rotate_trusted_key(
    service: HeduiService,
    organisation: str,
    public_key_pem: bytes,
    *,
    old_valid_until: dt.datetime,
    old_keyid: str = "",
    note: str = "",
    caller: Caller = _NOBODY,
) -> tuple[TrustedKey, KeyEntry]:
    """Delegate of :meth:`TrustStore.rotate`."""
    return await service.trust_store.rotate(
        organisation, public_key_pem, old_valid_until=old_valid_until, old_keyid=old_keyid, note=note, caller=caller
    )


async def revoke_trusted_key(
    service: HeduiService, keyid: str, *, reason: str, at: dt.datetime | None = None, caller: Caller = _NOBODY
) -> tuple[KeyEntry, int]:
    """Delegate of :meth:`TrustStore.revoke`."""
    return await service.trust_store.revoke(keyid, reason=reason, at=at, caller=caller)
