"""Idempotency keys (connectors/base.py) and the first answers kept per key (connectors/idempotency.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from connectors.base import IDEMPOTENCY_KEY, idempotency_keys
from connectors.departments import DepartmentCatalogue
from connectors.idempotency import AnswerStore, QueryLog, subject_digest
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
