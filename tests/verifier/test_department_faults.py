"""Departments that fail, and departments whose answers are wrong: through the gRPC API, on both databases."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from harness import Harness, example_request, example_sandbox, running_service

from connectors.answers import MAX_RECORDS_PER_ANSWER
from connectors.base import ConnectorDescription, DepartmentAnswer, DepartmentQuery, Ticket
from connectors.departments import DepartmentCatalogue
from connectors.records import TaxIncomeRecord
from connectors.resilience import ResilientConnector, SharedBatches
from hedui.v1 import audit_pb2, verification_pb2
from verifier.protojson import message_to_plain

pytestmark = pytest.mark.integration

STRANGER = "110101199003077774"


async def report_of(h: Harness, name: str) -> dict[str, Any]:
    report = await h.verifications.GetReport(
        verification_pb2.GetReportRequest(name=f"{name}/reports/latest"), metadata=h.metadata
    )
    return message_to_plain(report)


async def test_a_flaky_department_succeeds_after_retries(db_url: str) -> None:
    sandbox = example_sandbox()
    sandbox["faults"] = {"tax": {"mode": "flaky", "fail_first": 2}}
    async with running_service(db_url, sandbox) as h:
        v = await h.run(example_request())
        report = await report_of(h, v.name)
        events = await h.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(page_size=500, verification=v.name, department="tax"), metadata=h.metadata
        )
    tax = next(s for s in report["sources"] if s["department"] == "tax")
    assert tax["status"] == "ok" and tax["records"] > 0
    assert "SOURCE_UNAVAILABLE" not in {f["code"] for f in report["flags"]}
    assert report["assessment"]["classification"] == "DIBAO_AFTER_DEDUCTIONS"
    # One query in the log: the retries are the connector layer's business, not new queries.
    kinds = [e.kind for e in events.events]
    assert kinds.count("DEPARTMENT_QUERY_SENT") == 1 and kinds.count("DEPARTMENT_ANSWER_RECEIVED") == 1


class WrongTax:
    """A tax connector that answers with whatever records it is given."""

    def __init__(self, records: list[TaxIncomeRecord]) -> None:
        self.records = records

    def describe(self) -> ConnectorDescription:
        return ConnectorDescription("tax", ("income",))

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        return DepartmentAnswer("tax", tuple(self.records), dt.datetime.now(dt.UTC))

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        raise AssertionError("no tickets")


def wages(record_id: str, who: str, amount: int = 300_000) -> TaxIncomeRecord:
    return TaxIncomeRecord(record_id=record_id, id_number=who, period="2026-03", category="wages", amount_fen=amount)


APPLICANT = example_request()["members"][0]["id_number"]
WRONG_ANSWERS = {
    "negative money": ([wages("T1", APPLICANT, amount=-1)], "amount_fen"),
    "duplicate record ids": ([wages("T1", APPLICANT), wages("T1", APPLICANT)], "duplicate record id T1"),
    "person not asked about": ([wages("T1", STRANGER)], "not asked about"),
    "malformed record": ([dataclasses.replace(wages("T1", APPLICANT), period="March")], "period"),
    "oversized answer": (
        [wages(f"T{i}", APPLICANT) for i in range(MAX_RECORDS_PER_ANSWER + 1)],
        f"more than {MAX_RECORDS_PER_ANSWER} records",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG_ANSWERS))
async def test_a_wrong_answer_is_rejected_for_its_department_and_the_rest_stands(db_url: str, case: str) -> None:
    records, reason = WRONG_ANSWERS[case]
    async with running_service(db_url, example_sandbox()) as h:
        h.service.connectors["tax"] = SharedBatches(ResilientConnector(WrongTax(records)), DepartmentCatalogue()["tax"])
        v = await h.run(example_request())
        report = await report_of(h, v.name)
        failed = await h.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(
                page_size=50, verification=v.name, department="tax", kind="DEPARTMENT_QUERY_FAILED"
            ),
            metadata=h.metadata,
        )
    statuses = {s["department"]: s for s in report["sources"]}
    tax = statuses.pop("tax")
    assert tax["status"] == "unavailable" and "answer rejected" in tax["detail"] and reason in tax["detail"]
    assert tax["records"] == 0
    assert {s["status"] for s in statuses.values()} == {"ok"}
    # Not one of the rejected records reached the report.
    assert '"T1"' not in json.dumps(report)
    assert ("SOURCE_UNAVAILABLE", "tax") in {(f["code"], f["department"]) for f in report["flags"]}
    assert len(failed.events) == 1 and reason.encode() in failed.events[0].entry
