"""Sandbox departments: connectors/sandbox.py."""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from connector_process import new_key
from harness import SANDBOX_FILE as SANDBOX_SMALL
from harness import example_sandbox

from connectors.base import (
    Connector,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
)
from connectors.idempotency import QueryLog, subject_digest
from connectors.records import AccountRecord, PersonRecord, PropertyRecord, TaxIncomeRecord, VehicleRecord
from connectors.sandbox import (
    Fault,
    SandboxConnector,
    SandboxDataset,
    SandboxError,
    connector_factory,
    dataset_ticket_key,
    sandbox_connectors,
)

ZHANG = "533401197803120118"
LI = "53340119800605022X"
MING = "533401200809110310"
DEFU = "533401194501010411"  # another household register
DEPARTMENTS = ("police", "housing", "tax", "vehicles", "banks", "social_security")


def small() -> dict[str, Any]:
    return example_sandbox()


def dataset(**changes: Any) -> SandboxDataset:
    raw = small()
    raw.update(changes)
    return SandboxDataset.from_json(raw)


def query(*ids: str, reference: str = "authorizations/a1", key: str | None = None) -> DepartmentQuery:
    """A query; a new asking (its own idempotency key) unless ``key`` is given."""
    return DepartmentQuery(
        query_id="q1",
        id_numbers=ids,
        authorization_reference=reference,
        purpose="ASSESSMENT",
        idempotency_key=key or new_key(),
    )


def sandbox_error(raw: object) -> str:
    with pytest.raises(SandboxError) as caught:
        SandboxDataset.from_json(raw)
    return str(caught.value)


async def answer_of(connector: SandboxConnector, q: DepartmentQuery) -> DepartmentAnswer:
    result = await connector.query(q)
    assert isinstance(result, DepartmentAnswer), result
    return result


# --- loading -------------------------------------------------------------------------------------


def test_load_the_spec_example() -> None:
    data = SandboxDataset.load(SANDBOX_SMALL)
    assert set(data.records) == set(DEPARTMENTS)
    persons = data.records["police"]
    assert [r.id_number for r in persons if isinstance(r, PersonRecord)] == [ZHANG, LI, MING, DEFU]
    # police persons without a record_id get one from their register and number
    assert persons[0].record_id == f"H-533401-0001:{ZHANG}"
    assert [r.record_id for r in data.records["housing"]] == ["RE-0001"]
    assert [r.record_id for r in data.records["tax"]] == ["TX-2026-01", "TX-2026-02"]
    assert isinstance(data.records["vehicles"][0], VehicleRecord)
    account = data.records["banks"][0]
    assert isinstance(account, AccountRecord)
    assert account.balance_fen == 1250000
    assert [r.record_id for r in data.records["social_security"]] == ["SS-2026-03"]
    assert data.faults == {}
    assert data.answer_after_seconds == {"banks": 0.0}


def test_missing_sections_are_empty() -> None:
    data = SandboxDataset.from_json({"police": small()["police"]})
    assert len(data.records["police"]) == 4
    assert all(data.records[d] == () for d in DEPARTMENTS if d != "police")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="no such file"):
        SandboxDataset.load(tmp_path / "absent.json")


def test_load_not_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{police: []}", encoding="utf-8")
    with pytest.raises(SandboxError, match="not JSON"):
        SandboxDataset.load(path)


def test_demo_dataset_loads() -> None:
    assert SandboxDataset.demo().records["police"]


# --- malformed sandboxes -------------------------------------------------------------------------


def test_not_an_object() -> None:
    assert sandbox_error([]).startswith("sandbox")


def test_unknown_section() -> None:
    raw = small()
    raw["courts"] = {"cases": []}
    assert sandbox_error(raw) == "courts: unknown section"


def test_unknown_list_in_a_section() -> None:
    raw = small()
    raw["housing"]["mortgages"] = []
    assert sandbox_error(raw).startswith("housing.mortgages")


def test_answer_after_seconds_only_for_banks() -> None:
    raw = small()
    raw["tax"]["answer_after_seconds"] = 5
    assert sandbox_error(raw).startswith("tax.answer_after_seconds")


