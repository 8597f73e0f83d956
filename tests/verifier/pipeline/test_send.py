"""verifier.pipeline.send: one query within its deadline, consent decided before it leaves and before each
poll, a revocation calling back a query still waiting, and each way a department can fail."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from harness import example_request, example_sandbox

from connectors import DepartmentAnswer, DepartmentQuery, SandboxDataset, Ticket, sandbox_connectors
from connectors.base import DepartmentRefused, DepartmentUnavailable
from verifier.config import Settings
from verifier.pipeline.answers import CALLED_BACK, NOT_SENT, POLLING_STOPPED
from verifier.pipeline.plan import Job
from verifier.pipeline.send import Sender
from verifier.request import parse_request
from verifier.vocabulary import DepartmentStatus

REQUEST = parse_request(example_request())
MEMBERS = tuple(m.id_number for m in REQUEST.members)
JOB = Job("v1", "worker", "peer", REQUEST, ("authorizations/a1",))
MASKED = f"no file for {MEMBERS[0][:6]}********{MEMBERS[0][-4:]}"
QUERY = DepartmentQuery("q1", MEMBERS, "a1", "ASSESSMENT", "v1.tax.1")
SANDBOX_TAX = sandbox_connectors(SandboxDataset.from_json(example_sandbox()))["tax"]


class Gate:
    """Consent as the test says: everyone, until ``end()`` (then nobody, one consent epoch on); counts the
    decisions."""

    def __init__(self) -> None:
        self.ended = False
        self.decisions = 0
        self.epoch = 0

    def end(self) -> None:
        self.ended = True
        self.epoch += 1

    async def allowed_now(
        self, job: Job, department: str, ids: Sequence[str], session: Any = None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        self.decisions += 1
        return ((), tuple(ids)) if self.ended else (tuple(ids), ())

    async def decided_now(
        self, job: Job, department: str, ids: Sequence[str]
    ) -> tuple[tuple[str, ...], tuple[str, ...], int]:
        allowed, ended = await self.allowed_now(job, department, ids)
        return allowed, ended, self.epoch


class Tax:
    """A scripted tax department: ``replies`` are returned (or raised) in turn, query first, then polls."""

    def __init__(self, *replies: Any, hold: asyncio.Event | None = None) -> None:
        self.replies = list(replies)
        self.hold = hold
        self.queried: list[tuple[str, ...]] = []
        self.polls = 0
        self.started = asyncio.Event()

    async def _next(self) -> DepartmentAnswer | Ticket:
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply  # type: ignore[no-any-return]

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.queried.append(query.id_numbers)
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        return await self._next()

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        self.polls += 1
        return await self._next()


async def answer() -> DepartmentAnswer:
    reply = await SANDBOX_TAX.query(QUERY)
    assert isinstance(reply, DepartmentAnswer)
    return reply


def sender(tax: Tax, gate: Gate, deadline: float = 30.0) -> Sender:
    settings = Settings(department_deadline_seconds=deadline, poll_interval_seconds=0.01)
    return Sender({"tax": tax}, settings, gate)  # type: ignore[arg-type, dict-item]


def ticket(seconds: float = 0.0) -> Ticket:
    return Ticket("tax", "t-1", dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds))


async def test_an_answer_is_checked_and_kept() -> None:
    gate, tax = Gate(), Tax(await answer())
    outcome = await sender(tax, gate).ask(JOB, "tax", QUERY)
    assert outcome.status == DepartmentStatus.OK and outcome.answer is not None and outcome.answer.records
    assert tax.queried == [MEMBERS] and gate.decisions == 1


async def test_a_ticket_is_polled_until_the_answer_comes() -> None:
    gate, tax = Gate(), Tax(ticket(), ticket(), await answer())
    outcome = await sender(tax, gate).ask(JOB, "tax", QUERY)
    assert outcome.status == DepartmentStatus.OK and tax.polls == 2
    assert gate.decisions == 3  # before sending, and before each poll


async def test_a_ticket_not_answered_within_the_deadline_is_pending() -> None:
    later = ticket(3600)
    gate, tax = Gate(), Tax(later)
    outcome = await sender(tax, gate, deadline=0.5).ask(JOB, "tax", QUERY)
    assert (outcome.status, outcome.ticket) == (DepartmentStatus.PENDING, later)
    assert outcome.detail == "accepted; the answer comes later"


async def test_a_department_that_does_not_answer_in_time_is_unavailable() -> None:
    gate, tax = Gate(), Tax(await answer(), hold=asyncio.Event())  # never released
    outcome = await sender(tax, gate, deadline=0.2).ask(JOB, "tax", QUERY)
    assert (outcome.status, outcome.detail) == (DepartmentStatus.UNAVAILABLE, "no answer within 0.2 s")


@pytest.mark.parametrize(
    ("failure", "detail"),
    [
        (
            DepartmentUnavailable("tax", f"no file for {MEMBERS[0]}"),
            f"no file for {MEMBERS[0][:6]}********{MEMBERS[0][-4:]}",
        ),
        (DepartmentRefused("tax", "no authorization reference"), "refused: no authorization reference"),
    ],
    ids=["unavailable", "refused"],
)
async def test_a_department_that_fails_is_unavailable_with_its_reason_masked(failure: Exception, detail: str) -> None:
    outcome = await sender(Tax(failure), Gate()).ask(JOB, "tax", QUERY)
    assert (outcome.status, outcome.detail) == (DepartmentStatus.UNAVAILABLE, detail)


async def test_a_connectors_own_bug_is_raised_to_the_conductor() -> None:
    with pytest.raises(ZeroDivisionError):
        await sender(Tax(ZeroDivisionError()), Gate()).ask(JOB, "tax", QUERY)


async def test_a_revocation_before_sending_means_the_query_never_leaves() -> None:
    gate, tax = Gate(), Tax(await answer())
    gate.end()
    outcome = await sender(tax, gate).ask(JOB, "tax", QUERY)
    assert (outcome.status, outcome.detail, outcome.withdrawn) == (DepartmentStatus.NOT_QUERIED, NOT_SENT, MEMBERS)
    assert tax.queried == []


async def test_a_revocation_while_polling_stops_the_polling() -> None:
    gate, tax = Gate(), Tax(ticket(3600))
    ask = asyncio.create_task(sender(tax, gate).ask(JOB, "tax", QUERY))
    await tax.started.wait()
    gate.end()
    outcome = await asyncio.wait_for(ask, 30)
    assert (outcome.status, outcome.detail, outcome.withdrawn) == (
        DepartmentStatus.NOT_QUERIED,
        POLLING_STOPPED,
        MEMBERS,
    )
    polls_at_stop = tax.polls
    await asyncio.sleep(0.05)
    assert tax.polls == polls_at_stop


async def test_a_revocation_calls_back_a_query_still_waiting_to_be_sent() -> None:
    gate, tax = Gate(), Tax(await answer(), hold=asyncio.Event())
    send = sender(tax, gate)
    ask = asyncio.create_task(send.ask(JOB, "tax", QUERY))
    await tax.started.wait()
    send.withdraw("authorizations/other")  # another authorization's revocation leaves it alone
    await asyncio.sleep(0)
    assert not ask.done()
    gate.end()
    send.withdraw("authorizations/a1")
    outcome = await asyncio.wait_for(ask, 30)
    assert (outcome.status, outcome.detail, outcome.withdrawn) == (DepartmentStatus.NOT_QUERIED, CALLED_BACK, MEMBERS)


async def test_a_query_decided_before_a_consent_change_elsewhere_is_decided_again_and_called_back() -> None:
    """The cross-process watch: a query on its way whose consent was decided at an earlier epoch than the
    database's now is decided again; a member withdrawn meanwhile calls it back (it is never answered), and a
    query decided at the current epoch is left alone."""
    gate, hold = Gate(), asyncio.Event()
    tax = Tax(await answer(), hold=hold)
    sending = sender(tax, gate)
    asking = asyncio.create_task(sending.ask(JOB, "tax", QUERY))
    await tax.started.wait()
    assert sending.sending() and not sending.decided_before(gate.epoch)
    assert await sending.recheck(gate.epoch) == 0  # nothing changed: nothing decided again
    decisions = gate.decisions
    gate.end()  # another process revoked: only the epoch tells this one
    assert sending.decided_before(gate.epoch)
    assert await sending.recheck(gate.epoch) == 1
    outcome = await asking
    assert outcome.status == DepartmentStatus.NOT_QUERIED and outcome.detail == CALLED_BACK
    assert gate.decisions > decisions and not sending.sending()
