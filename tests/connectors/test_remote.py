"""Remote connectors: the reference server (connectors/server.py) and the pinned TLS client (connectors/remote.py)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from connector_process import connector_server, new_key, query_log_lines, repeated_look_ups
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from harness import SANDBOX_FILE, example_request, example_sandbox, running_service

from connectors.base import (
    Connector,
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
)
from connectors.departments import DEFAULT_DEPARTMENTS, DepartmentCatalogue
from connectors.idempotency import subject_digest
from connectors.records import RECORD_TYPES, TaxIncomeRecord, record_from_plain
from connectors.registry import build_connectors
from connectors.remote import RemoteConnector, connector_factory, rpc_error
from connectors.sandbox import SandboxConnector, SandboxDataset
from connectors.server import ConnectorServer, start_connector_server
from connectors.tls import certificate_fingerprint, self_signed_certificate, target_name_override
from connectors.wire import WireError, record_from_message, record_to_message
from hedui.v1 import connector_pb2, connector_pb2_grpc, records_pb2, verification_pb2
from verifier.cli import main
from verifier.protojson import message_to_plain

ZHANG = "533401197803120118"
LI = "53340119800605022X"
STRANGER = "990000190001010016"

CATALOGUE = DepartmentCatalogue()


def ask(*ids: str, reference: str = "authorizations/a1", key: str | None = None) -> DepartmentQuery:
    """A query; a new asking (its own idempotency key) unless ``key`` is given."""
    return DepartmentQuery(
        query_id="q1",
        id_numbers=ids,
        authorization_reference=reference,
        purpose="ASSESSMENT",
        idempotency_key=key or new_key(),
    )


@pytest.fixture(scope="module")
def key_pair() -> tuple[bytes, bytes]:
    return self_signed_certificate()


@contextlib.asynccontextmanager
async def serving(connector: Connector, key_pair: tuple[bytes, bytes]) -> AsyncIterator[ConnectorServer]:
    certificate, key = key_pair
    server = await start_connector_server(connector, "127.0.0.1:0", certificate, key)
    try:
        yield server
    finally:
        await server.stop(0)


@contextlib.asynccontextmanager
async def client(server: ConnectorServer, pem: bytes, **options: Any) -> AsyncIterator[RemoteConnector]:
    connector = RemoteConnector(f"127.0.0.1:{server.port}", pem, **options)
    try:
        yield connector
    finally:
        await connector.close()


def sandbox(**changes: Any) -> SandboxDataset:
    raw = example_sandbox()
    raw.update(changes)
    return SandboxDataset.from_json(raw)


# --- records on the wire ----------------------------------------------------------------------------

EXAMPLES: dict[str, dict[str, Any]] = {
    "person": {"record_id": "H1:1", "id_number": ZHANG, "name": "张建国", "hukou_id": "H1", "relation_to_head": "head",
               "status": "deceased", "status_date": "2025-02-14"},
    "property": {"record_id": "RE-1", "owner_id": ZHANG, "usage": "residential", "area_m2": 62.5, "value_fen": 1,
                 "acquired": "2009-05-01", "disposed": None},
    "provident_fund": {"record_id": "PF-1", "id_number": ZHANG, "period": "2026-01", "employer": None,
                       "employer_part_fen": 0, "personal_part_fen": 5},
    "rental": {"record_id": "RN-1", "owner_id": ZHANG, "period": "2026-01", "rent_fen": 70000},
    "tax_income": {"record_id": "TX-1", "id_number": ZHANG, "period": "2026-01", "category": "wages", "amount_fen": 9},
    "enterprise": {"record_id": "EN-1", "id_number": ZHANG, "enterprise": "云南某公司", "role": "shareholder",
                   "registered": None},
    "vehicle": {"record_id": "VH-1", "owner_id": ZHANG, "plate": "云R·3K210", "type": "car", "use": "private",
                "value_fen": 8, "registered": "2021-03-02"},
    "account": {"record_id": "BK-1", "id_number": ZHANG, "institution": "信用社", "kind": "wealth",
                "balance_fen": 0, "as_of": "2026-10-31"},
    "insurance_premium": {"record_id": "IP-1", "id_number": ZHANG, "insurer": "某保险", "period": "2026-02",
                          "amount_fen": 3},
    "contribution": {"record_id": "SS-1", "id_number": ZHANG, "period": "2026-03", "scheme": "enterprise_employee",
                     "employer": "某厂", "base_fen": 400000, "employer_part_fen": 64000, "personal_part_fen": 32000},
    "pension": {"record_id": "PN-1", "id_number": ZHANG, "period": "2026-03", "amount_fen": 180000},
    "benefit": {"record_id": "BF-1", "id_number": ZHANG, "period": "2026-03", "kind": "unemployment",
                "amount_fen": 1},
}  # fmt: skip


def test_every_record_kind_has_an_example() -> None:
    assert set(EXAMPLES) == set(RECORD_TYPES)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_every_record_kind_survives_the_wire(kind: str) -> None:
    record = record_from_plain(kind, EXAMPLES[kind])
    department = next(d.id for d in DEFAULT_DEPARTMENTS if d.answers_with(kind))
    message = records_pb2.DepartmentRecord.FromString(record_to_message(record, department).SerializeToString())
    assert message.WhichOneof("record") == kind
    assert message.department == department
    assert record_from_message(message, department, "r", CATALOGUE[department]) == record


def _message(kind: str, department: str, **fields: Any) -> records_pb2.DepartmentRecord:
    message = record_to_message(record_from_plain(kind, EXAMPLES[kind]), department)
    for name, value in fields.items():
        setattr(getattr(message, kind), name, value)
    return message


@pytest.mark.parametrize(
    ("message", "path", "text"),
    [
        (_message("tax_income", "tax", amount_fen=-5), "r.tax_income.amount_fen", "must not be negative, got -5"),
        (_message("tax_income", "tax", category="bribes"), "r.tax_income.category", "is not one of"),
        (_message("tax_income", "tax", period="2026-13"), "r.tax_income.period", "is not a period"),
        (_message("tax_income", "tax", record_id=""), "r.tax_income.record_id", "must not be empty"),
        (_message("tax_income", "housing"), "r.department", "the answer is from tax"),
        (_message("account", "tax"), "r.account", "not one of tax's record kinds"),
        (records_pb2.DepartmentRecord(department="tax"), "r", "no record"),
        (_message("enterprise", "tax", registered="2021-02-30"), "r.enterprise.registered", "is not a date"),
    ],
)
def test_records_from_the_wire_are_checked(message: records_pb2.DepartmentRecord, path: str, text: str) -> None:
    with pytest.raises(WireError) as caught:
        record_from_message(message, "tax", "r", CATALOGUE["tax"])
    assert caught.value.path == path
    assert text in caught.value.message


def test_an_unset_optional_field_is_absent_not_empty() -> None:
    message = _message("vehicle", "vehicles")
    message.vehicle.ClearField("registered")
    record = record_from_message(message, "vehicles", "r", CATALOGUE["vehicles"])
    assert record.registered is None  # type: ignore[union-attr]
    message.vehicle.registered = "2021-02-30"
    with pytest.raises(WireError, match="is not a date"):
        record_from_message(message, "vehicles", "r", CATALOGUE["vehicles"])


# --- the reference server and the client, in process --------------------------------------------------


async def test_remote_tax_answers_with_the_sandbox_records(key_pair: tuple[bytes, bytes]) -> None:
    data = sandbox()
    async with serving(SandboxConnector("tax", data), key_pair) as server:
        remote = await RemoteConnector.connect(f"127.0.0.1:{server.port}", key_pair[0], department="tax")
        try:
            assert remote.describe() == SandboxConnector("tax", data).describe()
            answer = await remote.query(ask(ZHANG, LI, STRANGER))
        finally:
            await remote.close()
    assert isinstance(answer, DepartmentAnswer)
    assert answer.department == "tax"
    assert answer.records == data.records["tax"]
    assert answer.answered_at.tzinfo is not None
    assert abs((dt.datetime.now(dt.UTC) - answer.answered_at).total_seconds()) < 10


async def test_describe_is_fetched_once_and_learns_the_department(key_pair: tuple[bytes, bytes]) -> None:
    calls = 0

    class Counting(SandboxConnector):
        def describe(self) -> ConnectorDescription:
            nonlocal calls
            calls += 1
            return dataclasses.replace(super().describe(), max_identities_per_second=500, max_concurrent_queries=3)

    async with serving(Counting("vehicles", sandbox()), key_pair) as server, client(server, key_pair[0]) as remote:
        with pytest.raises(RuntimeError):
            remote.describe()  # department not known before start()
        await remote.start()
        await remote.start()
        description = remote.describe()
        for _ in range(3):
            await remote.query(ask(ZHANG))
    assert remote.department == "vehicles"
    assert description.max_identities_per_second == 500
    assert description.max_concurrent_queries == 3
    assert description.shared_batches is True
    assert calls == 1 + 3  # one Describe; the server checks each query's batch size against describe()


async def test_a_provisional_description_until_started(key_pair: tuple[bytes, bytes]) -> None:
    remote = RemoteConnector("127.0.0.1:1", key_pair[0], department="banks")
    assert remote.describe().department == "banks"
    assert remote.describe().max_batch_size == ConnectorDescription("banks", ()).max_batch_size


async def test_a_server_of_another_department_is_refused(key_pair: tuple[bytes, bytes]) -> None:
    async with (
        serving(SandboxConnector("tax", sandbox()), key_pair) as server,
        client(server, key_pair[0], department="banks") as remote,
    ):
        with pytest.raises(DepartmentUnavailable) as caught:
            await remote.query(ask(ZHANG))
    assert caught.value.transient is False
    assert "serves tax, not banks" in caught.value.reason


async def test_no_authorization_reference_is_refused_with_permission_denied(key_pair: tuple[bytes, bytes]) -> None:
    async with serving(SandboxConnector("tax", sandbox()), key_pair) as server:
        async with client(server, key_pair[0], department="tax") as remote:
            with pytest.raises(DepartmentRefused) as caught:
                await remote.query(ask(ZHANG, reference=""))
        # the status itself, as a server in any language must send it
        channel = grpc.aio.secure_channel(
            f"127.0.0.1:{server.port}", grpc.ssl_channel_credentials(root_certificates=key_pair[0])
        )
        stub = connector_pb2_grpc.ConnectorServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.aio.AioRpcError) as raw:
            await stub.Query(connector_pb2.QueryRequest(id_numbers=[ZHANG], authorization_reference=" "))
        await channel.close()
    assert "PERMISSION_DENIED" in caught.value.reason
    assert raw.value.code() == grpc.StatusCode.PERMISSION_DENIED
    status = rpc_status.from_call(raw.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("NO_AUTHORIZATION_REFERENCE", "hedui.connectors")


async def test_bad_batches_are_invalid_arguments(key_pair: tuple[bytes, bytes]) -> None:
    async with (
        serving(SandboxConnector("tax", sandbox()), key_pair) as server,
        client(server, key_pair[0], department="tax") as remote,
    ):
        with pytest.raises(DepartmentRefused, match=r"INVALID_ARGUMENT: 101 identity numbers; .* at most 100"):
            await remote.query(ask(*[ZHANG] * 101))
        with pytest.raises(DepartmentRefused, match="INVALID_ARGUMENT: no identity numbers"):
            await remote.query(ask())
        with pytest.raises(DepartmentRefused, match="INVALID_ARGUMENT"):
            await remote.query(ask("x" * 65))


@pytest.mark.parametrize(
    ("fault", "transient", "text"),
    [
        ({"mode": "unavailable"}, True, "UNAVAILABLE: department unavailable (sandbox fault)"),
        ({"mode": "flaky", "fail_first": 5}, True, "UNAVAILABLE: transient failure 1 of 5"),
    ],
)
async def test_department_errors_keep_their_kind(
    key_pair: tuple[bytes, bytes], fault: dict[str, Any], transient: bool, text: str
) -> None:
    async with (
        serving(SandboxConnector("tax", sandbox(faults={"tax": fault})), key_pair) as server,
        client(server, key_pair[0], department="tax") as remote,
    ):
        with pytest.raises(DepartmentUnavailable) as caught:
            await remote.query(ask(ZHANG))
    assert caught.value.transient is transient
    assert text in caught.value.reason


class Scripted:
    """A connector whose query does what the test says (for errors and malformed answers)."""

    def __init__(self, behaviour: Callable[[], Any], department: str = "tax") -> None:
        self.behaviour = behaviour
        self.department = department

    def describe(self) -> ConnectorDescription:
        return ConnectorDescription(self.department, ("income",))

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        result = self.behaviour()
        assert isinstance(result, DepartmentAnswer | Ticket)
        return result

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        return await self.query(ask(ZHANG))


def _raise(exc: Exception) -> Callable[[], Any]:
    def behaviour() -> Any:
        raise exc

    return behaviour


@pytest.mark.parametrize(
    ("exc", "kind", "transient", "text"),
    [
        (DepartmentUnavailable("tax", "mainframe maintenance", transient=False), DepartmentUnavailable, False,
         "INTERNAL: mainframe maintenance"),
        (DepartmentRefused("tax", "purpose not allowed"), DepartmentRefused, None, "PERMISSION_DENIED: purpose not"),
        (KeyError("secret internal detail"), DepartmentUnavailable, False, "INTERNAL: the connector failed"),
    ],
)  # fmt: skip
async def test_connector_exceptions_become_status_codes(
    key_pair: tuple[bytes, bytes], exc: Exception, kind: type[Exception], transient: bool | None, text: str
) -> None:
    async with (
        serving(Scripted(_raise(exc)), key_pair) as server,
        client(server, key_pair[0], department="tax") as remote,
    ):
        with pytest.raises(kind) as caught:
            await remote.query(ask(ZHANG))
    assert text in str(caught.value)
    assert "secret" not in str(caught.value)
    if transient is not None:
        assert caught.value.transient is transient  # type: ignore[attr-defined]


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(
    ("code", "kind", "transient"),
    [
        (grpc.StatusCode.UNAVAILABLE, DepartmentUnavailable, True),
        (grpc.StatusCode.DEADLINE_EXCEEDED, DepartmentUnavailable, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, DepartmentUnavailable, True),
        (grpc.StatusCode.ABORTED, DepartmentUnavailable, True),
        (grpc.StatusCode.INTERNAL, DepartmentUnavailable, False),
        (grpc.StatusCode.UNKNOWN, DepartmentUnavailable, False),
        (grpc.StatusCode.UNIMPLEMENTED, DepartmentUnavailable, False),
        (grpc.StatusCode.PERMISSION_DENIED, DepartmentRefused, None),
        (grpc.StatusCode.INVALID_ARGUMENT, DepartmentRefused, None),
        (grpc.StatusCode.UNAUTHENTICATED, DepartmentRefused, None),
        (grpc.StatusCode.NOT_FOUND, DepartmentRefused, None),
    ],
)
def test_status_codes_map_to_connector_exceptions(
    code: grpc.StatusCode, kind: type[Exception], transient: bool | None
) -> None:
    error = rpc_error("tax", "Query", _rpc_error(code, "line one\nline\x00 two " + "x" * 500))
    assert type(error) is kind
    assert error.reason.startswith(f"Query: {code.name}: line one line two")
    assert "\n" not in error.reason and "\x00" not in error.reason and len(error.reason) < 350
    if transient is not None:
        assert isinstance(error, DepartmentUnavailable) and error.transient is transient


def test_an_oversized_answer_is_not_transient() -> None:
    error = rpc_error(
        "tax", "Query", _rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (5 vs. 4)")
    )
    assert isinstance(error, DepartmentUnavailable) and error.transient is False
    assert "larger than 4194304 bytes" in error.reason


class RawServicer(connector_pb2_grpc.ConnectorServiceServicer):
    """A department server written badly: answers whatever the test hands it."""

    def __init__(self, description: connector_pb2.ConnectorDescription, response: connector_pb2.QueryResponse) -> None:
        self.description = description
        self.response = response

    async def Describe(self, request: Any, context: Any) -> connector_pb2.ConnectorDescription:  # noqa: N802
        return self.description

    async def Query(self, request: Any, context: Any) -> connector_pb2.QueryResponse:  # noqa: N802
        return self.response

    async def Poll(self, request: Any, context: Any) -> connector_pb2.QueryResponse:  # noqa: N802
        return self.response


GOOD_DESCRIPTION = connector_pb2.ConnectorDescription(
    department="tax", data_categories=["income"], max_batch_size=10, max_queries_per_second=5
)


@contextlib.asynccontextmanager
async def raw_server(
    key_pair: tuple[bytes, bytes], response: connector_pb2.QueryResponse, description: Any = GOOD_DESCRIPTION
) -> AsyncIterator[int]:
    server = grpc.aio.server()
    connector_pb2_grpc.add_ConnectorServiceServicer_to_server(RawServicer(description, response), server)  # type: ignore[no-untyped-call]
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pair[1], key_pair[0])]))
    await server.start()
    try:
        yield port
    finally:
        await server.stop(0)


def _answer(*records: records_pb2.DepartmentRecord, answered_at: str = "2026-11-23T08:00:00Z") -> Any:
    return connector_pb2.QueryResponse(answer=connector_pb2.Answer(records=list(records), answered_at=answered_at))


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (_answer(_message("tax_income", "tax", amount_fen=-1)),
         "malformed answer: answer.records[0].tax_income.amount_fen: must not be negative, got -1"),
        (_answer(_message("tax_income", "tax"), _message("account", "tax")),
         "malformed answer: answer.records[1].account: kind account is not one of tax's record kinds"),
        (_answer(_message("tax_income", "tax"), answered_at=""),
         "malformed answer: answer.answered_at: '' is not an RFC 3339 instant"),
        (_answer(answered_at="2026-11-23T08:00:00"),
         "malformed answer: answer.answered_at: '2026-11-23T08:00:00' has no time zone offset"),
        (connector_pb2.QueryResponse(), "malformed answer: result: holds neither an answer nor a ticket"),
        (connector_pb2.QueryResponse(ticket=connector_pb2.Ticket(ticket_id="")),
         "malformed answer: ticket.ticket_id: must not be empty"),
        (connector_pb2.QueryResponse(ticket=connector_pb2.Ticket(ticket_id="t", ready_after="tomorrow")),
         "malformed answer: ticket.ready_after: 'tomorrow' is not an RFC 3339 instant"),
    ],
)  # fmt: skip
async def test_malformed_answers_are_unavailable_and_not_transient(
    key_pair: tuple[bytes, bytes], response: connector_pb2.QueryResponse, reason: str
) -> None:
    async with raw_server(key_pair, response) as port:
        remote = RemoteConnector(f"127.0.0.1:{port}", key_pair[0], department="tax")
        try:
            with pytest.raises(DepartmentUnavailable) as caught:
                await remote.query(ask(ZHANG))
        finally:
            await remote.close()
    assert caught.value.transient is False
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("description", "reason"),
    [
        (connector_pb2.ConnectorDescription(department="customs", max_batch_size=1, max_queries_per_second=1),
         "department: 'customs' is not one of"),
        (connector_pb2.ConnectorDescription(department="tax", max_batch_size=0, max_queries_per_second=1),
         "max_batch_size: must be at least 1, got 0"),
        (connector_pb2.ConnectorDescription(department="tax", max_batch_size=1, max_queries_per_second=1,
                                            max_concurrent_queries=-2),
         "max_concurrent_queries: must not be negative, got -2"),
    ],
)  # fmt: skip
async def test_malformed_descriptions_are_refused(
    key_pair: tuple[bytes, bytes], description: connector_pb2.ConnectorDescription, reason: str
) -> None:
    async with raw_server(key_pair, _answer(), description) as port:
        remote = RemoteConnector(f"127.0.0.1:{port}", key_pair[0], department="tax")
        try:
            with pytest.raises(DepartmentUnavailable) as caught:
                await remote.start()
        finally:
            await remote.close()
    assert caught.value.transient is False
    assert caught.value.reason.startswith("malformed description: " + reason)


async def test_a_server_predating_the_new_limits_gets_the_defaults(key_pair: tuple[bytes, bytes]) -> None:
    async with raw_server(key_pair, _answer()) as port:
        remote = await RemoteConnector.connect(f"127.0.0.1:{port}", key_pair[0])
        await remote.close()
    d = remote.describe()
    assert (d.department, d.max_batch_size, d.max_queries_per_second) == ("tax", 10, 5)
    assert (d.max_concurrent_queries, d.max_identities_per_second, d.shared_batches) == (8, 0, False)


async def test_an_oversized_answer_is_rejected(key_pair: tuple[bytes, bytes]) -> None:
    record = _message("tax_income", "tax")
    record.tax_income.record_id = "x" * 1000
    async with raw_server(key_pair, _answer(*[record] * 5000)) as port:
        remote = RemoteConnector(f"127.0.0.1:{port}", key_pair[0], department="tax")
        try:
            with pytest.raises(DepartmentUnavailable) as caught:
                await remote.query(ask(ZHANG))
        finally:
            await remote.close()
    assert caught.value.transient is False
    assert "larger than 4194304 bytes" in caught.value.reason


async def test_a_slow_department_is_cut_off_by_the_call_deadline(key_pair: tuple[bytes, bytes]) -> None:
    slow = SandboxConnector("tax", sandbox(faults={"tax": {"mode": "slow", "delay_ms": 3000}}))
    async with serving(slow, key_pair) as server, client(server, key_pair[0], department="tax", timeout=0.3) as remote:
        await remote.start()
        started = asyncio.get_running_loop().time()
        with pytest.raises(DepartmentUnavailable) as caught:
            await remote.query(ask(ZHANG))
        elapsed = asyncio.get_running_loop().time() - started
    assert caught.value.transient is True
    assert "DEADLINE_EXCEEDED" in caught.value.reason
    assert elapsed < 1.5


async def test_tickets_go_over_the_wire_and_unknown_tickets_are_refused(key_pair: tuple[bytes, bytes]) -> None:
    raw = example_sandbox()
    raw["banks"]["answer_after_seconds"] = 0.3
    data = SandboxDataset.from_json(raw)
    async with (
        serving(SandboxConnector("banks", data), key_pair) as server,
        client(server, key_pair[0], department="banks") as remote,
    ):
        ticket = await remote.query(ask(ZHANG))
        assert isinstance(ticket, Ticket)
        assert remote.describe().asynchronous is True
        assert ticket.department == "banks"
        assert ticket.ready_after > dt.datetime.now(dt.UTC)
        assert isinstance(await remote.poll(ticket), Ticket)
        await asyncio.sleep(0.35)
        # a new client (hedui restarted) polls the same ticket
        async with client(server, key_pair[0], department="banks") as fresh:
            answer = await fresh.poll(ticket)
        assert isinstance(answer, DepartmentAnswer)
        assert [r.record_id for r in answer.records] == ["BK-0001"]
        with pytest.raises(DepartmentRefused, match="unknown ticket"):
            await remote.poll(Ticket("banks", "not-a-ticket", dt.datetime.now(dt.UTC)))
        with pytest.raises(DepartmentRefused, match="the ticket is tax's"):
            await remote.poll(Ticket("tax", ticket.ticket_id, dt.datetime.now(dt.UTC)))


async def test_forged_tickets_are_refused_over_the_wire(key_pair: tuple[bytes, bytes]) -> None:
    raw = example_sandbox()
    raw["banks"]["answer_after_seconds"] = 0.05
    data = SandboxDataset.from_json(raw)
    async with (
        serving(SandboxConnector("banks", data, ticket_key=b"server-secret-0123456789"), key_pair) as server,
        client(server, key_pair[0], department="banks") as remote,
    ):
        ticket = await remote.query(ask(LI))
        assert isinstance(ticket, Ticket)
        await asyncio.sleep(0.06)
        # Someone else's records, with a ticket of one's own making: unsigned, or signed with the dataset's key.
        unsigned = base64.urlsafe_b64encode(json.dumps({"ids": [ZHANG], "ready": "2020-01-01T00:00:00+00:00"}).encode())
        own = await SandboxConnector("banks", data).query(ask(ZHANG))
        assert isinstance(own, Ticket)
        for forged in (unsigned.decode(), own.ticket_id):
            with pytest.raises(DepartmentRefused, match="PERMISSION_DENIED: unknown ticket"):
                await remote.poll(Ticket("banks", forged, dt.datetime.now(dt.UTC)))
        answer = await remote.poll(ticket)
    assert isinstance(answer, DepartmentAnswer) and answer.records == ()


async def test_a_server_with_an_invalid_description_says_so(key_pair: tuple[bytes, bytes]) -> None:
    class Broken(SandboxConnector):
        def describe(self) -> ConnectorDescription:
            return dataclasses.replace(super().describe(), max_queries_per_second=0)

    async with serving(Broken("tax", sandbox()), key_pair) as server, client(server, key_pair[0]) as remote:
        with pytest.raises(DepartmentUnavailable) as caught:
            await remote.start()
    assert caught.value.transient is False
    assert "invalid connector description: max_queries_per_second: must be from 1" in caught.value.reason


def test_the_default_call_deadline_is_ten_seconds(key_pair: tuple[bytes, bytes]) -> None:
    assert RemoteConnector("127.0.0.1:1", key_pair[0], department="tax").timeout == 10.0


# --- pinning ------------------------------------------------------------------------------------------


async def test_a_client_pinned_to_another_certificate_is_refused(key_pair: tuple[bytes, bytes]) -> None:
    other, _ = self_signed_certificate()
    async with (
        serving(SandboxConnector("tax", sandbox()), key_pair) as server,
        client(server, other, department="tax", timeout=5) as remote,
    ):
        with pytest.raises(DepartmentUnavailable) as caught:
            await remote.query(ask(ZHANG))
    assert caught.value.transient is False
    assert "TLS handshake failed" in caught.value.reason


async def test_a_certificate_named_for_a_host_is_checked_against_that_name() -> None:
    pair = self_signed_certificate(["tax.connector.example"])
    address = "127.0.0.1:1"
    assert target_name_override(address, pair[0]) == "tax.connector.example"
    assert target_name_override("tax.connector.example:443", pair[0]) is None
    assert target_name_override("127.0.0.1:1", self_signed_certificate()[0]) is None
    async with serving(SandboxConnector("tax", sandbox()), pair) as server:
        async with client(server, pair[0], department="tax") as remote:
            answer = await remote.query(ask(ZHANG))
        # a wrong name is a failed handshake
        async with client(server, pair[0], department="tax", server_name="other.example", timeout=5) as remote:
            with pytest.raises(DepartmentUnavailable, match=r"TLS handshake failed: .* for other\.example") as caught:
                await remote.query(ask(ZHANG))
    assert caught.value.transient is False
    assert isinstance(answer, DepartmentAnswer) and len(answer.records) == 2


def test_the_remote_factory_checks_its_options(tmp_path: Path, key_pair: tuple[bytes, bytes]) -> None:
    pem = tmp_path / "tax.pem"
    pem.write_bytes(key_pair[0])
    remote = connector_factory("tax", {"address": "127.0.0.1:5", "certificate": str(pem), "timeout": 2})
    assert (remote.department, remote.address, remote.timeout) == ("tax", "127.0.0.1:5", 2.0)
    with pytest.raises(ValueError, match="'address'"):
        connector_factory("tax", {"certificate": str(pem)})
    with pytest.raises(ValueError, match="'certificate'"):
        connector_factory("tax", {"address": "127.0.0.1:5"})
    with pytest.raises(ValueError, match="No such file"):
        connector_factory("tax", {"address": "127.0.0.1:5", "certificate": str(tmp_path / "none.pem")})
    (tmp_path / "bad.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="not a PEM"):
        connector_factory("tax", {"address": "127.0.0.1:5", "certificate": str(tmp_path / "bad.pem")})
    with pytest.raises(ValueError, match="HOST:PORT"):
        connector_factory("tax", {"address": "nowhere", "certificate": str(pem)})
    with pytest.raises(ValueError, match="unknown department"):
        connector_factory("customs", {"address": "127.0.0.1:5", "certificate": str(pem)})


# --- a server in its own process, as a department runs it ----------------------------------------------


@pytest.mark.integration
async def test_a_server_in_another_process_serves_records_over_tls(tmp_path: Path) -> None:
    with connector_server(tmp_path / "tls", "tax", sandbox=SANDBOX_FILE) as server:
        assert server.fingerprint == certificate_fingerprint(server.certificate)
        remote = await RemoteConnector.connect(server.address, server.certificate, department="tax")
        try:
            answer = await remote.query(ask(ZHANG, LI))
        finally:
            await remote.close()
        # pinned to another certificate: no answer
        other = RemoteConnector(server.address, self_signed_certificate()[0], department="tax", timeout=5)
        try:
            with pytest.raises(DepartmentUnavailable, match="TLS handshake failed"):
                await other.query(ask(ZHANG))
        finally:
            await other.close()
    assert isinstance(answer, DepartmentAnswer)
    assert {r.record_id for r in answer.records} == {"TX-2026-01", "TX-2026-02"}
    assert all(isinstance(r, TaxIncomeRecord) for r in answer.records)
    assert oct((tmp_path / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"


@pytest.mark.integration
async def test_a_ticket_survives_a_restart_of_the_department_server(tmp_path: Path) -> None:
    raw = example_sandbox()
    raw["banks"]["answer_after_seconds"] = 0.5
    data = tmp_path / "sandbox.json"
    data.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    directory = tmp_path / "tls"
    with connector_server(directory, "banks", sandbox=data) as first:
        remote = await RemoteConnector.connect(first.address, first.certificate, department="banks")
        ticket = await remote.query(ask(ZHANG))
        await remote.close()
    assert isinstance(ticket, Ticket)
    # the same certificate (the pinned one) from the same directory, a new process and port
    with connector_server(directory, "banks", sandbox=data) as second:
        assert second.certificate == first.certificate and "using the certificate" in "\n".join(second.output)
        remote = await RemoteConnector.connect(second.address, second.certificate, department="banks")
        try:
            await asyncio.sleep(max(0.0, (ticket.ready_after - dt.datetime.now(dt.UTC)).total_seconds()))
            answer = await remote.poll(ticket)
        finally:
            await remote.close()
    assert isinstance(answer, DepartmentAnswer)
    assert [r.record_id for r in answer.records] == ["BK-0001"]
    # the tickets' signing key is kept beside the self-signed certificate, private
    assert oct((directory / "ticket.key").stat().st_mode & 0o777) == "0o600"
    assert any("wrote a random ticket key" in line for line in first.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--department", "tax"], "give --cert FILE --key FILE, or --self-signed-out DIR"),
        # any declared department, no argparse choices of six: customs is declared nowhere
        (["--department", "customs", "--self-signed-out", "tls"], "--department 'customs': not a declared department"),
        (["--department", "tax", "--entry-point", "sandbox", "--ticket-key", "short.key"], "go with the sandbox"),
        (["--department", "tax", "--entry-point", "nothing", "--self-signed-out", "tls"], "no entry point 'nothing'"),
        (["--department", "tax", "--self-signed-out", "tls", "--listen", "nowhere"], "--listen: 'nowhere' is not"),
        (["--department", "tax", "--self-signed-out", "tls", "--sandbox", "missing.json"], "missing.json: no such"),
        (["--department", "tax", "--cert", "cert.pem", "--key", "other.pem"], "the key does not belong"),
        (["--department", "tax", "--self-signed-out", "tls", "--ticket-key", "short.key"], "at least 16 bytes"),
        (["--department", "tax", "--self-signed-out", "tls", "--ticket-key", "none.key"], "none.key: cannot read"),
    ],
)
def test_serve_with_bad_input_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    certificate, _ = self_signed_certificate()
    (tmp_path / "cert.pem").write_bytes(certificate)
    (tmp_path / "other.pem").write_bytes(self_signed_certificate()[1])
    (tmp_path / "short.key").write_text("0123456789\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["connector", "serve", *args])
    _, err = capsys.readouterr()
    assert exited.value.code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.integration
async def test_a_verification_with_tax_from_a_remote_server_in_another_process(tmp_path: Path, db_url: str) -> None:
    """The issue's "done when": a remote connector server in a separate process, over TLS, end to end."""
    with connector_server(tmp_path / "tls", "tax", sandbox=SANDBOX_FILE) as server:
        remote = await RemoteConnector.connect(server.address, server.certificate, department="tax")
        try:
            async with running_service(db_url, example_sandbox(), connectors={"tax": remote}) as h:
                v = await h.run(example_request())
                message = await h.verifications.GetReport(
                    verification_pb2.GetReportRequest(name=f"{v.name}/reports/latest"), metadata=h.metadata
                )
                asked = list(h.connectors["tax"].asked)
        finally:
            await remote.close()
    report = message_to_plain(message)
    statuses = {s["department"]: s["status"] for s in report["sources"]}
    assert statuses == {d: "ok" for d in ("banks", "housing", "police", "social_security", "tax", "vehicles")}
    tax = next(s for s in report["sources"] if s["department"] == "tax")
    assert tax["records"] == 2
    expected = {r.record_id for r in SandboxDataset.load(SANDBOX_FILE).records["tax"]}
    members = {m["id_number"]: m for m in report["members"]}
    evidence = {r["tax_income"]["record_id"] for m in members.values() for r in m["records"] if "tax_income" in r}
    assert evidence == expected == {"TX-2026-01", "TX-2026-02"}
    assert ZHANG in asked
    assert report["assessment"]["income_by_category"]["wages"] == 300_000