@pytest.mark.parametrize("delay", [-1, "5", True])
def test_bad_answer_after_seconds(delay: object) -> None:
    raw = small()
    raw["banks"]["answer_after_seconds"] = delay
    assert sandbox_error(raw).startswith("banks.answer_after_seconds")


@pytest.mark.parametrize("text", ["Infinity", "NaN"])
def test_non_finite_answer_after_seconds(tmp_path: Path, text: str) -> None:
    # Python's json module reads these tokens; an infinite delay later overflows the ticket's ready time.
    raw = SANDBOX_SMALL.read_text(encoding="utf-8").replace(
        '"answer_after_seconds": 0', f'"answer_after_seconds": {text}'
    )
    assert text in raw
    path = tmp_path / "sandbox.json"
    path.write_text(raw, encoding="utf-8")
    with pytest.raises(SandboxError, match=r"^banks\.answer_after_seconds"):
        SandboxDataset.load(path)


def test_section_lists_must_be_lists() -> None:
    raw = small()
    raw["tax"]["income"] = {}
    assert sandbox_error(raw).startswith("tax.income")


def test_bad_record_names_its_path() -> None:
    raw = small()
    raw["tax"]["income"][1]["amount_fen"] = -5
    assert sandbox_error(raw).startswith("tax.income[1].amount_fen")


def test_bad_person_names_its_path() -> None:
    raw = small()
    raw["police"]["persons"][2]["status"] = "missing"
    assert sandbox_error(raw).startswith("police.persons[2].status")


@pytest.mark.parametrize(
    ("fault", "path"),
    [
        ({"mode": "broken"}, "faults.tax.mode"),
        ({}, "faults.tax.mode"),
        ({"mode": "slow"}, "faults.tax.delay_ms"),
        ({"mode": "slow", "delay_ms": -1}, "faults.tax.delay_ms"),
        ({"mode": "slow", "delay_ms": 1.5}, "faults.tax.delay_ms"),
        ({"mode": "flaky", "fail_first": "2"}, "faults.tax.fail_first"),
        ({"mode": "flaky", "fail_first": 2, "delay_ms": 5}, "faults.tax.delay_ms"),
        ({"mode": "unavailable", "fail_first": 1}, "faults.tax.fail_first"),
        ("unavailable", "faults.tax"),
    ],
)
def test_bad_fault(fault: object, path: str) -> None:
    raw = small()
    raw["faults"] = {"tax": fault}
    assert sandbox_error(raw).startswith(path)


def test_fault_for_unknown_department() -> None:
    raw = small()
    raw["faults"] = {"courts": {"mode": "unavailable"}}
    assert sandbox_error(raw).startswith("faults.courts")


def test_faults_are_read() -> None:
    data = dataset(
        faults={
            "police": {"mode": "unavailable"},
            "tax": {"mode": "slow", "delay_ms": 20},
            "banks": {"mode": "flaky", "fail_first": 2},
        }
    )
    assert data.faults == {
        "police": Fault("unavailable"),
        "tax": Fault("slow", delay_ms=20),
        "banks": Fault("flaky", fail_first=2),
    }


def test_duplicate_record_id() -> None:
    raw = small()
    raw["tax"]["income"][1]["record_id"] = "TX-2026-01"
    message = sandbox_error(raw)
    assert message.startswith("tax")
    assert "duplicate record_id TX-2026-01" in message


def test_duplicate_record_id_across_lists_of_a_department() -> None:
    raw = small()
    raw["housing"]["rentals"] = [{"record_id": "RE-0001", "owner_id": ZHANG, "period": "2026-01", "rent_fen": 1}]
    message = sandbox_error(raw)
    assert message.startswith("housing")
    assert "RE-0001" in message


def test_duplicate_person() -> None:
    raw = small()
    raw["police"]["persons"].append(copy.deepcopy(raw["police"]["persons"][0]))
    message = sandbox_error(raw)
    assert message.startswith("police")
    assert ZHANG in message


# --- the connector -------------------------------------------------------------------------------


