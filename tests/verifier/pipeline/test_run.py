"""verifier.pipeline.run: the conductor — a plan recorded then sent, answers stored in batches with the
report, a connector's own bug contained, and work a previous run left unfinished resumed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from harness import department_statuses, example_request, example_sandbox, registered_in, seed_verification

from connectors import DepartmentAnswer, DepartmentQuery, SandboxDataset, Ticket, sandbox_connectors
from verifier.pipeline import Job, Pipeline
from verifier.request import parse_request
from verifier.storage import verifications
from verifier.storage.db import Database
from verifier.vocabulary import VerificationState

REQUEST = parse_request(example_request())
MEMBERS = tuple(m.id_number for m in REQUEST.members)


class Broken:
    """A connector with a bug of its own."""

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        return 1 / 0  # type: ignore[return-value]

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        raise AssertionError("no tickets")


async def pipeline_for(db: Database, connectors: dict[str, Any]) -> tuple[Pipeline, Job]:
    service, _, (name,) = await registered_in(db, REQUEST)
    pipeline = Pipeline(db, connectors, service.audit, service.settings, service.policies.for_request)
    return pipeline, Job("v1", "worker", "peer", REQUEST, (name,))


async def settled(db: Database, pipeline: Pipeline, verification_id: str = "v1") -> Any:
    """Wait (state-driven) until the verification has a report and nothing is still being asked."""
    async with asyncio.timeout(60):
        while True:
            seen = pipeline.signals.version(verification_id)
            async with db.sessions() as session:
                row = await verifications.get(session, verification_id)
            if row is not None and row.latest_report_version and row.state != VerificationState.RUNNING:
                return row
            await pipeline.signals.wait_past(verification_id, seen, timeout=1.0)


async def test_a_recorded_plan_is_sent_and_its_last_answers_come_with_the_report(db: Database) -> None:
    connectors: dict[str, Any] = {"tax": sandbox_connectors(SandboxDataset.from_json(example_sandbox()))["tax"]}
    connectors["vehicles"] = Broken()
    pipeline, job = await pipeline_for(db, connectors)
    await seed_verification(db, job, {"tax": {}, "vehicles": {}})
    async with db.sessions() as session:
        authorizations = await pipeline.authorizations.by_names(job.authorization_names)
    plan = pipeline.plan(job, ["tax", "vehicles"], authorizations, complete=True)
    async with db.write() as session:
        await pipeline.record_plan(session, job, plan)
    async with db.sessions() as session:
        assert await department_statuses(session, "v1") == {"tax": "querying", "vehicles": "querying"}
    pipeline.send(job, plan)
    row = await settled(db, pipeline)
    await pipeline.close()
    async with db.sessions() as session:
        vehicles = await verifications.result(session, "v1", "vehicles")
        tax = await verifications.result(session, "v1", "tax")
    assert row.state == VerificationState.COMPLETED and row.latest_report_version == 1
    assert vehicles is not None and (vehicles.status, vehicles.detail) == (
        "unavailable",
        "connector error: ZeroDivisionError",
    )
    assert tax is not None and tax.status == "ok" and json.loads(tax.queried_json) == list(MEMBERS)


async def test_a_plan_with_nothing_to_send_publishes_at_once(db: Database) -> None:
    pipeline, job = await pipeline_for(db, {})
    await seed_verification(db, job, {"tax": {}})
    plan = pipeline.plan(job, ["tax"], [])  # no authorization: nobody may be asked
    async with db.write() as session:
        await pipeline.record_plan(session, job, plan)
    pipeline.send(job, plan)  # nothing to send
    async with db.sessions() as session:
        row = await verifications.get(session, "v1")
        assert await department_statuses(session, "v1") == {"tax": "not_queried"}
    assert row is not None and (row.state, row.latest_report_version) == (VerificationState.COMPLETED, 1)


async def test_work_a_previous_run_left_is_resumed(db: Database) -> None:
    sandbox = example_sandbox()
    sandbox["banks"]["answer_after_seconds"] = 0.2
    connectors = dict(sandbox_connectors(SandboxDataset.from_json(sandbox)))
    pipeline, job = await pipeline_for(db, connectors)
    # v1 was running with tax being asked when the process died; v2 waits for the bank's ticket (ready now).
    querying = {"status": "querying", "queried_json": json.dumps(MEMBERS)}
    ok = {"status": "ok"}
    await seed_verification(db, job, {"tax": querying, "police": ok}, answered_under=pipeline.publisher.entry_mac)
    banks_query = DepartmentQuery("q1", MEMBERS, "a1", "ASSESSMENT", "v1.banks.1")
    ticket = await connectors["banks"].query(banks_query)
    assert isinstance(ticket, Ticket)
    pending = {"status": "pending", "ticket_id": ticket.ticket_id, "queried_json": json.dumps(MEMBERS)}
    second = Job("v2", "worker", "peer", REQUEST, job.authorization_names)
    await seed_verification(db, second, {"banks": pending})
    async with db.write() as session:
        await verifications.next_report_version(
            session, "v2", VerificationState.AWAITING_ANSWERS, dt.datetime.now(dt.UTC)
        )
    await pipeline.resume()
    first = await settled(db, pipeline, "v1")
    async with db.sessions() as session:
        assert await department_statuses(session, "v1") == {"tax": "ok", "police": "ok"}
    assert first.state == VerificationState.COMPLETED
    async with asyncio.timeout(60):
        while True:
            async with db.sessions() as session:
                banks = await verifications.result(session, "v2", "banks")
            if banks is not None and banks.status != "pending":
                break
            await pipeline.signals.wait_past("v2", pipeline.signals.version("v2"), timeout=0.5)
    await pipeline.close()
    assert banks.status == "ok" and banks.record_count > 0