@pytest.mark.integration
async def test_a_remote_department_from_config_learns_its_limits_when_the_service_starts(tmp_path: Path) -> None:
    with connector_server(tmp_path / "tls", "tax", sandbox=SANDBOX_FILE) as server:
        pinned = tmp_path / "tax.pem"
        pinned.write_bytes(server.certificate)
        remote = build_connectors(
            DepartmentCatalogue(),
            {"tax": {"connector": "remote", "address": server.address, "certificate": str(pinned)}},
        )["tax"]
        served = SandboxConnector("tax", SandboxDataset.load(SANDBOX_FILE)).describe()
        try:
            async with running_service(
                f"sqlite:///{tmp_path / 'h.db'}", example_sandbox(), connectors={"tax": remote}
            ) as h:
                assert h.service.connectors["tax"].describe() == served
                v = await h.run(example_request())
                message = await h.verifications.GetReport(
                    verification_pb2.GetReportRequest(name=f"{v.name}/reports/latest"), metadata=h.metadata
                )
        finally:
            await remote.close()  # type: ignore[attr-defined]
    tax = next(s for s in message_to_plain(message)["sources"] if s["department"] == "tax")
    assert tax["status"] == "ok" and tax["records"] == 2


def test_connectors_never_import_the_service() -> None:
    code = (
        "import sys, connectors.remote, connectors.server, connectors.conformance, connectors.wire, connectors.tls\n"
        "leaked = sorted(m for m in sys.modules if m == 'verifier' or m.startswith('verifier.'))\n"
        "assert not leaked, leaked\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


# --- idempotency keys over the wire ---------------------------------------------------------------------


@dataclass
class KeyRecorder:
    """The sandbox tax department, remembering the key of every query that reaches it."""

    inner: SandboxConnector
    keys: list[str] = dataclasses.field(default_factory=list)

    def describe(self) -> ConnectorDescription:
        return self.inner.describe()

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.keys.append(query.idempotency_key)
        return await self.inner.query(query)

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        return await self.inner.poll(ticket)


async def test_the_key_goes_over_the_wire_and_a_repeat_gets_the_first_answer(key_pair: tuple[bytes, bytes]) -> None:
    recorder = KeyRecorder(SandboxConnector("tax", sandbox()))
    async with serving(recorder, key_pair) as server, client(server, key_pair[0], department="tax") as remote:
        first = await remote.query(ask(ZHANG, LI, key="v1.tax.1,v2.tax.1"))
        await asyncio.sleep(0.01)  # a second look-up would carry a later answered_at (milliseconds on the wire)
        again = await remote.query(ask(ZHANG, LI, key="v1.tax.1,v2.tax.1"))
        part = await remote.query(ask(LI, key="v2.tax.1"))
    assert recorder.keys == ["v1.tax.1,v2.tax.1", "v1.tax.1,v2.tax.1", "v2.tax.1"]
    assert isinstance(first, DepartmentAnswer) and isinstance(again, DepartmentAnswer)
    assert again == first
    assert isinstance(part, DepartmentAnswer) and part.answered_at == first.answered_at and part.records == ()
    assert recorder.inner.looked_up == 2


async def test_a_malformed_key_is_refused_before_it_is_sent(key_pair: tuple[bytes, bytes]) -> None:
    recorder = KeyRecorder(SandboxConnector("tax", sandbox()))
    async with serving(recorder, key_pair) as server, client(server, key_pair[0], department="tax") as remote:
        with pytest.raises(DepartmentRefused, match="idempotency_key: the key must be"):
            await remote.query(ask(ZHANG, key="v1 tax 1"))
    assert recorder.keys == []


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("", "idempotency_key: required"),
        ("v1.tax.1,v2/tax", "idempotency_key: key 2 of 2 must be 1 to 200 letters"),
        (",".join(f"v{i}.tax.1" for i in range(101)), "idempotency_key: 101 keys; at most 100"),
    ],
)
async def test_the_server_refuses_a_missing_or_malformed_key_naming_the_field(
    key_pair: tuple[bytes, bytes], key: str, text: str
) -> None:
    recorder = KeyRecorder(SandboxConnector("tax", sandbox()))
    async with serving(recorder, key_pair) as server:
        channel = grpc.aio.secure_channel(
            f"127.0.0.1:{server.port}", grpc.ssl_channel_credentials(root_certificates=key_pair[0])
        )
        stub = connector_pb2_grpc.ConnectorServiceStub(channel)  # type: ignore[no-untyped-call]
        request = connector_pb2.QueryRequest(
            id_numbers=[ZHANG], authorization_reference="authorizations/a1", idempotency_key=key
        )
        with pytest.raises(grpc.aio.AioRpcError) as raw:
            await stub.Query(request)
        await channel.close()
    assert recorder.keys == []
    assert raw.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raw.value.details() == text or (raw.value.details() or "").startswith(text)
    status = rpc_status.from_call(raw.value)
    assert status is not None
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    status.details[0].Unpack(info)
    status.details[1].Unpack(bad)
    assert (info.reason, info.domain) == ("BAD_IDEMPOTENCY_KEY", "hedui.connectors")
    assert [v.field for v in bad.field_violations] == ["idempotency_key"]