def test_one_connector_per_department() -> None:
    connectors = sandbox_connectors(dataset())
    assert set(connectors) == set(DEPARTMENTS)
    for department, connector in connectors.items():
        assert isinstance(connector, Connector)
        description = connector.describe()
        assert description.department == department
        assert description.asynchronous is False
    assert connectors["housing"].describe().data_categories == ("properties", "provident_fund", "rentals")


def test_unknown_department_connector() -> None:
    with pytest.raises(ValueError, match="courts"):
        SandboxConnector("courts", dataset())


async def test_answers_only_the_asked_ids() -> None:
    tax = SandboxConnector("tax", dataset())
    answer = await answer_of(tax, query(ZHANG))
    assert answer.department == "tax"
    assert [r.record_id for r in answer.records] == ["TX-2026-01", "TX-2026-02"]
    assert all(isinstance(r, TaxIncomeRecord) and r.id_number == ZHANG for r in answer.records)
    assert answer.answered_at.tzinfo is not None
    assert abs(answer.answered_at - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    nobody = await answer_of(tax, query(LI, MING))
    assert nobody.records == ()


async def test_owner_records_are_answered_by_owner() -> None:
    housing = SandboxConnector("housing", dataset())
    answer = await answer_of(housing, query(LI, ZHANG))
    assert [type(r) for r in answer.records] == [PropertyRecord]
    assert (await answer_of(housing, query(LI))).records == ()


async def test_police_returns_the_whole_register_of_asked_persons() -> None:
    police = SandboxConnector("police", dataset())
    answer = await answer_of(police, query(MING))
    ids = [r.id_number for r in answer.records if isinstance(r, PersonRecord)]
    assert ids == [ZHANG, LI, MING]  # the whole register H-533401-0001, not DEFU's
    other = await answer_of(police, query(DEFU))
    assert [r.id_number for r in other.records if isinstance(r, PersonRecord)] == [DEFU]
    unknown = await answer_of(police, query("110105194912310021"))
    assert unknown.records == ()


async def test_refuses_without_authorization_reference() -> None:
    tax = SandboxConnector("tax", dataset())
    with pytest.raises(DepartmentRefused) as caught:
        await tax.query(query(ZHANG, reference=""))
    assert caught.value.department == "tax"


async def test_unavailable_fault() -> None:
    data = dataset(faults={"tax": {"mode": "unavailable"}})
    tax = SandboxConnector("tax", data)
    for _ in range(3):
        with pytest.raises(DepartmentUnavailable) as caught:
            await tax.query(query(ZHANG))
        assert caught.value.department == "tax"
        assert caught.value.transient is True
    # the fault is the tax department's only
    banks = SandboxConnector("banks", data)
    assert [r.record_id for r in (await answer_of(banks, query(ZHANG))).records] == ["BK-0001"]


async def test_slow_fault_delays_the_answer() -> None:
    tax = SandboxConnector("tax", dataset(faults={"tax": {"mode": "slow", "delay_ms": 200}}))
    started = time.monotonic()
    answer = await answer_of(tax, query(ZHANG))
    assert time.monotonic() - started >= 0.19
    assert len(answer.records) == 2


async def test_slow_fault_can_be_cut_by_a_deadline() -> None:
    tax = SandboxConnector("tax", dataset(faults={"tax": {"mode": "slow", "delay_ms": 5000}}))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(tax.query(query(ZHANG)), timeout=0.05)


async def test_flaky_fault_fails_the_first_calls_then_succeeds() -> None:
    tax = SandboxConnector("tax", dataset(faults={"tax": {"mode": "flaky", "fail_first": 2}}))
    for _ in range(2):
        with pytest.raises(DepartmentUnavailable):
            await tax.query(query(ZHANG))
    third = await answer_of(tax, query(ZHANG))
    assert len(third.records) == 2
    fourth = await answer_of(tax, query(ZHANG))
    assert len(fourth.records) == 2


async def test_refused_queries_do_not_use_up_flaky_failures() -> None:
    tax = SandboxConnector("tax", dataset(faults={"tax": {"mode": "flaky", "fail_first": 1}}))
    with pytest.raises(DepartmentRefused):
        await tax.query(query(ZHANG, reference=""))
    with pytest.raises(DepartmentUnavailable):
        await tax.query(query(ZHANG))
    assert len((await answer_of(tax, query(ZHANG))).records) == 2


def bank_dataset(seconds: float) -> SandboxDataset:
    raw = small()
    raw["banks"]["answer_after_seconds"] = seconds
    return SandboxDataset.from_json(raw)


async def test_asynchronous_bank_answers_with_a_ticket_then_the_answer() -> None:
    banks = SandboxConnector("banks", bank_dataset(0.3))
    assert banks.describe().asynchronous is True
    before = dt.datetime.now(dt.UTC)
    ticket = await banks.query(query(ZHANG, LI))
    assert isinstance(ticket, Ticket)
    assert ticket.department == "banks"
    assert (
        before + dt.timedelta(seconds=0.3) <= ticket.ready_after <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3)
    )
    early = await banks.poll(ticket)
    assert isinstance(early, Ticket)
    assert early.ready_after == ticket.ready_after
    await asyncio.sleep(0.35)
    answer = await banks.poll(early)
    assert isinstance(answer, DepartmentAnswer)
    assert [r.record_id for r in answer.records] == ["BK-0001"]


