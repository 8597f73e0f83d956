"""verifier.operations.audit_queries: filters checked, an empty log told apart, proofs only of what exists."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import text

from audit import AuditEvent
from consent import SigningKey
from verifier.config import Settings
from verifier.errors import Reason, ServiceError
from verifier.service import HeduiService
from verifier.storage.db import Database


def service(db: Database) -> HeduiService:
    return HeduiService(db, {}, Settings(database_url=db.url, audit_subject_key=b"k" * 32))


async def refused(work: object) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await work  # type: ignore[misc]
    return caught.value


async def test_bad_filters_are_all_named(db: Database) -> None:
    queries = service(db).audit_queries
    error = await refused(
        queries.list_events(page_size=-1, page_token="x", kind="NOPE", since="yesterday", until="2026-11-23T09:00:00")
    )
    assert [v.field for v in error.violations] == ["page_size", "page_token", "kind", "since", "until"]
    assert "must name its time zone offset" in error.violations[-1].description


async def test_an_empty_log_has_no_head_and_no_proofs(db: Database) -> None:
    queries = service(db).audit_queries
    empty = await refused(queries.signed_tree_head())
    assert (empty.reason, empty.code) == (Reason.AUDIT_LOG_EMPTY, "FAILED_PRECONDITION")
    assert await queries.list_events(page_size=0, page_token="") == ([], "")
    assert (await refused(queries.inclusion_proof(0, 0))).reason == Reason.NO_SUCH_PROOF


async def test_entries_are_listed_filtered_and_proved(db: Database) -> None:
    hedui = service(db)
    for kind in ("REPORT_READ", "AUTHORIZATION_REVOKED", "REPORT_READ"):
        await hedui.standalone_events.append(AuditEvent(kind=kind, operator="w", client="c", verification="v1"))
    page, token = await hedui.audit_queries.list_events(page_size=1, page_token="", kind="REPORT_READ")
    rest, last = await hedui.audit_queries.list_events(page_size=1, page_token=token, kind="REPORT_READ")
    assert [e.index for e in (*page, *rest)] == [0, 2] and last == ""
    head = await hedui.audit_queries.signed_tree_head()
    proof, at, entry = await hedui.audit_queries.inclusion_proof(1, head.tree_size)
    assert head.tree_size == 3 and at.tree_size == 3 and b"AUTHORIZATION_REVOKED" in entry and proof
    assert (await refused(hedui.audit_queries.inclusion_proof(5, 0))).reason == Reason.NO_SUCH_PROOF
    assert (await refused(hedui.audit_queries.consistency_proof(4, 3))).reason == Reason.NO_SUCH_PROOF
    exported = b"".join([chunk async for chunk in hedui.audit_queries.export()])
    records = [json.loads(line) for line in exported.splitlines()]
    assert records[0]["tree_size"] == 3
    kinds = [json.loads(base64.b64decode(r["entry"]))["kind"] for r in records if "entry" in r]
    assert kinds == ["REPORT_READ", "AUTHORIZATION_REVOKED", "REPORT_READ"]


async def pending(db: Database) -> int:
    """Entries appended but not yet under a signed head."""
    async with db.sessions() as session:
        return int(await session.scalar(text("SELECT count(*) FROM audit_pending")) or 0)


async def test_an_admin_command_integrates_only_under_the_service_s_own_key(db: Database) -> None:
    own = service(db)
    key = SigningKey.generate_ed25519().public_pem()
    await own.trust_store.add("533401-civil-affairs", key)
    assert await own.audit_queries.integrate_own_log() is False  # no head yet: left to the running service
    assert await pending(db) == 1
    first = await own.audit_queries.signed_tree_head()  # the service itself integrates and signs
    assert (first.tree_size, await pending(db)) == (1, 0)
    # Another process with another log key appends: it must not sign this log.
    stranger = HeduiService(db, {}, Settings(database_url=db.url, audit_subject_key=b"k" * 32))
    await stranger.trust_store.add("533401-civil-affairs", SigningKey.generate_ed25519().public_pem())
    assert await stranger.audit_queries.integrate_own_log() is False
    assert await pending(db) == 1
    # The same key (the server's config) integrates what it appended, under a new head that checks.
    assert await own.audit_queries.integrate_own_log() is True
    assert await pending(db) == 0
    checked = await own.audit_queries.check_log()
    assert (checked.intact, checked.entries, checked.heads) == (True, 2, 2)
