"""Review of issue 11: the rule "an identity number is looked up at most once per key" in front of a department
that answers with tickets, when hedui asks again after a crash with fewer members under the same key.

hedui's resumed round (verifier/pipeline/plan.py ``resumed_round`` and Sender) sends a taken-over query again
with the same key but only the members whose consent still stands. ``OncePerKey`` remembers a ticket by the
whole key *and the exact set of people* (``AnswerStore.ticket_for``), and the pairs of a ticketed asking are
neither kept (no answer yet) nor under way (the ``_under_way`` marks go when the ticket comes back): a repeat
of the key with a subset of the people is passed on to the department again — a second look-up of the same
person under the same key, which the department counts and bills.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from connectors.base import ConnectorDescription, DepartmentAnswer, DepartmentQuery, DepartmentUnavailable, Ticket
from connectors.departments import DepartmentCatalogue
from connectors.idempotency import OncePerKey, QueryLog, subject_digest
from connectors.records import TaxIncomeRecord

ZHANG = "533401197803120118"
LI = "53340119800605022X"
DEFU = "533401194501010411"
T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
TAX = DepartmentCatalogue()["tax"]


class TicketDepartment:
    """A department that answers with a ticket and looks everyone of a query up (counted in ``asked``)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def describe(self) -> ConnectorDescription:
        return ConnectorDescription("tax", ("income",), asynchronous=True)

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.asked.append(query.id_numbers)
        return Ticket("tax", "T-" + "-".join(query.id_numbers), T0)

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        ids = ticket.ticket_id.removeprefix("T-").split("-")
        records = tuple(TaxIncomeRecord(f"TX-{n[-4:]}", n, "2026-01", "wages", 100) for n in ids)
        return DepartmentAnswer("tax", records, T0)


def ask(*ids: str, key: str = "v1.tax.1") -> DepartmentQuery:
    return DepartmentQuery("q1", ids, "authorizations/a1", "ASSESSMENT", key)


async def test_a_resend_with_fewer_members_does_not_look_anybody_up_again_while_the_ticket_is_pending() -> None:
    inner = TicketDepartment()
    kept = OncePerKey(inner, TAX)
    first = await kept.query(ask(ZHANG, LI, DEFU))  # the first asking: a ticket, the look-up under way
    assert isinstance(first, Ticket)
    # hedui dies before storing the ticket; another process takes the step over, LI's consent was withdrawn
    # meanwhile: the same key is sent again for ZHANG and DEFU only.
    again = await kept.query(ask(ZHANG, DEFU))
    assert inner.asked == [(ZHANG, LI, DEFU)], f"looked up again under the same key: {inner.asked}"
    assert kept.passed_on == 3
    if isinstance(again, Ticket):
        answer = await kept.poll(again)
    else:
        answer = again
    assert isinstance(answer, DepartmentAnswer)
    assert sorted(r.subject for r in answer.records) == sorted([ZHANG, DEFU])  # LI's records are not handed out


async def test_the_query_log_has_no_line_for_a_look_up_that_failed(tmp_path: Path) -> None:
    """The query log is "one line per identity number actually looked up" (the contract of the issue's brief, and
    what the crash drills count as a second look-up). ``OncePerKey._pass_on`` writes the lines before the
    department is asked: a department that fails (nobody answered, nothing kept) gets the line anyway, and the
    retry writes it again: the log then shows the same (key, subject) twice."""

    class DownOnce(TicketDepartment):
        def __init__(self) -> None:
            super().__init__()
            self.down = True

        async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
            if self.down:
                self.down = False
                raise DepartmentUnavailable("tax", "down")
            return await super().query(query)

    log = QueryLog(tmp_path / "q.jsonl")
    kept = OncePerKey(DownOnce(), TAX, query_log=log)
    with pytest.raises(DepartmentUnavailable):
        await kept.query(ask(ZHANG))
    await kept.query(ask(ZHANG))
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [(line["key"], line["subject"]) for line in lines] == [("v1.tax.1", subject_digest(ZHANG))]


async def test_a_part_of_a_shared_batch_sent_again_alone_is_not_looked_up_again_while_the_ticket_is_pending() -> None:
    """The same hole with a shared batch: after a restart the parts of a batch are batched anew (or go alone),
    so the resend's (key, people) almost never equals the first call's."""
    inner = TicketDepartment()
    kept = OncePerKey(inner, TAX)
    first = await kept.query(ask(ZHANG, DEFU, key="v1.tax.1,v2.tax.1"))
    assert isinstance(first, Ticket)
    await kept.query(ask(ZHANG, key="v1.tax.1"))  # v1's step taken over after the crash: sent alone
    assert inner.asked == [(ZHANG, DEFU)], f"looked up again under the same key: {inner.asked}"
