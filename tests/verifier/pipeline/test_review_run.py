"""Review of issue 11: ``Pipeline.run(job)`` ("for tests and the CLI") claims every due step of *every*
verification (``limit=10_000``) and carries on only ``job``'s: the others stay leased to this process, which
renews them for as long as it lives, and nobody carries them on. (No caller today: delete it or claim only
``job``'s steps.)"""

from __future__ import annotations

import json
from typing import Any

from harness import example_request, example_sandbox, registered_in, seed_verification
from sqlalchemy import select

from connectors import SandboxDataset, sandbox_connectors
from verifier.pipeline import Job, Pipeline
from verifier.request import parse_request
from verifier.storage.db import Database
from verifier.storage.models import WorkStepRow

REQUEST = parse_request(example_request())
MEMBERS = tuple(m.id_number for m in REQUEST.members)


async def test_running_one_verification_leaves_the_steps_of_others_unclaimed(db: Database) -> None:
    connectors: dict[str, Any] = {"tax": sandbox_connectors(SandboxDataset.from_json(example_sandbox()))["tax"]}
    service, _, (name,) = await registered_in(db, REQUEST)
    pipeline = Pipeline(db, connectors, service.audit, service.settings, service.policies.for_request)
    querying = {"tax": {"status": "querying", "queried_json": json.dumps(MEMBERS)}}
    first, other = (Job(v, "worker", "peer", REQUEST, (name,)) for v in ("v1", "v2"))
    await seed_verification(db, first, querying)
    await seed_verification(db, other, querying)  # another verification's orphaned query
    await pipeline.run(first)
    async with db.sessions() as session:
        held = await session.scalar(select(WorkStepRow.leased_by).where(WorkStepRow.key == "v2.tax.1"))
    await pipeline.close()
    assert held is None, "v2's step is leased to a process that will not carry it on"
