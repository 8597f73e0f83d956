"""Idempotency keys (connectors/base.py) and the first answers kept per key (connectors/idempotency.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from connectors.base import (
    IDEMPOTENCY_KEY,
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
    idempotency_keys,
)
from connectors.departments import DepartmentCatalogue
from connectors.idempotency import OWN_TICKET_PREFIX, AnswerStore, OncePerKey, QueryLog, subject_digest
from connectors.records import PersonRecord, TaxIncomeRecord
from connectors.wire import parse_instant

ZHANG = "533401197803120118"
LI = "53340119800605022X"
DEFU = "533401194501010411"
T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)


def income(record_id: str, id_number: str) -> TaxIncomeRecord:
    return TaxIncomeRecord(record_id, id_number, "2026-01", "wages", 100)


def person(id_number: str, hukou: str) -> PersonRecord:
    return PersonRecord(f"{hukou}:{id_number}", id_number, "某", hukou, "head", "active", None)


# --- the grammar ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("v-1.tax.1", ("v-1.tax.1",)),
        ("a:b_c-D.9", ("a:b_c-D.9",)),
        ("v1.tax.1,v2.tax.1", ("v1.tax.1", "v2.tax.1")),  # a shared batch: in the parts' order
        ("v2.tax.1,v1.tax.1,v2.tax.1", ("v2.tax.1", "v1.tax.1")),  # a repeated key counts once
        ("k" * 200, ("k" * 200,)),
    ],
)
def test_well_formed_keys(text: str, keys: tuple[str, ...]) -> None:
    assert idempotency_keys(text) == keys


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "required"),
        ("k" * 201, "the key must be 1 to 200 letters"),
        ("v1.tax.1 ", "the key must be"),
        ("v1/tax/1", "the key must be"),
        ("v1.税.1", "the key must be"),
        ("v1.tax.1,", "key 2 of 2 must be"),
        (",v1.tax.1", "key 1 of 2 must be"),
        ("v1.tax.1,\x00", "key 2 of 2 must be"),
    ],
)
def test_malformed_keys_are_refused_without_echoing_them(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        idempotency_keys(text)
    if text.strip(","):
        assert text.strip(",") not in str(caught.value)


def test_the_grammar_has_no_commas_and_at_most_200_characters() -> None:
    assert IDEMPOTENCY_KEY.fullmatch("a,b") is None
    assert IDEMPOTENCY_KEY.fullmatch("x" * 200) is not None
    assert IDEMPOTENCY_KEY.fullmatch("x" * 201) is None


def test_a_call_may_carry_no_more_keys_than_it_may_have_parts() -> None:
    assert len(idempotency_keys(",".join(f"v{i}.tax.1" for i in range(3)), 3)) == 3
    with pytest.raises(ValueError, match="4 keys; at most 3"):
        idempotency_keys(",".join(f"v{i}.tax.1" for i in range(4)), 3)


# --- the store -----------------------------------------------------------------------------------------


def test_a_repeated_key_is_answered_from_the_first_answer() -> None:
    store = AnswerStore(("tax_income",))
    assert store.missing(["k1"], [ZHANG, LI]) == (ZHANG, LI)
    first = store.settle("tax", ["k1"], [ZHANG, LI], [income("TX-1", ZHANG), income("TX-2", ZHANG)], T0)
    assert [r.record_id for r in first.records] == ["TX-1", "TX-2"]
    assert first.answered_at == T0
    assert len(store) == 2  # (k1, ZHANG) and (k1, LI): LI is known to have no records
    assert store.missing(["k1"], [ZHANG, LI]) == ()
    again = store.settle("tax", ["k1"], [ZHANG, LI])  # nothing looked up, no time needed
    assert again == first
    assert store.missing(["k2"], [ZHANG]) == (ZHANG,)  # another key is another asking


def test_only_the_people_not_answered_under_the_key_are_looked_up() -> None:
    store = AnswerStore(("tax_income",))
    store.settle("tax", ["k1"], [ZHANG], [income("TX-1", ZHANG)], T0)
    assert store.missing(["k1"], [ZHANG, LI]) == (LI,)
    answer = store.settle("tax", ["k1"], [ZHANG, LI], [income("TX-9", LI)], T1)
    assert [r.record_id for r in answer.records] == ["TX-1", "TX-9"]
    assert answer.answered_at == T0  # the earliest of what it is made of
    # ... and what was looked up now is kept with that answer's time
    assert store.settle("tax", ["k1"], [LI]).answered_at == T0


def test_every_key_of_a_shared_call_counts_as_looked_up() -> None:
    store = AnswerStore(("tax_income",))
    batch = store.settle("tax", ["v1.tax.1", "v2.tax.1"], [ZHANG, LI], [income("TX-1", ZHANG), income("TX-9", LI)], T0)
    assert store.missing(["v2.tax.1"], [ZHANG, LI]) == ()
    part = store.settle("tax", ["v2.tax.1"], [LI])
    assert [r.record_id for r in part.records] == ["TX-9"]
    assert part.answered_at == batch.answered_at == T0


def test_a_repeated_call_kept_under_one_key_is_kept_under_the_others_too() -> None:
    store = AnswerStore(("tax_income",))
    store.settle("tax", ["v1.tax.1"], [ZHANG], [income("TX-1", ZHANG)], T0)
    # hedui sends v1's part again in a new shared call with v3's: ZHANG is not looked up again
    assert store.missing(["v1.tax.1", "v3.tax.1"], [ZHANG, LI]) == (LI,)
    store.settle("tax", ["v1.tax.1", "v3.tax.1"], [ZHANG, LI], [], T1)
    assert [r.record_id for r in store.settle("tax", ["v3.tax.1"], [ZHANG]).records] == ["TX-1"]


def test_the_police_keep_each_persons_whole_register() -> None:
    store = AnswerStore(DepartmentCatalogue()["police"])
    register = [person(ZHANG, "H1"), person(LI, "H1"), person(DEFU, "H2")]
    store.settle("police", ["k1"], [LI, DEFU], register, T0)
    assert [r.id_number for r in store.settle("police", ["k1"], [LI]).records] == [ZHANG, LI]
    assert [r.id_number for r in store.settle("police", ["k1"], [DEFU]).records] == [DEFU]


def test_the_store_is_bounded_and_forgets_the_oldest_first() -> None:
    store = AnswerStore(("tax_income",), max_pairs=2)
    store.settle("tax", ["k1"], [ZHANG], [], T0)
    store.settle("tax", ["k2"], [ZHANG], [], T0)
    store.settle("tax", ["k3"], [ZHANG], [], T0)
    assert len(store) == 2
    assert store.missing(["k1"], [ZHANG]) == (ZHANG,)  # the oldest is forgotten: asked again, looked up again
    assert store.missing(["k2"], [ZHANG]) == ()
    assert store.missing(["k3"], [ZHANG]) == ()
    with pytest.raises(ValueError, match="max_pairs"):
        AnswerStore(("tax_income",), max_pairs=0)


def test_a_look_up_needs_its_time() -> None:
    with pytest.raises(ValueError, match="not when"):
        AnswerStore(("tax_income",)).settle("tax", ["k1"], [ZHANG], [])


# --- the query log -------------------------------------------------------------------------------------


def test_the_query_log_has_a_line_per_look_up_flushed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl"
    log = QueryLog(path)
    try:
        log.looked_up("tax", "v1.tax.1,v2.tax.1", ZHANG, T0)
        log.looked_up("tax", "v1.tax.1", LI)
        text = path.read_text(encoding="utf-8")  # before closing: each line is flushed as written
    finally:
        log.close()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0] == {
        "department": "tax",
        "key": "v1.tax.1,v2.tax.1",
        "subject": hashlib.sha256(ZHANG.encode()).hexdigest()[:16],
        "at": "2026-11-23T08:00:00.000Z",
    }
    assert lines[1]["subject"] == subject_digest(LI) != subject_digest(ZHANG)
    assert abs(parse_instant(lines[1]["at"], "at") - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert ZHANG not in text and LI not in text
    QueryLog(path).close()  # opened again: appended to, not truncated
    assert path.read_text(encoding="utf-8") == text


# --- any connector behind the rule ---------------------------------------------------------------------


class Forgetful:
    """A department that looks everyone up every time (answered_at: a new instant per call), remembering whom."""

    def __init__(self, *, tickets: bool = False, hold: asyncio.Event | None = None, fail: int = 0) -> None:
        self.asked: list[tuple[str, ...]] = []
        self.polls = 0
        self.tickets = tickets
        self.hold = hold
        self.fail = fail
        self.calls = 0

    def describe(self) -> ConnectorDescription:
        return ConnectorDescription("tax", ("income",), asynchronous=self.tickets)

    def _answer(self, id_numbers: Sequence[str]) -> DepartmentAnswer:
        records = tuple(income(f"TX-{n[-4:]}", n) for n in id_numbers if n != LI)  # LI has no income
        self.calls += 1
        return DepartmentAnswer("tax", records, T0 + dt.timedelta(seconds=self.calls))

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.asked.append(query.id_numbers)
        if self.hold is not None:
            await self.hold.wait()
        if self.fail:
            self.fail -= 1
            raise DepartmentUnavailable("tax", "down")
        if self.tickets:
            return Ticket("tax", "T-" + "-".join(query.id_numbers), T0)
        return self._answer(query.id_numbers)

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        self.polls += 1
        return self._answer(ticket.ticket_id.removeprefix("T-").split("-"))


def ask(*ids: str, key: str = "v1.tax.1") -> DepartmentQuery:
    return DepartmentQuery("q1", ids, "authorizations/a1", "ASSESSMENT", key)


TAX = DepartmentCatalogue()["tax"]


async def test_a_repeated_key_does_not_reach_the_department_again() -> None:
    inner = Forgetful()
    kept = OncePerKey(inner, TAX)
    first = await kept.query(ask(ZHANG, LI))
    again = await kept.query(ask(LI, ZHANG))
    assert inner.asked == [(ZHANG, LI)]
    assert isinstance(first, DepartmentAnswer) and isinstance(again, DepartmentAnswer)
    assert again.answered_at == first.answered_at == T0 + dt.timedelta(seconds=1)
    assert again.records == first.records == (income(f"TX-{ZHANG[-4:]}", ZHANG),)
    newcomer = await kept.query(ask(ZHANG, DEFU))
    assert inner.asked == [(ZHANG, LI), (DEFU,)]  # only the newcomer reaches the department
    assert isinstance(newcomer, DepartmentAnswer) and len(newcomer.records) == 2
    assert kept.passed_on == 3


async def test_a_repeat_while_the_first_is_under_way_waits_for_it() -> None:
    hold = asyncio.Event()
    inner = Forgetful(hold=hold)
    kept = OncePerKey(inner, TAX)
    first = asyncio.ensure_future(kept.query(ask(ZHANG)))
    second = asyncio.ensure_future(kept.query(ask(ZHANG)))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    hold.set()
    assert await first == await second
    assert inner.asked == [(ZHANG,)]


async def test_a_look_up_whose_caller_went_is_finished_and_kept() -> None:
    hold = asyncio.Event()
    inner = Forgetful(hold=hold)
    kept = OncePerKey(inner, TAX)
    gone = asyncio.ensure_future(kept.query(ask(ZHANG)))
    await asyncio.sleep(0)
    gone.cancel()  # hedui's call cut off: its process died
    with pytest.raises(asyncio.CancelledError):
        await gone
    hold.set()
    answer = await kept.query(ask(ZHANG))  # waits for the look-up under way, then its answer
    assert inner.asked == [(ZHANG,)]
    assert isinstance(answer, DepartmentAnswer) and answer.answered_at == T0 + dt.timedelta(seconds=1)


async def test_a_failed_look_up_keeps_nothing() -> None:
    inner = Forgetful(fail=1)
    kept = OncePerKey(inner, TAX)
    with pytest.raises(DepartmentUnavailable):
        await kept.query(ask(ZHANG))
    assert isinstance(await kept.query(ask(ZHANG)), DepartmentAnswer)
    assert inner.asked == [(ZHANG,), (ZHANG,)]  # nobody was answered the first time: asked again


async def test_every_key_of_a_shared_call_is_kept_in_front_of_any_connector() -> None:
    inner = Forgetful()
    kept = OncePerKey(inner, TAX)
    batch = await kept.query(ask(ZHANG, DEFU, key="v1.tax.1,v2.tax.1"))
    part = await kept.query(ask(DEFU, key="v2.tax.1"))
    assert inner.asked == [(ZHANG, DEFU)]
    assert isinstance(batch, DepartmentAnswer) and isinstance(part, DepartmentAnswer)
    assert part.answered_at == batch.answered_at
    assert [r.subject for r in part.records] == [DEFU]


async def test_a_repeated_key_gets_the_departments_ticket_again_and_its_answer_is_kept() -> None:
    inner = Forgetful(tickets=True)
    kept = OncePerKey(inner, TAX)
    ticket = await kept.query(ask(ZHANG, LI))
    assert isinstance(ticket, Ticket)
    assert await kept.query(ask(LI, ZHANG)) == ticket
    answer = await kept.poll(ticket)
    assert isinstance(answer, DepartmentAnswer) and inner.polls == 1
    assert await kept.poll(ticket) == answer  # polled again: kept, not asked again
    assert await kept.query(ask(ZHANG, LI)) == answer  # asked again: the answer
    assert inner.polls == 1 and inner.asked == [(ZHANG, LI)]


async def test_a_malformed_key_never_reaches_the_department(tmp_path: Path) -> None:
    inner = Forgetful()
    log = QueryLog(tmp_path / "q.jsonl")
    kept = OncePerKey(inner, TAX, query_log=log)
    with pytest.raises(DepartmentRefused, match="idempotency_key: the key must be"):
        await kept.query(ask(ZHANG, key="v1 tax"))
    await kept.query(ask(ZHANG, LI))
    await kept.query(ask(ZHANG, LI))
    log.close()
    assert inner.asked == [(ZHANG, LI)]
    lines = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [(line["key"], line["subject"]) for line in lines] == [
        ("v1.tax.1", subject_digest(ZHANG)),
        ("v1.tax.1", subject_digest(LI)),
    ]


# --- tickets: each (key, identity number) of a pending ticket is looked up by it ----------------------------


async def test_a_resend_with_fewer_members_does_not_look_anybody_up_again_while_the_ticket_is_pending() -> None:
    inner = Forgetful(tickets=True)
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


async def test_a_part_of_a_shared_batch_sent_again_alone_is_not_looked_up_again_while_the_ticket_is_pending() -> None:
    """After a restart the parts of a batch are batched anew (or go alone): the resend's (key, people) almost
    never equals the first call's."""
    inner = Forgetful(tickets=True)
    kept = OncePerKey(inner, TAX)
    first = await kept.query(ask(ZHANG, DEFU, key="v1.tax.1,v2.tax.1"))
    assert isinstance(first, Ticket)
    alone = await kept.query(ask(ZHANG, key="v1.tax.1"))  # v1's step taken over after the crash: sent alone
    assert inner.asked == [(ZHANG, DEFU)], f"looked up again under the same key: {inner.asked}"
    assert isinstance(alone, Ticket)
    answer = await kept.poll(alone)
    assert isinstance(answer, DepartmentAnswer) and [r.subject for r in answer.records] == [ZHANG]
    assert answer.answered_at == T0 + dt.timedelta(seconds=1)  # the batch's answer (the first poll)