async def test_ticket_survives_a_new_connector() -> None:
    data = bank_dataset(0.05)
    ticket = await SandboxConnector("banks", data).query(query(LI))
    assert isinstance(ticket, Ticket)
    await asyncio.sleep(0.1)
    answer = await SandboxConnector("banks", data).poll(ticket)
    assert isinstance(answer, DepartmentAnswer)
    assert answer.records == ()  # only LI was asked: ZHANG's account is not in the answer


async def test_unknown_ticket_is_refused() -> None:
    banks = SandboxConnector("banks", bank_dataset(1))
    with pytest.raises(DepartmentRefused):
        await banks.poll(Ticket("banks", "not-a-ticket", dt.datetime.now(dt.UTC)))


async def test_forged_and_tampered_tickets_are_unknown_tickets() -> None:
    data = bank_dataset(0.01)
    banks = SandboxConnector("banks", data)
    ticket = await banks.query(query(LI))
    assert isinstance(ticket, Ticket)
    await asyncio.sleep(0.02)
    # Review S7: the ticket is opaque: no identity number in it, in any encoding its holder could undo.
    sealed = ticket.ticket_id.removeprefix("t2.")
    raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    assert LI.encode() not in raw and LI not in ticket.ticket_id and b'"ids"' not in raw
    # Anyone can write a ticket for someone else's records: unsealed (the old formats), or sealed wrongly.
    ready = dt.datetime.now(dt.UTC).isoformat()
    unsigned = base64.urlsafe_b64encode(json.dumps({"ids": [ZHANG], "ready": ready}).encode()).decode()
    flipped = bytearray(raw)
    flipped[-1] ^= 1
    tampered = "t2." + base64.urlsafe_b64encode(bytes(flipped)).decode().rstrip("=")
    for forged in (unsigned, f"{unsigned}.bWFj", tampered, ticket.ticket_id[:-4], "t2.", "not a ticket ☃"):
        with pytest.raises(DepartmentRefused, match="unknown ticket"):
            await banks.poll(Ticket("banks", forged, dt.datetime.now(dt.UTC)))
    answer = await banks.poll(ticket)
    assert isinstance(answer, DepartmentAnswer) and answer.records == ()


async def test_tickets_are_signed_with_the_given_key_or_one_derived_from_the_data() -> None:
    data = bank_dataset(0.01)
    key = b"k" * 32
    keyed = SandboxConnector("banks", data, ticket_key=key)
    ticket = await keyed.query(query(ZHANG))
    assert isinstance(ticket, Ticket)
    await asyncio.sleep(0.02)
    with pytest.raises(DepartmentRefused, match="unknown ticket"):
        await SandboxConnector("banks", data).poll(ticket)  # the dataset's key is another one
    answer = await connector_factory("banks", {"dataset": data, "ticket_key": key.decode()}).poll(ticket)
    assert isinstance(answer, DepartmentAnswer) and [r.record_id for r in answer.records] == ["BK-0001"]
    # Another dataset, another key: its tickets are not this sandbox's.
    other = small()
    other["banks"]["accounts"][0]["balance_fen"] += 1
    other["banks"]["answer_after_seconds"] = 0.01
    foreign = await SandboxConnector("banks", SandboxDataset.from_json(other)).query(query(ZHANG))
    assert isinstance(foreign, Ticket)
    with pytest.raises(DepartmentRefused, match="unknown ticket"):
        await SandboxConnector("banks", data).poll(foreign)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SandboxConnector("banks", data, ticket_key=b"short")