ASK_AND_WAIT = """
import asyncio, sys
from pathlib import Path
from connectors.base import DepartmentQuery
from connectors.remote import RemoteConnector

async def main() -> None:
    remote = RemoteConnector(sys.argv[1], Path(sys.argv[2]).read_bytes(), department="tax", timeout=60)
    query = DepartmentQuery("q1", (sys.argv[3], sys.argv[4]), "authorizations/a1", "ASSESSMENT", sys.argv[5])
    await remote.query(query)

asyncio.run(main())
"""


def _wait_for_look_ups(log: Path, count: int, asker: subprocess.Popen[bytes]) -> None:
    """Until the query log has ``count`` lines (or the asker ended, or a generous minute passed)."""
    give_up = time.monotonic() + 60
    while len(query_log_lines(log)) < count and asker.poll() is None and time.monotonic() < give_up:
        time.sleep(0.05)


async def _ask_again(address: str, certificate: bytes) -> tuple[DepartmentAnswer | Ticket, DepartmentAnswer | Ticket]:
    """hedui, restarted, asks again under the same key; then a dispute asks under another reason."""
    remote = await RemoteConnector.connect(address, certificate, department="tax")
    try:
        return await remote.query(ask(ZHANG, LI, key="v1.tax.1")), await remote.query(ask(LI, key="v1.tax.2"))
    finally:
        await remote.close()


