"""verifier.api without a server: operations' values → hedui.v1 messages, envelopes both ways, who calls, and a
ServiceError → a gRPC status carrying google.rpc ErrorInfo (domain hedui.v1) and, for bad fields, a BadRequest."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from admitted import admitted_client
from assessment_kit import APPLICANT, CHILD, SPOUSE, member, request
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from harness import example_request, registered_for

from consent import Envelope, EnvelopeSignature, china_today
from consent.signers import Signer
from hedui.v1 import audit_pb2, consent_pb2, verification_pb2
from verifier import api
from verifier.api import (
    OPERATOR_METADATA,
    AuditApi,
    ConsentApi,
    VerificationApi,
    authorization_message,
    caller_of,
    envelope_message,
    envelope_of,
    request_message,
    verification_message,
)
from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.operations import DepartmentProgress, Verifications, VerificationView
from verifier.policy import PolicyBook, default_policy
from verifier.protojson import plain_to_message
from verifier.request import VerificationRequest

CHINA = dt.timezone(dt.timedelta(hours=8))


class Aborted(Exception):
    """What the fake context raises where grpc.aio would end the call."""


class FakeContext:
    """The parts of a grpc.aio servicer context that api.py uses; it records how the call was ended."""

    def __init__(self, metadata: tuple[tuple[str, str], ...] = (), peer: str = "ipv4:127.0.0.1:50000") -> None:
        self._metadata, self._peer = metadata, peer
        self.status: grpc.Status | None = None
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    async def abort_with_status(self, status: grpc.Status) -> None:
        self.status = status
        raise Aborted

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise Aborted


def rich(status: grpc.Status | None) -> tuple[str, str, list[tuple[str, str, Any]]]:
    """(gRPC code name, message, [(detail type, ...)]) of a status as api.py builds it."""
    assert status is not None, "the call was not ended with a status"
    (key, raw), *_ = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    decoded = status_pb2.Status.FromString(raw)
    assert decoded.code == status.code.value[0] and decoded.message == status.details
    details: list[tuple[str, str, Any]] = []
    for item in decoded.details:
        if item.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            item.Unpack(info)
            details.append(("ErrorInfo", info.reason, info.domain))
        elif item.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            item.Unpack(bad)
            details.append(("BadRequest", "", [(v.field, v.description) for v in bad.field_violations]))
        else:
            details.append((item.type_url, "", None))
    return status.code.name, status.details, details


# --- ServiceError → status ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def admitted(request: pytest.FixtureRequest) -> Iterator[None]:
    """Issue 13 (review S9): the servicers run for a client the access interceptor admitted, as served (the
    caller's own test reads what a servicer reached without one makes of the metadata)."""
    if request.node.name == "test_the_caller_from_metadata_and_peer_bounded":
        yield
        return
    with admitted_client():
        yield


async def test_invalid_input_carries_its_reason_and_every_field_violation_in_order() -> None:
    context = FakeContext()
    error = ServiceError.invalid(
        [FieldViolation("request.members[0].id_number", "bad check character"), FieldViolation("request.area", "x")]
    )
    with pytest.raises(Aborted):
        await api._abort(context, error)  # type: ignore[arg-type]
    assert rich(context.status) == (
        "INVALID_ARGUMENT",
        "request.members[0].id_number: bad check character",
        [
            ("ErrorInfo", "INVALID_REQUEST", "hedui.v1"),
            ("BadRequest", "", [("request.members[0].id_number", "bad check character"), ("request.area", "x")]),
        ],
    )


async def test_a_refusal_without_violations_has_no_bad_request() -> None:
    context = FakeContext()
    with pytest.raises(Aborted):
        await api._abort(context, ServiceError.not_found("verifications/v-404"))  # type: ignore[arg-type]
    assert rich(context.status) == (
        "NOT_FOUND",
        "verifications/v-404 not found",
        [("ErrorInfo", "NOT_FOUND", "hedui.v1")],
    )


async def test_a_precondition_blames_its_field() -> None:
    context = FakeContext()
    error = ServiceError.precondition("authorizations", "no member may be queried", Reason.CONSENT_MISSING)
    with pytest.raises(Aborted):
        await api._abort(context, error)  # type: ignore[arg-type]
    code, message, details = rich(context.status)
    assert (code, message) == ("FAILED_PRECONDITION", "authorizations: no member may be queried")
    assert details[1] == ("BadRequest", "", [("authorizations", "no member may be queried")])


@pytest.mark.parametrize("reason", list(Reason), ids=str)
async def test_every_reason_becomes_the_grpc_code_of_the_catalogue(reason: Reason) -> None:
    context = FakeContext()
    with pytest.raises(Aborted):
        await api._abort(context, ServiceError(reason, "m"))  # type: ignore[arg-type]
    code, _, details = rich(context.status)
    assert code == reason.code and details == [("ErrorInfo", str(reason), "hedui.v1")]
    assert getattr(code_pb2, reason.code) == getattr(grpc.StatusCode, reason.code).value[0]


async def test_call_gives_the_result_aborts_on_a_service_error_and_on_anything_else() -> None:
    async def value() -> int:
        return 7

    async def refused() -> int:
        raise ServiceError(Reason.KEY_REVOKED, "revoked")

    async def broken() -> int:
        raise RuntimeError("a bug")

    context = FakeContext()
    assert await api._call(context, value()) == 7  # type: ignore[arg-type]
    assert context.status is None
    with pytest.raises(Aborted):
        await api._call(context, refused())  # type: ignore[arg-type]
    assert rich(context.status)[:2] == ("FAILED_PRECONDITION", "revoked")
    # Issue 13: a bug is INTERNAL (never UNKNOWN), and its text (SQL, values) is not sent.
    context = FakeContext()
    with pytest.raises(Aborted):
        await api._call(context, broken())  # type: ignore[arg-type]
    code, message, details = rich(context.status)
    assert (code, details) == ("INTERNAL", [("ErrorInfo", "INTERNAL_ERROR", "hedui.v1")])
    assert "a bug" not in message and "RuntimeError" not in message


# --- who calls ------------------------------------------------------------------------------------


def test_the_caller_from_metadata_and_peer_bounded() -> None:
    caller = caller_of(FakeContext(((OPERATOR_METADATA, "worker-7"), ("other", "x")), "ipv6:[::1]:1"))  # type: ignore[arg-type]
    assert (caller.operator, caller.client) == ("worker-7", "ipv6:[::1]:1")
    assert caller_of(FakeContext()).operator == "unknown"  # type: ignore[arg-type]
    assert caller_of(FakeContext(((OPERATOR_METADATA, ""),))).operator == "unknown"  # type: ignore[arg-type]
    long = caller_of(FakeContext(((OPERATOR_METADATA, "o" * 500),), "p" * 500))  # type: ignore[arg-type]
    assert (long.operator, long.client) == ("o" * 200, "p" * 200)


# --- requests and verifications -------------------------------------------------------------------


def recheck_request() -> VerificationRequest:
    return request(
        member(APPLICANT, 1_800_000),
        {**member(SPOUSE), "signed": False},
        member(CHILD, category="fresh_graduate"),
        deductions=[{"id_number": APPLICANT, "kind": "medical", "amount_fen": 1_200_000, "evidence": "receipt 1"}],
        purpose="RECHECK",
        previous_report_id="r-old",
    )


def test_a_request_as_its_message_field_by_field() -> None:
    message = request_message(recheck_request())
    assert (message.application_date, message.area, message.purpose, message.commissioned_by, message.policy) == (
        "2026-11-01",
        "urban",
        "RECHECK",
        "533401-civil-affairs",
        "",
    )
    assert message.HasField("previous_report_id") and message.previous_report_id == "r-old"
    applicant, spouse, child = message.members
    assert (applicant.id_number, applicant.name, applicant.relation) == (APPLICANT, "张建国", "applicant")
    assert applicant.declared_annual_income_fen == 1_800_000
    assert not applicant.HasField("employment_category") and child.employment_category == "fresh_graduate"
    assert applicant.signed is True and spouse.HasField("signed") and spouse.signed is False
    (deduction,) = message.deductions
    assert (deduction.id_number, deduction.kind, deduction.amount_fen, deduction.evidence) == (
        APPLICANT,
        "medical",
        1_200_000,
        "receipt 1",
    )


def test_a_request_without_a_previous_report_leaves_it_unset() -> None:
    message = request_message(request())
    assert not message.HasField("previous_report_id") and list(message.deductions) == []


def test_a_request_is_built_once_and_its_message_reads_back_as_the_request() -> None:
    req = recheck_request()
    assert request_message(req) is request_message(req)
    assert request_message(dataclasses.replace(req)) == request_message(req)  # an equal request, an equal message
    plain = json_format.MessageToDict(request_message(req), preserving_proto_field_name=True)
    assert plain["members"][1]["signed"] is False and "previous_report_id" in plain


def view(**overrides: Any) -> VerificationView:
    fields: dict[str, Any] = {
        "verification_id": "v-1",
        "state": "AWAITING_ANSWERS",
        "request": recheck_request(),
        "authorizations": ("authorizations/a-1", "authorizations/a-2"),
        "created_at": dt.datetime(2026, 11, 1, 10, 0, 0, 123_999, tzinfo=CHINA),
        "updated_at": dt.datetime(2026, 11, 1, 2, 0, 5, tzinfo=dt.UTC),
        "departments": (
            DepartmentProgress("tax", "ok", 3, "", dt.datetime(2026, 11, 1, 2, 0, 1, tzinfo=dt.UTC)),
            DepartmentProgress("banks", "pending", 0, "ticket T-1", dt.datetime(2026, 11, 1, 2, 0, 2, tzinfo=dt.UTC)),
        ),
        "latest_report_version": 3,
        "operator": "worker-7",
    }
    return VerificationView(**(fields | overrides))


def test_a_verification_as_its_message() -> None:
    message = verification_message(view())
    assert (message.name, message.state, message.operator) == (
        "verifications/v-1",
        verification_pb2.Verification.AWAITING_ANSWERS,
        "worker-7",
    )
    assert list(message.authorizations) == ["authorizations/a-1", "authorizations/a-2"]
    # instants in UTC with milliseconds (truncated), "Z"
    assert (message.create_time, message.update_time) == ("2026-11-01T02:00:00.123Z", "2026-11-01T02:00:05.000Z")
    assert message.latest_report == "verifications/v-1/reports/3"
    assert [(d.department, d.status, d.records, d.detail, d.updated_at) for d in message.departments] == [
        ("tax", "ok", 3, "", "2026-11-01T02:00:01.000Z"),
        ("banks", "pending", 0, "ticket T-1", "2026-11-01T02:00:02.000Z"),
    ]
    assert message.request == request_message(recheck_request())


def test_a_verification_without_a_report_names_none() -> None:
    message = verification_message(view(latest_report_version=0, state="RUNNING", departments=()))
    assert (message.latest_report, message.state, list(message.departments)) == (
        "",
        verification_pb2.Verification.RUNNING,
        [],
    )


# --- authorizations and envelopes -----------------------------------------------------------------


def test_an_active_authorization_as_its_message() -> None:
    req = request(member(APPLICANT), member(SPOUSE))
    auth = registered_for(req)
    message = authorization_message(auth, None)
    assert (message.name, message.state) == ("authorizations/a1", consent_pb2.Authorization.ACTIVE)
    assert (message.commissioned_by, message.purpose) == ("533401-civil-affairs", "ASSESSMENT")
    assert [(m.id_number, m.name, m.signed) for m in message.members] == [
        (APPLICANT, "张建国", True),
        (SPOUSE, "李秀英", True),
    ]
    assert list(message.departments) == ["*"]
    today = dt.date.today()
    assert (message.valid_from, message.valid_until) == (
        auth.payload.valid_from.isoformat(),
        (auth.payload.valid_from + dt.timedelta(days=90)).isoformat(),
    )
    assert message.valid_from in {today.isoformat(), (today - dt.timedelta(days=1)).isoformat()}
    assert message.create_time.endswith("Z") and len(message.create_time) == len("2026-11-01T02:00:00.000Z")
    (keyid,) = auth.signed_by
    assert list(message.signed_by) == [keyid]
    assert [(s.keyid, s.kind, s.organisation, s.member_id_number, s.certified_by) for s in message.signers] == [
        (keyid, "organisation", "533401-civil-affairs", "", "")
    ]
    for absent in ("envelope", "revoke_time", "revoke_reason", "signature_problem"):
        assert not message.HasField(absent), absent
    assert list(message.member_key_certificates) == []


def test_the_envelope_and_certificates_when_asked_for() -> None:
    auth = registered_for(request())
    envelope = Envelope(b'{"a":1}', "application/vnd.hedui.authorization+json", (EnvelopeSignature("k1", b"s"),))
    certificate = Envelope(b"cert", "application/vnd.hedui.member-key+json; version=1", ())
    message = authorization_message(auth, envelope, [certificate])
    assert message.HasField("envelope") and message.envelope == envelope_message(envelope)
    assert list(message.member_key_certificates) == [envelope_message(certificate)]


def test_a_revoked_authorization_says_when_and_why() -> None:
    auth = registered_for(request(), revoked=True)
    message = authorization_message(auth, None)
    assert message.state == consent_pb2.Authorization.REVOKED
    assert message.HasField("revoke_time") and message.revoke_time.endswith("Z")
    assert message.HasField("revoke_reason") and message.revoke_reason == ""  # revoked without a reason given
    given = authorization_message(dataclasses.replace(auth, revoke_reason="withdrawn by the member"), None)
    assert given.revoke_reason == "withdrawn by the member"


def test_an_authorization_past_its_last_day_is_expired_unless_revoked() -> None:
    auth = registered_for(request())
    lapsed = dataclasses.replace(auth, payload=dataclasses.replace(auth.payload, valid_until=dt.date(2020, 1, 31)))
    assert authorization_message(lapsed, None).state == consent_pb2.Authorization.EXPIRED
    last_day = dataclasses.replace(auth, payload=dataclasses.replace(auth.payload, valid_until=china_today()))
    assert authorization_message(last_day, None).state == consent_pb2.Authorization.ACTIVE  # its last day counts
    revoked = dataclasses.replace(lapsed, revoked_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert authorization_message(revoked, None).state == consent_pb2.Authorization.REVOKED


def test_members_are_signed_only_through_a_signature_that_holds() -> None:
    auth = registered_for(request(member(APPLICANT), member(SPOUSE)))
    own_key = Signer("k-spouse", "member", "533401-civil-affairs", id_number=SPOUSE, certified_by="k-org")
    only_spouse = authorization_message(dataclasses.replace(auth, signers=(own_key,)), None)
    assert [m.signed for m in only_spouse.members] == [False, True]
    assert [(s.kind, s.member_id_number, s.certified_by) for s in only_spouse.signers] == [("member", SPOUSE, "k-org")]
    problem = authorization_message(dataclasses.replace(auth, signature_problem="key k-org revoked"), None)
    assert problem.signature_problem == "key k-org revoked" and not any(m.signed for m in problem.members)


def test_an_envelope_both_ways() -> None:
    envelope = Envelope(b"\x00payload\xff", "t", (EnvelopeSignature("k1", b"\x01\x02"), EnvelopeSignature("鍵-2", b"")))
    message = envelope_message(envelope)
    assert (message.payload, message.payload_type) == (b"\x00payload\xff", "t")
    assert [(s.keyid, s.sig) for s in message.signatures] == [("k1", b"\x01\x02"), ("鍵-2", b"")]
    assert envelope_of(message) == envelope
    empty = envelope_of(consent_pb2.Envelope())
    assert empty == Envelope(b"", "", ()) and isinstance(empty.signatures, tuple)


# --- the servicers over fake operations -----------------------------------------------------------


class Refusing:
    """Operations that refuse every call with one error; they record what they were asked."""

    def __init__(self, error: ServiceError) -> None:
        self.error, self.asked = error, []

    async def get(self, name: str, caller: Any = None) -> Any:  # issue 13: the operations take the caller
        self.asked.append(name)
        raise self.error

    async def watch(self, name: str, caller: Any = None) -> AsyncIterator[VerificationView]:
        self.asked.append(name)
        yield view()
        raise self.error


async def test_a_refused_read_ends_the_call_with_the_rich_status() -> None:
    authorizations = Refusing(ServiceError.not_found("authorizations/nope"))
    context = FakeContext()
    request = consent_pb2.GetAuthorizationRequest(name="authorizations/nope")
    with pytest.raises(Aborted):
        await ConsentApi(authorizations).GetAuthorization(request, context)  # type: ignore[arg-type]
    assert authorizations.asked == ["authorizations/nope"]
    assert rich(context.status)[0] == "NOT_FOUND"


async def test_a_watch_sends_its_snapshots_then_ends_with_the_refusal() -> None:
    verifications = Refusing(ServiceError.invalid([FieldViolation("name", "must be a resource name")]))
    context = FakeContext()
    api_ = VerificationApi(verifications, None)  # type: ignore[arg-type]
    events: list[verification_pb2.VerificationEvent] = []

    async def collect() -> None:
        watch = verification_pb2.WatchVerificationRequest(name="x")
        async for event in api_.WatchVerification(watch, context):  # type: ignore[arg-type]
            events.append(event)

    with pytest.raises(Aborted):
        await collect()
    assert [e.verification.name for e in events] == ["verifications/v-1"]
    assert rich(context.status)[2][1] == ("BadRequest", "", [("name", "must be a resource name")])


async def test_a_bad_request_is_refused_naming_request_fields_before_anything_is_created() -> None:
    verifications = Verifications(None, None, {}, PolicyBook([default_policy()]))  # type: ignore[arg-type]
    create = verification_pb2.CreateVerificationRequest()
    plain = example_request() | {"area": "suburban"}
    plain_to_message(plain, create.request)
    context = FakeContext()
    with pytest.raises(Aborted):
        await VerificationApi(verifications, None).CreateVerification(create, context)  # type: ignore[arg-type]
    code, _, details = rich(context.status)
    assert code == "INVALID_ARGUMENT" and details[0] == ("ErrorInfo", "INVALID_REQUEST", "hedui.v1")
    assert [field for field, _ in details[1][2]] == ["request.area"]


async def test_an_unknown_policy_is_a_request_policy_violation() -> None:
    verifications = Verifications(None, None, {}, PolicyBook([default_policy()]))  # type: ignore[arg-type]
    create = verification_pb2.CreateVerificationRequest()
    plain_to_message(example_request() | {"policy": "nowhere"}, create.request)
    context = FakeContext()
    with pytest.raises(Aborted):
        await VerificationApi(verifications, None).CreateVerification(create, context)  # type: ignore[arg-type]
    assert rich(context.status)[2][1] == ("BadRequest", "", [("request.policy", "no policy for locality 'nowhere'")])


async def test_recheck_batches_are_unimplemented() -> None:
    context = FakeContext()
    with pytest.raises(Aborted):
        await VerificationApi(None, None).CreateRecheckBatch(  # type: ignore[arg-type]
            verification_pb2.CreateRecheckBatchRequest(),
            context,  # type: ignore[arg-type]
        )
    assert context.aborted == (grpc.StatusCode.UNIMPLEMENTED, "CreateRecheckBatch is not implemented yet")


class Recording:
    """Operations that record the keyword arguments they were called with and give nothing back."""

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    async def list_events(self, **kwargs: Any) -> tuple[list[Any], str]:
        self.kwargs = kwargs
        return [], "next-7"

    async def message(self, name: str, caller: Any, *, html: bool) -> Any:
        self.kwargs = {"name": name, "operator": caller.operator, "html": html}
        return verification_pb2.Verification()


async def test_audit_events_are_filtered_by_the_verifications_id() -> None:
    audit = Recording()
    listing = audit_pb2.ListAuditEventsRequest(verification="verifications/v-1", page_size=5, kind="REPORT_CREATED")
    response = await AuditApi(audit).ListAuditEvents(listing, FakeContext())  # type: ignore[arg-type]
    assert (audit.kwargs["verification"], audit.kwargs["page_size"], audit.kwargs["kind"]) == (
        "v-1",
        5,
        "REPORT_CREATED",
    )
    assert response.next_page_token == "next-7" and list(response.events) == []


@pytest.mark.parametrize(
    ("view_", "html"), [(verification_pb2.HTML, True), (verification_pb2.STRUCTURED, False), (0, False)]
)
async def test_the_html_view_only_when_asked_for(view_: int, html: bool) -> None:
    reports = Recording()
    ask = verification_pb2.GetReportRequest(name="verifications/v-1/reports/latest", view=view_)  # type: ignore[arg-type]
    context = FakeContext(((OPERATOR_METADATA, "worker-7"),))
    await VerificationApi(None, reports).GetReport(ask, context)  # type: ignore[arg-type]
    assert reports.kwargs == {"name": "verifications/v-1/reports/latest", "operator": "worker-7", "html": html}
