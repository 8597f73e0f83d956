"""A consent decision asked for after a revocation in this process never joins a read begun before it.

Found in review: a consent decision asked for after a revocation joins a read begun before it.

``ConsentGate.authorizations`` shares one read among the decisions of a verification made "at the same moment"
(``_reading``). ``ConsentGate.changed`` (called by ``Authorizations.revoke`` through ``Pipeline.withdraw``)
clears the cache but not the reads in flight: a query called back by the revocation decides again, joins the
read that began before the revocation committed (it saw the old epoch, so it kept the cached authorizations),
and is sent again on the revoked authorization. The read even puts the stale consent back in the cache.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness import sandbox_service

from verifier.config import Settings
from verifier.pipeline import Job
from verifier.pipeline import consent as gate_module


async def test_a_decision_after_a_revocation_does_not_use_a_read_begun_before_it(db_url: str, monkeypatch: Any) -> None:
    settings = Settings(database_url=db_url, audit_subject_key=b"k" * 32)
    async with sandbox_service(settings) as (service, request, authorization):
        gate = service.pipeline.gate
        job = Job("v1", "worker", "peer", request, (authorization,))
        real = gate_module.stored_authorizations.consent_epoch
        read = asyncio.Event()
        hold = asyncio.Event()

        async def slow_epoch(session: Any, *, share_lock: bool = False) -> int:
            value = await real(session, share_lock=share_lock)
            if not share_lock and not hold.is_set():
                read.set()
                await hold.wait()  # the answer of the epoch's read is on its way back (a loaded database)
            return value

        monkeypatch.setattr(gate_module.stored_authorizations, "consent_epoch", slow_epoch)
        before = asyncio.ensure_future(gate.authorizations(job))  # e.g. a poll's decision, just before
        await read.wait()
        await service.authorizations.revoke(authorization, "the household withdrew its consent")
        after = asyncio.ensure_future(gate.authorizations(job))  # the called-back query decides again
        await asyncio.sleep(0.05)
        hold.set()
        await before
        (judged,) = await after
        assert judged.revoked_at is not None, "decided after the revocation on the authorizations read before it"
