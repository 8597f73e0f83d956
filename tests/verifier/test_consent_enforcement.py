"""Consent is decided again at the moment a query leaves, before every poll and when an answer is stored."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from harness import Harness, example_request, example_sandbox, running_service

from connectors import SandboxDataset, sandbox_connectors
from connectors.base import (
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentUnavailable,
    Ticket,
)
from hedui.v1 import audit_pb2, consent_pb2, verification_pb2
from verifier.protojson import message_to_plain
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database

pytestmark = pytest.mark.integration


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def revoke(h: Harness, name: str) -> None:
    await h.consent.RevokeAuthorization(
        consent_pb2.RevokeAuthorizationRequest(name=name, reason="applicant withdrew consent"), metadata=h.metadata
    )


async def report_of(h: Harness, name: str) -> dict[str, Any]:
    report = await h.verifications.GetReport(
        verification_pb2.GetReportRequest(name=f"{name}/reports/latest"), metadata=h.metadata
    )
    return message_to_plain(report)


async def test_polling_within_the_deadline_stops_when_the_authorization_is_revoked(db_url: str) -> None:
    sandbox = example_sandbox()
    # The revocation (made once the bank is being polled) must come before the answer is ready: 4 s is
    # generous for that on a busy machine, and the deadline of 20 s keeps the polling within it.
    sandbox["banks"]["answer_after_seconds"] = 4
    async with running_service(db_url, sandbox, deadline=20.0, poll=0.05) as h:
        request = example_request()
        auth = await h.register(h.envelope(parse_request(request)))
        asked_at = time.monotonic()
        created = await h.create(request, [auth.name])
        banks = h.connectors["banks"]
        await until(lambda: len(banks.polls) >= 2, timeout=30)
        await revoke(h, auth.name)
        at_revocation = len(banks.polls)
        v = await h.settle(created.name, timeout=40)
        # past the moment the bank's answer would have been ready
        await asyncio.sleep(max(0.0, asked_at + 4.5 - time.monotonic()))
        report = await report_of(h, v.name)
    # At most the poll that was already on its way when the revocation committed.
    assert len(banks.polls) <= at_revocation + 1
    bank = next(s for s in report["sources"] if s["department"] == "banks")
    assert bank["status"] == "not_queried" and bank["records"] == 0
    assert "polling stopped" in bank["detail"]
    assert '"BK-' not in json.dumps(report)  # no bank record reached the report


class HeldTax:
    """A tax department that answers only when told to."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.asked = 0

    def describe(self) -> ConnectorDescription:
        return dataclasses.replace(self.inner.describe(), shared_batches=False)

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.asked += 1
        await self.release.wait()
        return await self.inner.query(query)  # type: ignore[no-any-return]

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        raise AssertionError("no tickets")


async def test_an_answer_that_arrives_after_the_revocation_is_discarded(db_url: str) -> None:
    sandbox = example_sandbox()
    tax = HeldTax(sandbox_connectors(SandboxDataset.from_json(sandbox))["tax"])
    async with running_service(db_url, sandbox, deadline=5.0, connectors={"tax": tax}) as h:
        request = example_request()
        auth = await h.register(h.envelope(parse_request(request)))
        created = await h.create(request, [auth.name])
        await until(lambda: tax.asked > 0)
        # Revoked by another hedui on the same database: this one only sees it in the database.
        other = HeduiService(Database(db_url), {}, h.service.settings)
        try:
            await other.authorizations.revoke(auth.name, "withdrawn at the township office")
        finally:
            await other.db.close()
        tax.release.set()
        v = await h.settle(created.name)
        report = await report_of(h, v.name)
        events = await h.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(page_size=100, verification=v.name, department="tax"),
            metadata=h.metadata,
        )
    source = next(s for s in report["sources"] if s["department"] == "tax")
    assert source["status"] == "not_queried" and source["records"] == 0
    assert "answer was discarded" in source["detail"]
    assert '"TX-' not in json.dumps(report)
    kinds = [e.kind for e in events.events]
    assert "DEPARTMENT_ANSWER_RECEIVED" not in kinds
    assert kinds.count("CONSENT_DECISION") == 2  # the plan, then the withdrawal


