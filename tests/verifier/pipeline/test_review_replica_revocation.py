"""Review of issue 11: a revocation made on another replica does not call back a query still waiting to leave.

A query may wait before it leaves (a department's rate limit, its concurrency limit: the resilience layer
holds it inside ``connector.query``). ``Sender`` lets it wait on the plan's decision (``confirmed``) and relies
on ``Sender.withdraw`` — called by ``Authorizations.revoke`` *in the same process* — to call it back. With N
replicas on one database, a revocation made through another replica bumps the consent epoch, but nothing in
the sending process looks at it before the query leaves: the members' identity numbers go to the department
under an authorization revoked seconds before (the answer is then discarded by ``before_store``, but the
look-up happened, and the spec says queries not yet sent under a revoked authorization are not sent).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from harness import example_request, example_sandbox, signed_envelope

from connectors import DepartmentAnswer, DepartmentQuery, SandboxDataset, Ticket, sandbox_connectors
from consent import SigningKey
from verifier.config import Settings
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database


class WaitsToLeave:
    """A department whose queries wait (as for its rate limit) until ``leave`` is set; ``sent`` are those that left."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.waiting = asyncio.Event()
        self.leave = asyncio.Event()
        self.sent: list[tuple[str, ...]] = []

    def describe(self) -> Any:
        return self.inner.describe()

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.waiting.set()
        await self.leave.wait()  # cancelled here: the query never left
        self.sent.append(query.id_numbers)
        return await self.inner.query(query)

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        return await self.inner.poll(ticket)


@pytest.mark.parametrize("revoked_on", ["the same replica", "another replica"])
async def test_a_query_waiting_to_leave_is_not_sent_after_its_authorization_is_revoked(
    db_url: str, revoked_on: str
) -> None:
    settings = Settings(database_url=db_url, audit_subject_key=b"k" * 32)
    tax = WaitsToLeave(sandbox_connectors(SandboxDataset.from_json(example_sandbox()))["tax"])
    sending = HeduiService(Database(db_url), {"tax": tax}, settings)
    await sending.start()
    other = HeduiService(Database(db_url), {}, settings)  # another replica on the same database
    try:
        request = parse_request(example_request())
        key = SigningKey.generate_ed25519()
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        await sending.trust_store.add(request.commissioned_by, key.public_pem(), not_before=since)
        envelope = signed_envelope(request, key, valid_until=dt.date.today() + dt.timedelta(days=30))
        authorization = (await sending.authorizations.register(envelope)).name
        view = await sending.verifications.create(request, [authorization])
        async with asyncio.timeout(30):
            await tax.waiting.wait()
        revoking = sending if revoked_on == "the same replica" else other
        await revoking.authorizations.revoke(authorization, "the household withdrew its consent")
        tax.leave.set()
        done = await sending.verifications.wait_for_report(view.name, timeout=30)
        assert done.latest_report_version == 1
        assert tax.sent == [], f"sent after the revocation ({revoked_on}): {len(tax.sent[0])} identity numbers"
    finally:
        await sending.close()
        await other.db.close()
