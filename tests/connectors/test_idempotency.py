"""Idempotency keys (connectors/base.py) and the first answers kept per key (connectors/idempotency.py)."""

from __future__ import annotations

import asyncio
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
from connectors.idempotency import AnswerStore, OncePerKey, QueryLog, subject_digest
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
