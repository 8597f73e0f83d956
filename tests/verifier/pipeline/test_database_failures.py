"""hedui's own database failing while a query is decided is not the department's fault: the step is given back
for a retry, never stored as the department unavailable.

Found in review: hedui's own database being busy is recorded as the department being unavailable.

``Pipeline._gather_answers.ask`` turns any exception of ``Sender.ask`` into "connector error" (meant for a
connector's own bug). But ``Sender.ask`` also decides consent again before a taken-over query leaves (and
before each poll of a ticket) by reading the consent epoch — a database read. A pool timeout there (the load
issue 11 is about) makes the department's result ``unavailable`` ("connector error: TimeoutError") and the
step ``done``: the report says the department did not answer, though it was never asked (or, for a ticket,
had answered and its answer is thrown away), and nothing tries again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from harness import example_request, example_sandbox, registered_in, seed_verification
from sqlalchemy.exc import TimeoutError as PoolTimeout

from connectors import SandboxDataset, sandbox_connectors
from verifier.pipeline import Job, Pipeline
from verifier.request import parse_request
from verifier.storage import verifications
from verifier.storage.db import Database
from verifier.vocabulary import VerificationState

REQUEST = parse_request(example_request())
MEMBERS = tuple(m.id_number for m in REQUEST.members)


async def test_a_pool_timeout_while_deciding_consent_is_not_a_department_unavailable(db: Database) -> None:
    connectors: dict[str, Any] = {"tax": sandbox_connectors(SandboxDataset.from_json(example_sandbox()))["tax"]}
    service, _, (name,) = await registered_in(db, REQUEST)
    # A step whose work failed is due again a lease time on (worker.give_back): a short lease keeps this test short.
    settings = dataclasses.replace(service.settings, work_lease_seconds=3.0, work_claim_interval_seconds=0.2)
    pipeline = Pipeline(db, connectors, service.audit, settings, service.policies.for_request)
    job = Job("v1", "worker", "peer", REQUEST, (name,))
    # v1's tax query was on the wire when its process died: the step is due for anyone.
    await seed_verification(db, job, {"tax": {"status": "querying", "queried_json": json.dumps(MEMBERS)}})
    gate = pipeline.gate
    real = gate.decided_now
    busy = 0

    async def busy_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal busy
        if busy == 0:
            busy += 1
            raise PoolTimeout("QueuePool limit of size 10 overflow 20 reached")
        return await real(*args, **kwargs)

    gate.decided_now = busy_once  # type: ignore[method-assign]
    await pipeline.resume()
    try:
        async with asyncio.timeout(60):
            while True:
                async with db.sessions() as session:
                    row = await verifications.get(session, "v1")
                if row is not None and row.state != VerificationState.RUNNING:
                    break
                await pipeline.signals.wait_past("v1", pipeline.signals.version("v1"), timeout=0.5)
    finally:
        await pipeline.close()
    async with db.sessions() as session:
        tax = await verifications.result(session, "v1", "tax")
    assert busy == 1
    assert tax is not None and (tax.status, tax.detail) == ("ok", ""), (tax.status, tax.detail)
