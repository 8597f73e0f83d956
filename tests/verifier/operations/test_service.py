"""verifier.service (the composition root) and verifier.trust_store (the commands' delegates): the parts are
built once and shared, start/close run the lifecycle, and every delegate reaches its operation."""

from __future__ import annotations

import datetime as dt
import json

from harness import example_request, signed_envelope

from consent import SigningKey
from verifier.config import Settings
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database
from verifier.trust_store import list_trusted_keys, revoke_trusted_key, rotate_trusted_key

REQUEST = parse_request(example_request())


async def test_the_parts_share_one_database_one_audit_log_and_the_connectors(db_url: str) -> None:
    service = HeduiService(Database(db_url), {}, Settings(database_url=db_url, audit_subject_key=b"k" * 32))
    assert service.verifications._pipeline is service.pipeline
    assert service.pipeline.publisher._audit is service.audit is service.trust_store._audit
    assert service.pipeline._sender._connectors is service.connectors  # replacing a connector there replaces it here
    await service.start()
    try:
        key = SigningKey.generate_ed25519()
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        await service.add_trusted_key(REQUEST.commissioned_by, key.public_pem(), not_before=since)
        auth = await service.register_authorization(signed_envelope(REQUEST, key))
        assert (await service.get_authorization(auth.name)).name == auth.name
        stored = await service.stored_envelope(auth.authorization_id)
        signature = stored.signatures[0]
        columns = json.dumps([{"keyid": signature.keyid, "sig": signature.sig.hex()}])
        assert stored == service.envelope_of(columns, stored.payload, stored.payload_type)
        assert await service.stored_certificates(auth.authorization_id) == []
        listed, _ = await service.list_authorizations(REQUEST.members[0].id_number)
        assert [a.name for a in listed] == [auth.name]
        head = await service.signed_tree_head()
        events, _ = await service.list_audit_events(page_size=10, page_token="")
        assert head.tree_size == len(events) == 2  # the key added, the authorization registered
        assert (await service.inclusion_proof(0, 0))[1].tree_size == 2
        assert (await service.consistency_proof(2, 0))[1].tree_size == 2
        assert [chunk async for chunk in service.export_audit_log()]
        (entry,) = await list_trusted_keys(service)
        new = SigningKey.generate_ed25519()
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        _, ended = await rotate_trusted_key(service, REQUEST.commissioned_by, new.public_pem(), old_valid_until=until)
        assert ended.keyid == entry.keyid
        revoked, _ = await revoke_trusted_key(service, new.keyid, reason="test")
        assert revoked.revoked_at is not None
        assert (await service.revoke_authorization(auth.name, "done")).revoked_at is not None
        assert await service.list_verifications(page_size=1, page_token="") == ([], "")
    finally:
        await service.close()
