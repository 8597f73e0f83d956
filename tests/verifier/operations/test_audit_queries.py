"""verifier.operations.audit_queries: filters checked, an empty log told apart, proofs only of what exists."""

from __future__ import annotations

import base64
import json

import pytest

from audit import AuditEvent
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
