"""A step whose carrying task failed while its process lives on is still finished: the heartbeat renews
only the steps some task carries, and a failed carry gives its steps back (pipeline/worker.py).

Found in review: a step whose carrying task failed while its process lived on stayed held for good.

The heartbeat (``Leases.renew_forever``) renews every live step leased to this worker's *name*, whether or not
any task of the process is still working on it. So when the task that holds a step dies on an exception — a
storing transaction that fails once (a PostgreSQL deadlock victim, a lost connection, a pool timeout), or a
connector's ``poll`` with a bug of its own — the step stays leased to a live process for good: nobody claims it
(the lease never lapses), and the verification stays RUNNING (or AWAITING_ANSWERS) until the process restarts.
``Leases._carry``'s log line even says "taken up again when the leases lapse": they never lapse.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from harness import example_sandbox, sandbox_service
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from connectors import SandboxDataset, sandbox_connectors
from verifier.config import Settings
from verifier.storage.models import WorkStepRow
from verifier.vocabulary import StepPhase, VerificationState

LEASE = 1.0  # seconds: a process's claim on a step lasts this long without its heartbeat


def fast_settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        audit_subject_key=b"k" * 32,
        work_lease_seconds=LEASE,
        work_claim_interval_seconds=0.1,
    )


async def live_steps(service: Any) -> list[tuple[str, str, str | None]]:
    async with service.db.sessions() as session:
        rows = await session.execute(
            select(WorkStepRow.key, WorkStepRow.phase, WorkStepRow.leased_by).where(
                WorkStepRow.phase.in_([StepPhase.SEND, StepPhase.POLL])
            )
        )
        return [(r.key, r.phase, r.leased_by) for r in rows]


async def test_a_storing_transaction_that_fails_once_does_not_leave_the_verification_running_for_good(
    db_url: str,
) -> None:
    """One failed storing transaction (as a deadlock victim or a dropped connection gets): the verification
    must still complete — within a few lease times, by this same live process or any other."""
    async with sandbox_service(fast_settings(db_url)) as (service, request, authorization):
        store = service.pipeline._store
        original = store.keep_unaudited
        failures = 0

        async def fails_once(session: Any, job: Any, items: Sequence[Any]) -> Any:
            nonlocal failures
            if failures == 0:
                failures += 1
                raise OperationalError("UPDATE work_steps ...", {}, Exception("deadlock detected"))
            return await original(session, job, items)

        store.keep_unaudited = fails_once  # type: ignore[method-assign]
        view = await service.verifications.create(request, [authorization])
        try:
            done = await service.verifications.wait_for_report(view.name, timeout=10 * LEASE + 10)
        except TimeoutError:
            done = await service.verifications.get(view.name)
        steps = await live_steps(service)
        assert failures == 1
        assert (done.state, done.latest_report_version) == (VerificationState.COMPLETED, 1), (
            f"still {done.state} after {10 * LEASE + 10:g} s; steps held by the live worker for good: {steps}"
        )
        assert steps == []


class PollBug:
    """A ticket department whose ``poll`` has a bug of its own once it is ``armed``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed = False
        self.bugs = 0

    def describe(self) -> Any:
        return self.inner.describe()

    async def query(self, query: Any) -> Any:
        return await self.inner.query(query)

    async def poll(self, ticket: Any) -> Any:
        if self.armed and self.bugs == 0:
            self.bugs += 1
            raise RuntimeError("connector bug")
        return await self.inner.poll(ticket)


async def test_a_connector_bug_while_polling_does_not_stall_the_ticket_for_good(db_url: str) -> None:
    """The send path turns a connector's own bug into an unavailable outcome (test_run.py); a poll step lets it
    escape, and the poll step is then held (and renewed) by the live process for good: the bank's answer,
    ready a second later, is never stored and the verification stays AWAITING_ANSWERS."""
    sandbox = example_sandbox()
    sandbox["banks"]["answer_after_seconds"] = 1.5
    connectors = dict(sandbox_connectors(SandboxDataset.from_json(sandbox)))
    banks = PollBug(connectors["banks"])
    connectors["banks"] = banks
    settings = dataclasses.replace(
        fast_settings(db_url), department_deadlines={"banks": 0.3}, poll_interval_seconds=0.2
    )
    async with sandbox_service(settings, connectors) as (service, request, authorization):
        view = await service.verifications.create(request, [authorization])
        async with asyncio.timeout(30):
            await service.verifications.wait_for_report(view.name, timeout=30)
        banks.armed = True  # the send's deadline passed: the answer is pending, a poll step follows it
        deadline = 10 * LEASE + 10
        try:
            async with asyncio.timeout(deadline):
                while True:
                    current = await service.verifications.get(view.name)
                    status = next(d.status for d in current.departments if d.department == "banks")
                    if status != "pending":
                        break
                    await asyncio.sleep(0.2)
        except TimeoutError:
            pass
        current = await service.verifications.get(view.name)
        status = next(d.status for d in current.departments if d.department == "banks")
        steps = await live_steps(service)
        assert banks.bugs == 1
        assert status == "ok", f"banks still {status} after {deadline:g} s; steps held for good: {steps}"
        assert current.state == VerificationState.COMPLETED