class Pending(Forgetful):
    """A department with tickets whose answers are not ready until ``ready`` is set (a poll before: the ticket)."""

    def __init__(self) -> None:
        super().__init__(tickets=True)
        self.ready = False

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        if not self.ready:
            self.polls += 1
            return dataclasses.replace(ticket, ready_after=T1)
        return await super().poll(ticket)


async def test_fewer_people_under_a_pending_ticket_get_a_ticket_that_waits_on_the_departments() -> None:
    inner = Pending()
    kept = OncePerKey(inner, TAX)
    first = await kept.query(ask(ZHANG, LI, DEFU))
    assert isinstance(first, Ticket)
    fewer = await kept.query(ask(DEFU, ZHANG))
    assert isinstance(fewer, Ticket) and fewer.ticket_id != first.ticket_id
    assert fewer.ticket_id.startswith(OWN_TICKET_PREFIX) and ZHANG not in fewer.ticket_id
    assert await kept.query(ask(ZHANG, DEFU)) == fewer  # the same asking again: the same ticket
    not_yet = await kept.poll(fewer)
    assert not_yet == dataclasses.replace(fewer, ready_after=T1)  # still pending: the department's new time
    assert inner.polls == 1
    inner.ready = True
    answer = await kept.poll(fewer)
    assert isinstance(answer, DepartmentAnswer)
    assert sorted(r.subject for r in answer.records) == sorted([ZHANG, DEFU])
    whole = await kept.poll(first)  # the first ticket's answer was kept when the department answered it
    assert isinstance(whole, DepartmentAnswer) and whole.answered_at == answer.answered_at
    assert inner.polls == 2  # one poll of the department's ticket per poll that found it pending, then one answer
    # once the department's answer is kept, fewer people under the key are answered from it at once
    assert await kept.query(ask(DEFU)) == dataclasses.replace(
        answer, records=tuple(r for r in answer.records if r.subject == DEFU)
    )
    assert inner.asked == [(ZHANG, LI, DEFU)] and inner.polls == 2


