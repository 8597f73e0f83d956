"""verifier.pipeline.answers: which answers are accepted, and what is stored of each outcome."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
from types import SimpleNamespace

import pytest
from harness import example_request, example_sandbox

from connectors import DepartmentAnswer, DepartmentQuery, SandboxDataset, Ticket, sandbox_connectors
from connectors.answers import MAX_RECORDS_PER_ANSWER, AnswerRejected, check_answer
from connectors.departments import DepartmentCatalogue
from connectors.records import TaxIncomeRecord
from verifier.pipeline.answers import (
    ANSWER_DISCARDED,
    POLLING_STOPPED,
    Outcome,
    Settled,
    checked,
    outcome_of,
    stored_rows,
    withdrawn_from,
)
from verifier.pipeline.plan import Scope
from verifier.request import parse_request
from verifier.vocabulary import DepartmentStatus

REQUEST = parse_request(example_request())
MEMBERS = tuple(m.id_number for m in REQUEST.members)
APPLICANT, SPOUSE = MEMBERS[0], MEMBERS[1]
SCOPE = Scope("worker", "peer", "v1", "a1", "tax")
AT = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
TAX_DEPARTMENT = DepartmentCatalogue()["tax"]


def answer_of(department: str, ids: tuple[str, ...] = MEMBERS) -> DepartmentAnswer:
    connector = sandbox_connectors(SandboxDataset.from_json(example_sandbox()))[department]
    reply = asyncio.run(connector.query(DepartmentQuery("q1", ids, "a1", "ASSESSMENT", f"v1.{department}.1")))
    assert isinstance(reply, DepartmentAnswer)
    return reply


TAX = answer_of("tax")


def tax_record(record_id: str, id_number: str) -> TaxIncomeRecord:
    return TaxIncomeRecord(record_id=record_id, id_number=id_number, period="2026-10", category="wages", amount_fen=1)


def test_a_sound_answer_is_accepted() -> None:
    check_answer(TAX_DEPARTMENT, MEMBERS, TAX)
    assert checked(TAX_DEPARTMENT, MEMBERS, TAX) == Outcome(DepartmentStatus.OK, answer=TAX)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (dataclasses.replace(TAX, department="banks"), "answer is labelled 'banks'"),
        (dataclasses.replace(TAX, records=TAX.records * (MAX_RECORDS_PER_ANSWER + 1)), "more than 10000 records"),
        (
            dataclasses.replace(TAX, records=answer_of("banks").records),
            "kind account, which tax does not declare",
        ),
        (dataclasses.replace(TAX, records=(TAX.records[0], TAX.records[0])), "duplicate record id"),
        (dataclasses.replace(TAX, records=(tax_record("TX-9", "110101199003070000"),)), "invalid identity number"),
        (dataclasses.replace(TAX, records=(tax_record("TX-9", "110101199003070011"),)), "person not asked about"),
        (
            dataclasses.replace(TAX, records=(dataclasses.replace(tax_record("TX-9", APPLICANT), category="x"),)),
            "TX-9",
        ),
    ],
    ids=["label", "oversize", "foreign", "duplicate", "bad-id", "stranger", "bad-field"],
)
def test_an_answer_breaking_the_record_rules_is_rejected(answer: DepartmentAnswer, message: str) -> None:
    with pytest.raises(AnswerRejected, match=message):
        check_answer(TAX_DEPARTMENT, MEMBERS, answer)
    outcome = checked(TAX_DEPARTMENT, MEMBERS, answer)
    assert outcome.status == DepartmentStatus.UNAVAILABLE and outcome.detail.startswith("answer rejected: ")
    assert outcome.answer is None


def settled(outcome: Outcome, asked: tuple[str, ...] = MEMBERS, not_queried: tuple[str, ...] = ()) -> Settled:
    return Settled("tax", asked, outcome, SCOPE, not_queried)


def test_nothing_withdrawn_leaves_the_outcome_as_it_is() -> None:
    item = settled(Outcome(DepartmentStatus.OK, answer=TAX))
    assert withdrawn_from(item, MEMBERS, (), TAX_DEPARTMENT) is item


def test_a_pending_answer_whose_consent_ended_stops_being_polled() -> None:
    ticket = Ticket("tax", "t-1", AT)
    item = withdrawn_from(
        settled(Outcome(DepartmentStatus.PENDING, ticket=ticket), not_queried=("X",)), (), MEMBERS, TAX_DEPARTMENT
    )
    assert (item.outcome.status, item.outcome.detail) == (DepartmentStatus.NOT_QUERIED, POLLING_STOPPED)
    assert item.outcome.withdrawn == MEMBERS and item.not_queried == ("X", *MEMBERS)


def test_an_answer_about_nobody_still_consenting_is_discarded() -> None:
    item = withdrawn_from(settled(Outcome(DepartmentStatus.OK, answer=TAX)), (), MEMBERS, TAX_DEPARTMENT)
    assert (item.outcome.status, item.outcome.detail, item.outcome.answer) == (
        DepartmentStatus.NOT_QUERIED,
        ANSWER_DISCARDED,
        None,
    )


def test_only_the_records_of_members_still_consenting_are_kept() -> None:
    mixed = dataclasses.replace(TAX, records=(*TAX.records, tax_record("TX-S", SPOUSE)))
    item = withdrawn_from(settled(Outcome(DepartmentStatus.OK, answer=mixed)), (APPLICANT,), (SPOUSE,), TAX_DEPARTMENT)
    assert item.outcome.status == DepartmentStatus.OK
    assert item.outcome.answer is not None and {r.subject for r in item.outcome.answer.records} == {APPLICANT}
    assert item.outcome.withdrawn == (SPOUSE,) and item.not_queried == (SPOUSE,)


def test_an_answer_is_stored_with_its_records_and_their_digest() -> None:
    rows, events = stored_rows("v1", [settled(Outcome(DepartmentStatus.OK, answer=TAX))], AT)
    (row,), ((event, subjects),) = rows, events
    assert (row["status"], row["record_count"], row["answered_at"], row["ticket_id"]) == (
        DepartmentStatus.OK,
        len(TAX.records),
        TAX.answered_at,
        None,
    )
    body = str(row["records_json"])
    assert [item["record"]["record_id"] for item in json.loads(body)] == [r.record_id for r in TAX.records]
    assert event.kind == "DEPARTMENT_ANSWER_RECEIVED" and event.department == "tax"
    # The answer as stored, bound to its entry (issue 12 item 4; docs/audit.md): canonical JSON of its columns.
    stored = {
        "answered_at": TAX.answered_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "department": "tax",
        "detail": "",
        "not_queried_json": "[]",
        "records_json": body,
        "status": "ok",
        "verification": "v1",
    }
    canonical = json.dumps(stored, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert event.details == {
        "records": len(TAX.records),
        "sha256": hashlib.sha256(body.encode()).hexdigest(),
        "answer_sha256": hashlib.sha256(canonical).hexdigest(),
    }
    assert subjects == MEMBERS


def test_a_pending_answer_keeps_its_ticket_and_a_failure_its_reason() -> None:
    ticket = Ticket("tax", "t-1", AT)
    withdrawn = Outcome(DepartmentStatus.NOT_QUERIED, POLLING_STOPPED, withdrawn=(SPOUSE,))
    items = [
        settled(Outcome(DepartmentStatus.PENDING, ticket=ticket)),
        settled(Outcome(DepartmentStatus.UNAVAILABLE, "down")),
        settled(withdrawn, asked=(SPOUSE,), not_queried=(SPOUSE,)),
    ]
    rows, events = stored_rows("v1", items, AT)
    assert (rows[0]["ticket_id"], rows[0]["ticket_ready_after"], rows[0]["records_json"]) == ("t-1", AT, "[]")
    assert [(e.kind, e.details) for e, _ in events] == [
        ("DEPARTMENT_ANSWER_PENDING", {"ready_after": AT.isoformat()}),
        ("DEPARTMENT_QUERY_FAILED", {"reason": "down"}),
        ("DEPARTMENT_QUERY_FAILED", {"reason": POLLING_STOPPED}),
        ("CONSENT_DECISION", {"withdrawn": 1, "when": POLLING_STOPPED}),
    ]
    assert rows[2]["not_queried_json"] == json.dumps([SPOUSE])


def test_a_stored_row_reads_back_as_the_outcome_that_was_stored() -> None:
    item = settled(Outcome(DepartmentStatus.OK, answer=TAX), not_queried=(SPOUSE,))
    (row,), _ = stored_rows("v1", [item], AT)
    assert outcome_of(SimpleNamespace(**row)) == item.source()
    # A department still being asked reads as pending.
    asking = SimpleNamespace(**(row | {"status": "querying", "records_json": "[]"}))
    assert outcome_of(asking).status == DepartmentStatus.PENDING and outcome_of(asking).records == ()
