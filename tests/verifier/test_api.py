"""The spine through the real gRPC API on loopback, against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import time
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from harness import Harness, error_details, example_request, example_sandbox, running_service
from sqlalchemy import text

from connectors.health import HEALTH
from consent import SigningKey
from hedui.v1 import audit_pb2, consent_pb2, verification_pb2
from verifier.protojson import message_to_plain
from verifier.request import parse_request

pytestmark = pytest.mark.integration

APPLICANT = "533401197803120118"
SPOUSE = "53340119800605022X"
CHILD = "533401200809110310"


details = error_details


async def report_of(h: Harness, name: str) -> dict[str, Any]:
    message = await h.verifications.GetReport(
        verification_pb2.GetReportRequest(name=f"{name}/reports/latest"), metadata=h.metadata
    )
    return message_to_plain(message)


async def audit_kinds(h: Harness, verification: str = "") -> list[str]:
    page = await h.audit.ListAuditEvents(
        audit_pb2.ListAuditEventsRequest(page_size=500, verification=verification), metadata=h.metadata
    )
    return [e.kind for e in page.events]


async def test_example_household_end_to_end(harness: Harness) -> None:
    v = await harness.run(example_request())
    assert v.state == verification_pb2.Verification.COMPLETED
    report = await report_of(harness, v.name)
    a = report["assessment"]
    # policy.md by hand, window 2025-11..2026-10, urban S = 85 000:
    # applicant verified wages 150 000 + 150 000 = 300 000 < declared 3 600 000 → counted 3 600 000
    # D = medical 1 200 000 + rehabilitation min(450 000, 300 000) + pension personal part 20 000 = 1 520 000
    # before = 3 600 000 / 12 / 3 = 100 000 ≥ S; after = 2 080 000 / 36 = 57 777.78 → 57 778 < S
    assert a["household_size"] == 3
    assert a["annual_income_fen"] == 3_600_000
    assert a["income_by_category"]["wages"] == 300_000
    assert a["income_by_category"]["declared_unverified"] == 3_300_000
    assert a["deductions_fen"] == 1_520_000
    assert a["per_capita_monthly_income_before_fen"] == 100_000
    assert a["per_capita_monthly_income_fen"] == 57_778
    assert a["standard_fen"] == 85_000
    assert a["financial_assets_fen"] == 1_250_000
    assert a["classification"] == "DIBAO_AFTER_DEDUCTIONS"
    assert report["flags"] == []
    assert report["hearing_required"] is False
    assert report["filing_for_review_required"] is False
    assert report["version"] == 1
    assert report["policy"] == {"locality": "default", "effective_from": "2026-01-01"}
    assert {s["department"]: s["status"] for s in report["sources"]} == {
        d: "ok" for d in ("banks", "housing", "police", "social_security", "tax", "vehicles")
    }
    members = {m["id_number"]: m for m in report["members"]}
    assert members[APPLICANT]["counted_annual_income_fen"] == 3_600_000
    evidence = {r["tax_income"]["record_id"] for r in members[APPLICANT]["records"] if "tax_income" in r}
    assert evidence == {"TX-2026-01", "TX-2026-02"}
    kinds = await audit_kinds(harness, v.name)
    assert kinds.count("DEPARTMENT_QUERY_SENT") == 6
    assert kinds.count("DEPARTMENT_ANSWER_RECEIVED") == 6
    assert kinds.count("CONSENT_DECISION") == 6
    assert "REPORT_CREATED" in kinds and "REPORT_READ" in kinds and "VERIFICATION_CREATED" in kinds


async def test_audit_entries_hold_no_plaintext_identity_numbers(harness: Harness) -> None:
    v = await harness.run(example_request())
    await report_of(harness, v.name)
    page = await harness.audit.ListAuditEvents(
        audit_pb2.ListAuditEventsRequest(page_size=500), metadata=harness.metadata
    )
    assert len(page.events) > 10
    for event in page.events:
        for number in (APPLICANT, SPOUSE, CHILD, "张建国"):
            assert number.encode() not in event.entry
    by_person = await harness.audit.ListAuditEvents(
        audit_pb2.ListAuditEventsRequest(page_size=500, subject_id_number=SPOUSE), metadata=harness.metadata
    )
    assert {e.kind for e in by_person.events} >= {"AUTHORIZATION_REGISTERED", "DEPARTMENT_QUERY_SENT"}


async def test_health_and_reflection_are_served(harness: Harness) -> None:
    health = health_pb2_grpc.HealthStub(harness.channel)
    for service in ("", "hedui.v1.VerificationService", "hedui.v1.ConsentService", "hedui.v1.AuditService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(harness.channel)
    names: set[str] = set()
    async for reply in stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])):
        names |= {s.name for s in reply.list_services_response.service}
    assert {"hedui.v1.VerificationService", "hedui.v1.ConsentService", "hedui.v1.AuditService"} <= names


async def test_unimplemented_methods_say_so(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.verifications.CreateRecheckBatch(verification_pb2.CreateRecheckBatchRequest())
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda r: r["members"][1].update(id_number="533401198006050221"), "request.members[1].id_number", "check"),
        (lambda r: r["members"][1].update(id_number="5334011980060502"), "request.members[1].id_number", "18"),
        (lambda r: r["members"][2].update(id_number="533401200802300310"), "request.members[2].id_number", "date"),
        (lambda r: r.update(area="suburban"), "request.area", "urban"),
        (lambda r: r.update(purpose="CURIOSITY"), "request.purpose", "ASSESSMENT"),
        (lambda r: r["members"][0].update(relation="cousin"), "request.members[0].relation", "applicant"),
        (
            lambda r: r["members"][0].update(declared_annual_income_fen=-1),
            "request.members[0].declared_annual_income_fen",
            "negative",
        ),
        (lambda r: r["deductions"][0].update(amount_fen=-5), "request.deductions[0].amount_fen", "negative"),
        (lambda r: r.update(members=[]), "request.members", "non-empty"),
    ],
)
async def test_bad_requests_are_refused_with_field_violations_and_query_nothing(
    harness: Harness, mutate: Any, field: str, words: str
) -> None:
    auth = await harness.register(harness.envelope(parse_request(example_request())))
    request = copy.deepcopy(example_request())
    mutate(request)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.create(request, [auth.name])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, violations = details(caught.value)
    assert reason == "INVALID_REQUEST"
    assert any(f == field and words in d for f, d in violations), violations
    listed = await harness.verifications.ListVerifications(verification_pb2.ListVerificationsRequest())
    assert list(listed.verifications) == []
    assert "DEPARTMENT_QUERY_SENT" not in await audit_kinds(harness)
    assert all(not c.asked for c in harness.connectors.values())


async def test_verification_without_valid_authorization_is_refused(harness: Harness) -> None:
    request = example_request()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.create(request, [])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(caught.value)[1][0][0] == "authorizations"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.create(request, ["authorizations/doesnotexist"])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(caught.value) == (
        "AUTHORIZATION_NOT_FOUND",
        [("authorizations[0]", "authorizations/doesnotexist is not registered")],
    )

    auth = await harness.register(harness.envelope(parse_request(request)))
    await harness.consent.RevokeAuthorization(
        consent_pb2.RevokeAuthorizationRequest(name=auth.name, reason="applicant withdrew"), metadata=harness.metadata
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.create(request, [auth.name])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    reason, violations = details(caught.value)
    assert reason == "CONSENT_MISSING" and "revoked" in violations[0][1]
    assert "DEPARTMENT_QUERY_SENT" not in await audit_kinds(harness)


async def test_unsigned_spouse_is_never_queried_and_flagged(harness: Harness) -> None:
    request = example_request()
    request["members"][1]["signed"] = False
    v = await harness.run(request)
    report = await report_of(harness, v.name)
    for connector in harness.connectors.values():
        assert SPOUSE not in connector.asked
        assert APPLICANT in connector.asked
    missing = [f for f in report["flags"] if f["code"] == "CONSENT_MISSING"]
    assert {f["department"] for f in missing} == {"consent"}
    assert {(f["id_number"], f["evidence"][0]["value"]) for f in missing} == {
        (SPOUSE, d) for d in ("banks", "housing", "police", "social_security", "tax", "vehicles")
    }
    assert all(f["severity"] == "HIGH" for f in missing)
    assert all(s["not_queried"] == [SPOUSE] for s in report["sources"])
    assert report["assessment"]["classification"] == "INCONCLUSIVE"
    assert report["hearing_required"] is True


async def test_tampered_or_foreign_signatures_are_refused(harness: Harness) -> None:
    request = parse_request(example_request())
    good = harness.envelope(request)
    tampered = type(good)(
        good.payload.replace(b"ASSESSMENT", b"RECHECK\x20\x20\x20"), good.payload_type, good.signatures
    )
    stranger = SigningKey.generate_ed25519()
    harness_key, harness.key = harness.key, stranger
    foreign = harness.envelope(request)
    harness.key = harness_key
    for envelope in (tampered, foreign):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await harness.register(envelope)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        reason, violations = details(caught.value)
        assert reason == "BAD_SIGNATURE" and violations[0][0] == "envelope.signatures"
    wrong_type = type(good)(good.payload, "application/json", good.signatures)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.register(wrong_type)
    assert details(caught.value)[1][0][0] == "envelope.payload_type"
    async with harness.service.db.sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM authorizations"))).scalar_one() == 0


async def test_unavailable_department_gives_source_unavailable_and_a_report_for_the_rest(db_url: str) -> None:
    sandbox = example_sandbox()
    sandbox["faults"] = {"vehicles": {"mode": "unavailable"}}
    async with running_service(db_url, sandbox) as h:
        v = await h.run(example_request())
        report = await report_of(h, v.name)
    statuses = {s["department"]: s["status"] for s in report["sources"]}
    assert statuses.pop("vehicles") == "unavailable"
    assert set(statuses.values()) == {"ok"}
    flags = [(f["code"], f["department"], f["severity"]) for f in report["flags"]]
    assert ("SOURCE_UNAVAILABLE", "vehicles", "HIGH") in flags
    assert report["assessment"]["classification"] == "INCONCLUSIVE"
    assert report["assessment"]["annual_income_fen"] == 3_600_000


async def test_slow_department_is_cut_off_at_its_deadline(db_url: str) -> None:
    sandbox = example_sandbox()
    # Generous figures, so a busy machine changes nothing: the others answer well within 2 s, tax would take 60 s.
    sandbox["faults"] = {"tax": {"mode": "slow", "delay_ms": 60_000}}
    async with running_service(db_url, sandbox, deadline=2.0) as h:
        auth = await h.register(h.envelope(parse_request(example_request())))
        started = time.monotonic()
        created = await h.create(example_request(), [auth.name])
        v = await h.settle(created.name)
        elapsed = time.monotonic() - started
        report = await report_of(h, v.name)
    assert elapsed < 30, f"took {elapsed:.2f} s with a 2 s deadline (tax takes 60 s)"
    tax = next(s for s in report["sources"] if s["department"] == "tax")
    assert tax["status"] == "unavailable" and "within 2 s" in tax["detail"]


async def test_asynchronous_bank_answer_gives_pending_then_a_new_version_even_across_a_restart(db_url: str) -> None:
    sandbox = example_sandbox()
    # The bank's answer comes well after its (generous) deadline: pending in the first report, whatever the load.
    sandbox["banks"]["answer_after_seconds"] = 8
    key = SigningKey.generate_ed25519()
    async with running_service(db_url, sandbox, deadline=2.0, key=key) as h:
        v = await h.run(example_request())
        assert v.state == verification_pb2.Verification.AWAITING_ANSWERS
        first = await report_of(h, v.name)
    banks = next(s for s in first["sources"] if s["department"] == "banks")
    assert banks["status"] == "pending"
    assert ("SOURCE_PENDING", "banks", "MEDIUM") in [
        (f["code"], f["department"], f["severity"]) for f in first["flags"]
    ]
    assert first["version"] == 1 and first["assessment"]["classification"] == "INCONCLUSIVE"
    # The service is gone; a new one on the same database keeps polling the bank's ticket.
    async with running_service(db_url, sandbox, deadline=2.0, key=key, trust=False) as h:
        async with asyncio.timeout(40):
            while True:
                current = await h.verifications.GetVerification(verification_pb2.GetVerificationRequest(name=v.name))
                if current.state == verification_pb2.Verification.COMPLETED:
                    break
                await asyncio.sleep(0.1)
        second = await report_of(h, v.name)
        old = await h.verifications.GetReport(verification_pb2.GetReportRequest(name=f"{v.name}/reports/1"))
    assert second["version"] == 2 and second["previous_version"] == f"{v.name}/reports/1"
    assert next(s for s in second["sources"] if s["department"] == "banks")["status"] == "ok"
    assert second["assessment"]["classification"] == "DIBAO_AFTER_DEDUCTIONS"
    assert second["assessment"]["financial_assets_fen"] == 1_250_000
    assert message_to_plain(old) == first


async def test_report_names_are_checked(harness: Harness) -> None:
    for name, code in (
        ("reports/1", grpc.StatusCode.INVALID_ARGUMENT),
        ("verifications/x/reports/one", grpc.StatusCode.INVALID_ARGUMENT),
        ("verifications/nope/reports/latest", grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await harness.verifications.GetReport(verification_pb2.GetReportRequest(name=name))
        assert caught.value.code() == code, name
    v = await harness.run(example_request())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.verifications.GetReport(verification_pb2.GetReportRequest(name=f"{v.name}/reports/7"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_create_is_idempotent_and_lists_page(harness: Harness) -> None:
    auth = await harness.register(harness.envelope(parse_request(example_request())))
    first = await harness.create(example_request(), [auth.name], request_id="case-42")
    again = await harness.create(example_request(), [auth.name], request_id="case-42")
    assert first.name == again.name
    others = [await harness.create(example_request(), [auth.name]) for _ in range(2)]
    names: list[str] = []
    token = ""
    while True:
        page = await harness.verifications.ListVerifications(
            verification_pb2.ListVerificationsRequest(page_size=2, page_token=token)
        )
        names += [v.name for v in page.verifications]
        token = page.next_page_token
        if not token:
            break
    assert sorted(names) == sorted([first.name, *(o.name for o in others)])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.verifications.ListVerifications(verification_pb2.ListVerificationsRequest(page_size=-1))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for v in (first, *others):
        await harness.settle(v.name)


async def test_authorization_lifecycle(harness: Harness) -> None:
    auth = await harness.register(harness.envelope(parse_request(example_request())))
    assert auth.state == consent_pb2.Authorization.ACTIVE
    assert {m.id_number for m in auth.members} == {APPLICANT, SPOUSE, CHILD}
    fetched = await harness.consent.GetAuthorization(consent_pb2.GetAuthorizationRequest(name=auth.name))
    assert fetched.envelope.payload == auth.envelope.payload
    revoked = await harness.consent.RevokeAuthorization(
        consent_pb2.RevokeAuthorizationRequest(name=auth.name, reason="withdrawn by applicant")
    )
    assert revoked.state == consent_pb2.Authorization.REVOKED and revoked.revoke_reason == "withdrawn by applicant"
    listed = await harness.consent.ListAuthorizations(consent_pb2.ListAuthorizationsRequest(member_id_number=SPOUSE))
    assert [a.name for a in listed.authorizations] == [auth.name]
    assert "AUTHORIZATION_REVOKED" in await audit_kinds(harness)


async def test_expired_window_is_refused(harness: Harness) -> None:
    request = parse_request(example_request())
    past = dt.date.today() - dt.timedelta(days=10)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.register(harness.envelope(request, valid_from=past - dt.timedelta(days=30), valid_until=past))
    reason, violations = details(caught.value)
    assert reason == "BAD_AUTHORIZATION" and violations[0][0] == "envelope.payload.valid_until"


async def test_audit_table_refuses_update_and_delete(harness: Harness) -> None:
    await harness.run(example_request())
    for statement in ("UPDATE audit_entries SET kind = 'X'", "DELETE FROM audit_entries"):
        with pytest.raises(Exception, match="append-only"):
            async with harness.service.db.sessions.begin() as session:
                await session.execute(text(statement))
    async with harness.service.db.sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM audit_entries"))).scalar_one() > 10


async def test_unsigned_members_police_records_are_not_reported(harness: Harness) -> None:
    request = example_request()
    request["members"][1]["signed"] = False
    v = await harness.run(request)
    report = await report_of(harness, v.name)
    spouse = next(m for m in report["members"] if m["id_number"] == SPOUSE)
    assert spouse["records"] == []
    assert spouse["status"] == "unknown"


class _BrokenConnector:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def describe(self) -> Any:
        return self.inner.describe()

    async def query(self, query: Any) -> Any:
        raise KeyError("bug in a department's connector")

    async def poll(self, ticket: Any) -> Any:
        raise KeyError("bug")


async def test_connector_bug_counts_as_unavailable_and_the_report_still_comes(harness: Harness) -> None:
    harness.service.connectors["tax"] = _BrokenConnector(harness.service.connectors["tax"])
    v = await harness.run(example_request())
    report = await report_of(harness, v.name)
    tax = next(s for s in report["sources"] if s["department"] == "tax")
    assert tax["status"] == "unavailable"
    assert "KeyError" in tax["detail"]


async def test_answer_with_an_invalid_identity_number_is_rejected(db_url: str) -> None:
    sandbox = example_sandbox()
    sandbox["police"]["persons"].append(
        {
            "id_number": "UNKNOWN",
            "name": "x",
            "hukou_id": "H-533401-0001",
            "relation_to_head": "child",
            "status": "active",
        }
    )
    async with running_service(db_url, sandbox) as h:
        v = await h.run(example_request())
        report = await report_of(h, v.name)
    police = next(s for s in report["sources"] if s["department"] == "police")
    assert police["status"] == "unavailable"
    assert "invalid identity number" in police["detail"]


async def test_authorization_for_another_purpose_does_not_cover_the_query(harness: Harness) -> None:
    request = parse_request(example_request())
    auth = await harness.register(harness.envelope(request, purpose="RECHECK"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.create(example_request(), [auth.name])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "given for RECHECK" in details(caught.value)[1][0][1]


async def test_replaying_a_revoked_envelope_does_not_revive_it(harness: Harness) -> None:
    envelope = harness.envelope(parse_request(example_request()))
    auth = await harness.register(envelope)
    await harness.consent.RevokeAuthorization(
        consent_pb2.RevokeAuthorizationRequest(name=auth.name, reason="withdrawn")
    )
    again = await harness.register(envelope)
    assert again.name == auth.name
    assert again.state == consent_pb2.Authorization.REVOKED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.create(example_request(), [again.name])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    "name",
    ["verifications/x/reports/²", "verifications/x/reports/99999999999999999999", "verifications/a\x00b/reports/1"],
)
async def test_odd_report_names_are_invalid_arguments(harness: Harness, name: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.verifications.GetReport(verification_pb2.GetReportRequest(name=name))
    assert caught.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert "Traceback" not in (caught.value.details() or "")


async def test_odd_tokens_ids_and_dates_are_invalid_arguments(harness: Harness) -> None:
    auth = await harness.register(harness.envelope(parse_request(example_request())))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.create(example_request(), [auth.name], request_id="r" * 201)
    assert details(caught.value)[1][0][0] == "request_id"
    old = example_request()
    old["application_date"] = "0001-01-15"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.create(old, [auth.name])
    assert details(caught.value)[1][0][0] == "request.application_date"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_token="²"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.consent.GetAuthorization(consent_pb2.GetAuthorizationRequest(name="authorizations/a\x00b"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_many_authorizations_fit_the_audit_log(harness: Harness) -> None:
    request = parse_request(example_request())
    names = []
    for member in request.members:
        auth = await harness.register(harness.envelope(request, signers=[member.id_number]))
        names.append(auth.name)
    for member in request.members[:2]:  # each member also signed a second, department-limited form
        auth = await harness.register(harness.envelope(request, signers=[member.id_number], departments=("police",)))
        names.append(auth.name)
    created = await harness.create(example_request(), names)
    v = await harness.settle(created.name)
    assert v.state == verification_pb2.Verification.COMPLETED


async def test_concurrent_retries_with_one_request_id_make_one_verification(harness: Harness) -> None:
    auth = await harness.register(harness.envelope(parse_request(example_request())))
    made = await asyncio.gather(
        *(harness.create(example_request(), [auth.name], request_id="case-7") for _ in range(5))
    )
    assert len({v.name for v in made}) == 1
    await harness.settle(made[0].name)


async def test_each_departments_progress_says_its_health(db_url: str) -> None:
    """A case worker sees why a source is slow or missing: each department's progress carries its health by
    Sahamati's rule (connectors.health), as this server's calls to it stand — known once it was called."""
    sandbox = example_sandbox()
    sandbox["faults"] = {"vehicles": {"mode": "unavailable"}}
    async with running_service(db_url, sandbox) as h:
        v = await h.run(example_request())
    health = {d.department: d.health for d in v.departments}
    assert set(health) == {"police", "housing", "tax", "vehicles", "banks", "social_security"}
    assert health == {department: HEALTH.reading(department).status for department in health}
    assert all(status in ("GOOD", "BAD") for status in health.values())  # every one was called: not UNKNOWN
    assert HEALTH.reading("vehicles").failures > 0