async def test_a_pending_person_and_a_newcomer_under_the_key_wait_on_both_tickets() -> None:
    inner = Forgetful(tickets=True)
    kept = OncePerKey(inner, TAX)
    first = await kept.query(ask(ZHANG, LI))
    mixed = await kept.query(ask(ZHANG, DEFU))  # ZHANG pending under the first ticket; DEFU new to the key
    assert inner.asked == [(ZHANG, LI), (DEFU,)]
    assert isinstance(first, Ticket) and isinstance(mixed, Ticket) and mixed.ticket_id.startswith(OWN_TICKET_PREFIX)
    answer = await kept.poll(mixed)
    assert isinstance(answer, DepartmentAnswer) and inner.polls == 2
    assert [r.subject for r in answer.records] == [ZHANG, DEFU]
    assert answer.answered_at == T0 + dt.timedelta(seconds=1)  # the earliest of the two answers
    assert await kept.poll(first) != answer and inner.polls == 2  # ZHANG and LI: kept already, not polled again


async def test_a_ticket_of_once_per_key_s_own_is_unknown_after_a_restart() -> None:
    inner = Forgetful(tickets=True)
    before = OncePerKey(inner, TAX)
    first = await before.query(ask(ZHANG, LI))
    assert isinstance(first, Ticket) and not first.ticket_id.startswith(OWN_TICKET_PREFIX)  # the department's
    fewer = await before.query(ask(ZHANG))
    assert isinstance(fewer, Ticket)
    with pytest.raises(DepartmentRefused, match="unknown ticket"):
        await OncePerKey(inner, TAX).poll(fewer)  # the server restarted: its memory is gone
    assert inner.polls == 0  # never passed on to the department, which never handed it out


