"""A registration's judgement is kept under the consent epoch read before the trust store, never a later one.

Found in review: a registration's judgement is kept under a consent epoch it was not judged at.

``Authorizations.register`` reads the trust store (``_checked``) in a session of its own, then, in its writing
transaction, reads the consent epoch and keeps the authorization as judged *at that epoch*
(``AuthorizationReader.keep``). A key revocation (back-dated: "the key leaked an hour ago") that commits
between the two reads bumps the epoch *before* it is read: the authorization, judged valid against the trust
store as it was before the revocation, is kept under the new epoch. Every verification that follows takes it
from the cache (``AuthorizationReader.current``: same epoch, not read again) and sends its members' identity
numbers to the departments under a signature the trust store no longer accepts — while ``GetAuthorization``
(read afresh) says it is not valid.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from harness import sandbox_service, signed_envelope

from consent import SigningKey
from verifier.config import Settings
from verifier.errors import Reason, ServiceError


async def test_a_key_revoked_while_an_authorization_is_registered_is_not_trusted_from_the_cache(db_url: str) -> None:
    settings = Settings(database_url=db_url, audit_subject_key=b"k" * 32)
    async with sandbox_service(settings) as (service, request, _):
        key = SigningKey.generate_ed25519()
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
        trusted = await service.trust_store.add(request.commissioned_by, key.public_pem(), not_before=since)
        reader = service.pipeline.authorizations
        original = reader.trusted_keys
        revoked: list[str] = []

        async def then_revoked(keyids: Any, session: Any = None) -> Any:
            found = await original(keyids, session)
            if not revoked and trusted.keyid in found:
                # The key is revoked (from an hour ago) right after the registration read the trust store.
                leaked = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
                await service.trust_store.revoke(trusted.keyid, reason="private key leaked", at=leaked)
                revoked.append(trusted.keyid)
            return found

        reader.trusted_keys = then_revoked  # type: ignore[method-assign]
        envelope = signed_envelope(request, key, valid_until=dt.date.today() + dt.timedelta(days=40))
        registered = await service.authorizations.register(envelope)
        reader.trusted_keys = original  # type: ignore[method-assign]
        assert revoked == [trusted.keyid]
        # Read afresh, the authorization's signature no longer counts (registered after the key's revocation).
        fresh = await service.authorizations.get(registered.name)
        assert fresh.signature_problem, "precondition of the scenario: judged afresh, the signature fails"
        with pytest.raises(ServiceError) as refused:
            await service.verifications.create(request, [registered.name])
        assert refused.value.reason == Reason.CONSENT_MISSING