@pytest.mark.integration
def test_the_query_log_counts_look_ups_after_the_asker_is_killed(tmp_path: Path) -> None:
    """hedui SIGKILLed while the department answers slowly: asking again with the key looks nobody up again."""
    raw = example_sandbox()
    raw["faults"] = {"tax": {"mode": "slow", "delay_ms": 1500}}
    data = tmp_path / "sandbox.json"
    data.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    log = tmp_path / "queries.jsonl"
    with connector_server(tmp_path / "tls", "tax", sandbox=data, extra=["--query-log", str(log)]) as server:
        assert any(f"logging every identity number looked up to {log}" in line for line in server.output)
        cert = tmp_path / "tls" / "cert.pem"
        asker = subprocess.Popen(
            [sys.executable, "-c", ASK_AND_WAIT, server.address, str(cert), ZHANG, LI, "v1.tax.1"],
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for_look_ups(log, 2, asker)
            looked_up = query_log_lines(log)  # read while the server runs: each line is flushed at once
            assert asker.poll() is None, asker.communicate()[1]  # still waiting for its slow answer
        finally:
            asker.kill()
            asker.wait()
        again, other = asyncio.run(_ask_again(server.address, server.certificate))
        after = query_log_lines(log)
    assert [(line["department"], line["key"], line["subject"]) for line in looked_up] == [
        ("tax", "v1.tax.1", subject_digest(ZHANG)),
        ("tax", "v1.tax.1", subject_digest(LI)),
    ]
    assert isinstance(again, DepartmentAnswer)
    assert {r.record_id for r in again.records} == {"TX-2026-01", "TX-2026-02"}
    assert isinstance(other, DepartmentAnswer)
    assert after[:2] == looked_up and len(after) == 3
    assert (after[2]["key"], after[2]["subject"]) == ("v1.tax.2", subject_digest(LI))
    assert repeated_look_ups(log) == {}
    assert ZHANG not in log.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--query-log", "missing/q.jsonl"], "--query-log missing/q.jsonl: No such file or directory"),
        (["--entry-point", "sandbox", "--query-log", "."], "--query-log .: Is a directory"),
    ],
)
def test_serve_with_a_bad_query_log_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["connector", "serve", "--department", "tax", "--self-signed-out", "tls", *args])
    _, err = capsys.readouterr()
    assert exited.value.code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1
