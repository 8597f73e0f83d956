"""verifier.pipeline.tickets: a pending answer's poll step claimed and polled until the answer comes, the
pending deadline passes, or consent ends; each way a department can fail a poll."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pytest
from harness import example_request, example_sandbox, seed_verification

from audit import AuditLog
from connectors import DepartmentAnswer, DepartmentQuery, SandboxDataset, Ticket, sandbox_connectors
from connectors.base import DepartmentRefused, DepartmentUnavailable
from connectors.departments import DepartmentCatalogue
from verifier.config import Settings
from verifier.pipeline.answers import POLLING_STOPPED, Settled, withdrawn_from
from verifier.pipeline.plan import Job
from verifier.pipeline.signals import VerificationSignals
from verifier.pipeline.store import AnswerStore
from verifier.pipeline.tickets import TicketPoller
from verifier.request import parse_request
from verifier.storage import verifications, work
from verifier.storage.db import Database
from verifier.storage.models import WorkStepRow
from verifier.vocabulary import StepPhase

REQUEST = parse_request(example_request())
MEMBERS = tuple(m.id_number for m in REQUEST.members)
JOB = Job("v1", "worker", "peer", REQUEST, ("authorizations/a1",))


class Gate:
    """Everyone consents for the first ``consenting`` decisions, nobody after."""

    def __init__(self, consenting: int = 1_000) -> None:
        self.consenting = consenting

    async def allowed_now(
        self, job: Job, department: str, ids: Sequence[str], session: Any = None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        self.consenting -= 1
        return (tuple(ids), ()) if self.consenting >= 0 else ((), tuple(ids))

    async def before_store(
        self, session: Any, job: Job, items: Sequence[Settled], *, epoch: int | None = None
    ) -> list[Settled]:
        return [withdrawn_from(item, item.asked, (), DepartmentCatalogue()[item.department]) for item in items]


class Banks:
    """A scripted bank: each poll returns (or raises) the next reply, the last one for ever."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.polled: list[str] = []

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        raise AssertionError("a ticket is only polled")

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        self.polled.append(ticket.ticket_id)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, asyncio.Event):
            await reply.wait()
        if isinstance(reply, Exception):
            raise reply
        return reply  # type: ignore[no-any-return]


class Publisher:
    def __init__(self) -> None:
        self.published = 0

    async def publish_in(self, session: Any, job: Job, sources: Any = None) -> None:
        self.published += 1


def bank_answer() -> DepartmentAnswer:
    connector = sandbox_connectors(SandboxDataset.from_json(example_sandbox()))["banks"]
    reply = asyncio.run(connector.query(DepartmentQuery("q1", MEMBERS, "a1", "ASSESSMENT", "v1.banks.1")))
    assert isinstance(reply, DepartmentAnswer)
    return reply


ANSWER = bank_answer()
WORKER = "test-worker"


async def poll_until_done(db: Database, poller: TicketPoller) -> None:
    """Claim the bank's step whenever it is due and poll it, until it is done (what the workers do)."""
    async with db.write() as session:
        await work.adopt(session)  # the seeded pending answer becomes a poll step
    while True:
        now = dt.datetime.now(dt.UTC)
        async with db.write() as session:
            claimed = await work.claim(session, WORKER, now=now, until=now + dt.timedelta(seconds=30), limit=10)
        for step in claimed:
            await poller.poll_step(JOB, step)
        async with db.sessions() as session:
            step_row = await session.get(WorkStepRow, "v1.banks.1")
        assert step_row is not None
        if step_row.phase == StepPhase.DONE:
            return
        await asyncio.sleep(0.01)


async def follow(
    db: Database, banks: Banks, gate: Gate | None = None, *, age: float = 0.0, **settings: Any
) -> tuple[Any, Publisher, VerificationSignals]:
    """Seed a pending bank answer (``age`` seconds old), follow it to the end, return its stored row."""
    now = dt.datetime.now(dt.UTC)
    pending = {
        "status": "pending",
        "ticket_id": "t-1",
        "ticket_ready_after": now,
        "queried_json": json.dumps(MEMBERS),
        "updated_at": now - dt.timedelta(seconds=age),
    }
    await seed_verification(db, JOB, {"banks": pending})
    gate = gate or Gate()
    publisher, signals = Publisher(), VerificationSignals()
    chosen = Settings(**({"poll_interval_seconds": 0.01, "department_deadline_seconds": 30.0} | settings))
    store = AnswerStore(AuditLog(b"k" * 32), gate, WORKER, chosen.poll_interval_seconds)  # type: ignore[arg-type]
    poller = TicketPoller(db, {"banks": banks}, chosen, gate, (store, publisher, signals), WORKER)  # type: ignore[arg-type, dict-item]
    await asyncio.wait_for(poll_until_done(db, poller), 60)
    async with db.sessions() as session:
        row = await verifications.result(session, "v1", "banks")
    return row, publisher, signals


