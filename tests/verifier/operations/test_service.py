"""verifier.service, the composition root: the parts are built once and share one database, one audit log and
the connectors; start and close run the lifecycle; a connector for an undeclared department is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from harness import example_request, signed_envelope

from connectors import SandboxDataset, sandbox_connectors
from consent import SigningKey
from verifier.config import Settings
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database

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
        await service.trust_store.add(REQUEST.commissioned_by, key.public_pem(), not_before=since)
        auth = await service.authorizations.register(signed_envelope(REQUEST, key))
        # What one part wrote, the others read: the pipeline's reader, the audit queries, the tree.
        assert [a.name for a in await service.pipeline.authorizations.by_names([auth.name])] == [auth.name]
        events, _ = await service.audit_queries.list_events(page_size=10, page_token="")
        assert [e.kind for e in events] == ["TRUSTED_KEY_ADDED", "AUTHORIZATION_REGISTERED"]
        assert (await service.audit_queries.signed_tree_head()).tree_size == 2
    finally:
        await service.close()


async def test_a_connector_for_a_department_that_is_not_declared_is_refused(tmp_path: object) -> None:
    connectors = sandbox_connectors(SandboxDataset.demo())
    settings = Settings(database_url="sqlite:///unused.db", audit_subject_key=b"k" * 32)
    with pytest.raises(ValueError, match=r"departments\.customs: a connector for a department that is not declared"):
        HeduiService(Database(settings.database_url), {**connectors, "customs": connectors["tax"]}, settings)


async def test_an_admin_service_migrates_works_and_closes_without_background_work(db_url: str) -> None:
    settings = Settings(database_url=db_url, audit_subject_key=b"k" * 32)
    key = SigningKey.generate_ed25519()
    async with HeduiService.administering(settings) as admin:
        assert admin.connectors == {} and admin._integrator is None  # no departments, no integrator
        await admin.trust_store.add(REQUEST.commissioned_by, key.public_pem())
    # The database outlives the command: the key is there for the server (and the entry waits for it).
    async with HeduiService.administering(settings) as again:
        assert [k.keyid for k in await again.trust_store.list()] == [key.keyid]