def test_the_derived_ticket_key_depends_on_the_records_only() -> None:
    raw = small()
    shuffled = copy.deepcopy(raw)
    shuffled["tax"]["income"].reverse()
    shuffled["banks"]["answer_after_seconds"] = 5
    shuffled["faults"] = {"tax": {"mode": "unavailable"}}
    key = dataset_ticket_key(SandboxDataset.from_json(raw))
    assert len(key) == 32
    assert dataset_ticket_key(SandboxDataset.from_json(shuffled)) == key
    raw["tax"]["income"][0]["amount_fen"] += 1
    assert dataset_ticket_key(SandboxDataset.from_json(raw)) != key


async def test_zero_answer_delay_answers_at_once() -> None:
    banks = SandboxConnector("banks", dataset())
    assert banks.describe().asynchronous is False
    answer = await answer_of(banks, query(ZHANG))
    assert [r.record_id for r in answer.records] == ["BK-0001"]


# --- at most one look-up per key ------------------------------------------------------------------------


async def test_a_repeated_key_is_answered_from_the_first_answer_without_a_look_up() -> None:
    tax = SandboxConnector("tax", dataset())
    first = await answer_of(tax, query(ZHANG, LI, key="v1.tax.1"))
    assert tax.looked_up == 2
    await asyncio.sleep(0.01)  # a second look-up would carry a later answered_at
    again = await answer_of(tax, query(ZHANG, LI, key="v1.tax.1"))
    assert again == first  # the same records, the same answered_at
    assert [r.record_id for r in again.records] == ["TX-2026-01", "TX-2026-02"]
    assert tax.looked_up == 2  # nobody looked up again
    other = await answer_of(tax, query(ZHANG, key="v1.tax.2"))  # a dispute asks again: another reason
    assert tax.looked_up == 3
    assert other.answered_at > first.answered_at


async def test_a_repeated_key_with_someone_new_looks_up_only_the_newcomer() -> None:
    tax = SandboxConnector("tax", dataset())
    await answer_of(tax, query(ZHANG, key="v1.tax.1"))
    answer = await answer_of(tax, query(ZHANG, LI, key="v1.tax.1"))
    assert tax.looked_up == 2
    assert [r.record_id for r in answer.records] == ["TX-2026-01", "TX-2026-02"]


async def test_a_shared_batch_counts_every_key_as_looked_up() -> None:
    police = SandboxConnector("police", dataset())
    batch = await answer_of(police, query(MING, DEFU, key="v1.police.1,v2.police.1"))
    assert police.looked_up == 2
    await asyncio.sleep(0.01)
    part = await answer_of(police, query(DEFU, key="v2.police.1"))
    assert police.looked_up == 2
    assert part.answered_at == batch.answered_at
    assert [r.id_number for r in part.records if isinstance(r, PersonRecord)] == [DEFU]
    mine = await answer_of(police, query(MING, key="v1.police.1"))
    assert [r.id_number for r in mine.records if isinstance(r, PersonRecord)] == [ZHANG, LI, MING]  # the register
    assert police.looked_up == 2


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "idempotency_key: required"),
        ("v1 tax 1", "idempotency_key: the key must be 1 to 200 letters"),
        ("v1.tax.1,,v2.tax.1", "idempotency_key: key 2 of 3 must be"),
        (",".join(f"v{i}.tax.1" for i in range(101)), "idempotency_key: 101 keys; at most 100"),
    ],
)
async def test_a_malformed_key_is_refused_before_anyone_is_looked_up(key: str, message: str) -> None:
    tax = SandboxConnector("tax", dataset())
    bad = DepartmentQuery("q1", (ZHANG,), "authorizations/a1", "ASSESSMENT", key)
    with pytest.raises(DepartmentRefused, match=message):
        await tax.query(bad)
    assert tax.looked_up == 0