async def test_the_answer_is_stored_and_published_when_it_comes(db: Database) -> None:
    banks = Banks(ANSWER)
    row, publisher, signals = await follow(db, banks)
    assert (row.status, row.record_count, row.ticket_id) == ("ok", len(ANSWER.records), None)
    assert banks.polled == ["t-1"] and publisher.published == 1 and signals.version("v1") == 1


async def test_a_new_ticket_from_the_bank_is_what_is_polled_next(db: Database) -> None:
    banks = Banks(Ticket("banks", "t-2", dt.datetime.now(dt.UTC)), ANSWER)
    row, _, _ = await follow(db, banks)
    assert banks.polled == ["t-1", "t-2"] and row.status == "ok"


async def test_consent_ended_before_the_poll_means_no_poll(db: Database) -> None:
    banks = Banks(ANSWER)
    row, publisher, _ = await follow(db, banks, Gate(consenting=0))
    assert (row.status, row.detail, row.record_count) == ("not_queried", POLLING_STOPPED, 0)
    assert json.loads(row.not_queried_json) == list(MEMBERS)
    assert banks.polled == [] and publisher.published == 1


async def test_consent_ended_while_waiting_to_poll_again_means_no_poll(db: Database) -> None:
    banks = Banks(Ticket("banks", "t-2", dt.datetime.now(dt.UTC)), ANSWER)  # not ready at the first poll
    row, _, _ = await follow(db, banks, Gate(consenting=1))  # the check before the second poll finds it ended
    assert (row.status, row.detail) == ("not_queried", POLLING_STOPPED) and banks.polled == ["t-1"]


async def test_an_answer_past_the_pending_deadline_is_given_up(db: Database) -> None:
    banks = Banks(ANSWER)
    row, _, _ = await follow(db, banks, age=120, pending_deadline_seconds=60)
    assert (row.status, row.detail) == ("unavailable", "no answer before the pending deadline")
    assert banks.polled == []


async def test_a_transient_failure_or_a_poll_past_its_deadline_is_polled_again(db: Database) -> None:
    banks = Banks(DepartmentUnavailable("banks", "busy"), asyncio.Event(), ANSWER)  # the event never fires
    row, _, _ = await follow(db, banks, department_deadline_seconds=0.2)
    assert row.status == "ok" and banks.polled == ["t-1", "t-1", "t-1"]


@pytest.mark.parametrize(
    ("failure", "detail"),
    [
        (DepartmentUnavailable("banks", "ticket unknown", transient=False), "ticket unknown"),
        (DepartmentRefused("banks", "not your ticket"), "refused: not your ticket"),
    ],
    ids=["unavailable", "refused"],
)
async def test_a_lasting_failure_makes_the_bank_unavailable(db: Database, failure: Exception, detail: str) -> None:
    row, _, _ = await follow(db, Banks(failure))
    assert (row.status, row.detail) == ("unavailable", detail)


async def test_an_answer_no_longer_pending_is_left_alone(db: Database) -> None:
    await seed_verification(db, JOB, {"banks": {"status": "ok"}})
    async with db.write() as session:  # a poll step left over, its answer stored already
        await work.add(session, [STEP])
    banks, publisher = Banks(ANSWER), Publisher()
    parts = (AnswerStore(AuditLog(b"k" * 32), Gate(), WORKER, 1.0), publisher, VerificationSignals())  # type: ignore[arg-type]
    poller = TicketPoller(db, {"banks": banks}, Settings(), Gate(), parts, WORKER)  # type: ignore[arg-type, dict-item]
    await asyncio.wait_for(poll_until_done(db, poller), 60)
    assert banks.polled == [] and publisher.published == 0


STEP = {
    "key": "v1.banks.1",
    "verification_id": "v1",
    "department": "banks",
    "phase": "poll",
    "query_id": "q1",
    "due_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    "attempts": 0,
}


async def test_a_pending_answer_of_a_department_no_longer_configured_is_given_up(db: Database) -> None:
    # The bank's ticket is pending, but the service now runs without a bank connector.
    now = dt.datetime.now(dt.UTC)
    pending = {"status": "pending", "ticket_id": "t-1", "ticket_ready_after": now, "queried_json": json.dumps(MEMBERS)}
    await seed_verification(db, JOB, {"banks": pending})
    gate, publisher = Gate(), Publisher()
    parts = (AnswerStore(AuditLog(b"k" * 32), gate, WORKER, 0.01), publisher, VerificationSignals())  # type: ignore[arg-type]
    poller = TicketPoller(db, {}, Settings(poll_interval_seconds=0.01), gate, parts, WORKER)  # type: ignore[arg-type]
    await asyncio.wait_for(poll_until_done(db, poller), 60)
    async with db.sessions() as session:
        row = await verifications.result(session, "v1", "banks")
    assert row is not None and row.status == "unavailable" and "no longer configured" in row.detail
    assert publisher.published == 1