class NeverReady:
    """A bank that takes the query and, every time it is asked, says: come back in an hour."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.polls = 0

    def describe(self) -> ConnectorDescription:
        return dataclasses.replace(self.inner.describe(), asynchronous=True, shared_batches=False)

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        return Ticket("banks", "t-1", dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3))

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        self.polls += 1
        return Ticket("banks", "t-2", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))


async def test_a_bank_that_is_not_ready_is_polled_no_faster_than_the_poll_interval(tmp_path: Any) -> None:
    sandbox = example_sandbox()
    banks = NeverReady(sandbox_connectors(SandboxDataset.from_json(sandbox))["banks"])
    db_url = f"sqlite:///{tmp_path}/h.db"
    # A generous deadline: the ticket must be handed out within it, however busy the machine.
    async with running_service(db_url, sandbox, deadline=2.0, poll=0.5, connectors={"banks": banks}) as h:
        v = await h.run(example_request())
        assert v.state == verification_pb2.Verification.AWAITING_ANSWERS
        before = banks.polls
        await asyncio.sleep(2.0)
        during = banks.polls - before
        async with h.service.db.sessions() as session:
            from verifier.storage.models import DepartmentResultRow

            row = await session.get(DepartmentResultRow, (v.name.removeprefix("verifications/"), "banks"))
            assert row is not None
            assert row.ticket_id == "t-2"  # the bank's newest ticket is what is polled from now on
    assert during <= 5, f"{during} polls in 2 s with a 0.5 s poll interval"


class ChattyTax:
    """A tax department whose error message names the person (departments' text is input too)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def describe(self) -> ConnectorDescription:
        return self.inner.describe()  # type: ignore[no-any-return]

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        raise DepartmentUnavailable("tax", f"no taxpayer file for {query.id_numbers[0]}", transient=False)

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        raise AssertionError("no tickets")


async def test_identity_numbers_in_a_departments_error_are_masked_everywhere(db_url: str) -> None:
    sandbox = example_sandbox()
    tax = ChattyTax(sandbox_connectors(SandboxDataset.from_json(sandbox))["tax"])
    applicant = example_request()["members"][0]["id_number"]
    async with running_service(db_url, sandbox, connectors={"tax": tax}) as h:
        v = await h.run(example_request())
        report = await report_of(h, v.name)
        events = await h.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(page_size=500, verification=v.name), metadata=h.metadata
        )
    source = next(s for s in report["sources"] if s["department"] == "tax")
    assert source["status"] == "unavailable"
    assert f"{applicant[:6]}********{applicant[-4:]}" in source["detail"]
    assert all(applicant.encode() not in e.entry for e in events.events)


class OneCallASecond:
    """A tax department that takes one call a second and remembers under which authorization each came."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.references: list[str] = []

    def describe(self) -> ConnectorDescription:
        return dataclasses.replace(self.inner.describe(), max_queries_per_second=1, shared_batches=False)

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.references.append(query.authorization_reference)
        return await self.inner.query(query)  # type: ignore[no-any-return]

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        raise AssertionError("no tickets")


@pytest.mark.parametrize("shared", [False, True])
async def test_a_query_waiting_for_the_departments_rate_limit_is_not_sent_after_a_revocation(
    tmp_path: Any, shared: bool
) -> None:
    sandbox = example_sandbox()
    tax = OneCallASecond(sandbox_connectors(SandboxDataset.from_json(sandbox))["tax"])
    if shared:
        tax.describe = lambda: dataclasses.replace(  # type: ignore[method-assign]
            OneCallASecond.describe(tax), shared_batches=True, max_batch_size=3
        )
    async with running_service(f"sqlite:///{tmp_path}/h.db", sandbox, connectors={"tax": tax}) as h:
        request = example_request()
        first = await h.register(h.envelope(parse_request(request)))
        second = await h.register(
            h.envelope(parse_request(request), valid_until=dt.date.today() + dt.timedelta(days=80))
        )
        one = await h.create(request, [first.name])
        await until(lambda: len(tax.references) == 1)
        two = await h.create(request, [second.name])  # its tax query now waits for the next second
        await asyncio.sleep(0.2)
        await revoke(h, second.name)
        await h.settle(one.name)
        v = await h.settle(two.name)
        report = await report_of(h, v.name)
    assert all(second.name.removeprefix("authorizations/") not in r for r in tax.references), tax.references
    source = next(s for s in report["sources"] if s["department"] == "tax")
    assert source["status"] == "not_queried" and source["records"] == 0


class OneAtATime:
    """A tax department that takes one call at a time and holds the first until told to let it go; it remembers
    under which authorization each call came."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.references: list[str] = []
        self.release = asyncio.Event()

    def describe(self) -> ConnectorDescription:
        return dataclasses.replace(self.inner.describe(), max_concurrent_queries=1, shared_batches=False)

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.references.append(query.authorization_reference)
        await self.release.wait()
        return await self.inner.query(query)  # type: ignore[no-any-return]

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        raise AssertionError("no tickets")


async def test_a_query_waiting_for_the_department_is_called_back_by_a_revocation_made_elsewhere(
    db_url: str,
) -> None:
    """The revocation is made through another hedui on the same database (a replica, an admin command), which
    this one learns only from the consent epoch: its query still waiting for the department (here, for the
    department's one call at a time) is called back and never sent — before the department is free again."""
    sandbox = example_sandbox()
    tax = OneAtATime(sandbox_connectors(SandboxDataset.from_json(sandbox))["tax"])
    async with running_service(db_url, sandbox, deadline=15.0, connectors={"tax": tax}) as h:
        request = example_request()
        first = await h.register(h.envelope(parse_request(request)))
        second = await h.register(
            h.envelope(parse_request(request), valid_until=dt.date.today() + dt.timedelta(days=80))
        )
        one = await h.create(request, [first.name])
        await until(lambda: len(tax.references) == 1)  # the department's one call is taken, and held
        two = await h.create(request, [second.name])  # its tax query waits for the department
        other = HeduiService(Database(db_url), {}, h.service.settings)
        try:
            await other.authorizations.revoke(second.name, "withdrawn at the township office")
        finally:
            await other.db.close()
        v = await h.settle(two.name, timeout=10.0)  # the department is still held: only a call-back ends it
        report = await report_of(h, v.name)
        tax.release.set()
        await h.settle(one.name)
    assert all(second.name.removeprefix("authorizations/") not in r for r in tax.references), tax.references
    source = next(s for s in report["sources"] if s["department"] == "tax")
    assert source["status"] == "not_queried" and source["records"] == 0
    assert "called back" in source["detail"]