async def test_the_slow_fault_looks_up_at_once_so_asking_again_gets_the_kept_answer() -> None:
    tax = SandboxConnector("tax", dataset(faults={"tax": {"mode": "slow", "delay_ms": 300}}))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(tax.query(query(ZHANG, key="v1.tax.1")), timeout=0.05)  # the caller gives up (dies)
    assert tax.looked_up == 1
    answer = await answer_of(tax, query(ZHANG, key="v1.tax.1"))
    assert tax.looked_up == 1
    assert len(answer.records) == 2


async def test_a_repeated_key_gets_the_same_ticket_then_its_answer() -> None:
    banks = SandboxConnector("banks", bank_dataset(0.2))
    ticket = await banks.query(query(ZHANG, LI, key="v1.banks.1"))
    again = await banks.query(query(LI, ZHANG, key="v1.banks.1"))  # the same people, in any order
    assert isinstance(ticket, Ticket) and isinstance(again, Ticket)
    assert again.ticket_id == ticket.ticket_id and again.ready_after == ticket.ready_after
    assert banks.looked_up == 0  # a ticket looks nobody up until it is ready
    await asyncio.sleep(max(0.0, (ticket.ready_after - dt.datetime.now(dt.UTC)).total_seconds()) + 0.02)
    answer = await banks.poll(ticket)
    assert isinstance(answer, DepartmentAnswer)
    assert [r.record_id for r in answer.records] == ["BK-0001"]
    assert banks.looked_up == 2
    await asyncio.sleep(0.01)
    assert await banks.poll(ticket) == answer  # polled again: the kept answer
    assert await banks.query(query(ZHANG, LI, key="v1.banks.1")) == answer  # asked again: the answer, once ready
    assert banks.looked_up == 2
    other = await banks.query(query(ZHANG, LI, key="v1.banks.2"))
    assert isinstance(other, Ticket) and other.ticket_id != ticket.ticket_id


async def test_a_ticket_carries_its_key_to_a_new_connector() -> None:
    data = bank_dataset(0.05)
    ticket = await SandboxConnector("banks", data).query(query(ZHANG, key="v1.banks.1"))
    assert isinstance(ticket, Ticket)
    await asyncio.sleep(0.1)
    restarted = SandboxConnector("banks", data)
    answer = await restarted.poll(ticket)
    assert isinstance(answer, DepartmentAnswer)
    # the answer is kept under the ticket's key: asking again with it looks nobody up
    assert await restarted.query(query(ZHANG, key="v1.banks.1")) == answer
    assert restarted.looked_up == 1


async def test_the_key_store_is_bounded() -> None:
    tax = SandboxConnector("tax", dataset(), max_pairs=2)
    for key in ("k1", "k2", "k3"):
        await answer_of(tax, query(ZHANG, key=key))
    await answer_of(tax, query(ZHANG, key="k3"))
    assert tax.looked_up == 3
    await answer_of(tax, query(ZHANG, key="k1"))  # forgotten, the oldest: looked up again
    assert tax.looked_up == 4


async def test_the_query_log_gets_a_line_per_look_up(tmp_path: Path) -> None:
    log = QueryLog(tmp_path / "queries.jsonl")
    tax = SandboxConnector("tax", dataset(), query_log=log)
    await answer_of(tax, query(ZHANG, LI, key="v1.tax.1,v2.tax.1"))
    await answer_of(tax, query(LI, key="v2.tax.1"))
    await answer_of(tax, query(LI, key="v3.tax.1"))
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "queries.jsonl").read_text().splitlines()]
    assert [(line["key"], line["subject"]) for line in lines] == [
        ("v1.tax.1,v2.tax.1", subject_digest(ZHANG)),
        ("v1.tax.1,v2.tax.1", subject_digest(LI)),
        ("v3.tax.1", subject_digest(LI)),
    ]
    assert {line["department"] for line in lines} == {"tax"}