def test_the_store_names_the_pending_ticket_of_each_pair() -> None:
    store = AnswerStore(("tax_income",))
    ticket = Ticket("tax", "T-1", T0)
    store.keep_ticket("v1.tax.1,v2.tax.1", [ZHANG, LI, DEFU], ticket, looked_up=[ZHANG, LI])
    assert store.ticket_for("v2.tax.1,v1.tax.1", [ZHANG, LI, DEFU]) is None  # an asking is its whole key
    assert store.ticket_for("v1.tax.1,v2.tax.1", [DEFU, LI, ZHANG]) == ticket
    assert store.pending(["v2.tax.1"], [LI, DEFU]) == {LI: ticket}  # DEFU was answered before: not looked up
    assert store.pending(["v3.tax.1"], [LI]) == {}
    store.settle("tax", ["v2.tax.1"], [LI], [], T1)
    assert store.pending(["v2.tax.1"], [LI]) == {}  # answered: no longer pending
    assert store.pending(["v1.tax.1"], [LI]) == {LI: ticket}  # v1's pair is answered only by the ticket's answer


# --- the query log: a line per identity number the department answered (or ticketed) ---------------------


async def test_the_query_log_has_no_line_for_a_look_up_that_failed(tmp_path: Path) -> None:
    """A department that fails answered nobody: no line; the retry that is answered has the only line."""
    log = QueryLog(tmp_path / "q.jsonl")
    kept = OncePerKey(Forgetful(tickets=True, fail=1), TAX, query_log=log)
    with pytest.raises(DepartmentUnavailable):
        await kept.query(ask(ZHANG))
    await kept.query(ask(ZHANG))
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [(line["key"], line["subject"]) for line in lines] == [("v1.tax.1", subject_digest(ZHANG))]


async def test_the_query_log_has_a_line_per_person_of_a_ticket_once(tmp_path: Path) -> None:
    log = QueryLog(tmp_path / "q.jsonl")
    kept = OncePerKey(Forgetful(tickets=True), TAX, query_log=log)
    first = await kept.query(ask(ZHANG, LI, key="v1.tax.1,v2.tax.1"))
    assert isinstance(first, Ticket)
    alone = await kept.query(ask(LI, key="v2.tax.1"))
    assert isinstance(alone, Ticket)
    await kept.poll(alone)
    await kept.poll(first)
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [(line["key"], line["subject"]) for line in lines] == [
        ("v1.tax.1,v2.tax.1", subject_digest(ZHANG)),
        ("v1.tax.1,v2.tax.1", subject_digest(LI)),
    ]
