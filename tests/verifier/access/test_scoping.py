"""One organisation's verifications, reports and authorizations are its own (issue 13): another organisation's
case system cannot read, list, revoke or reuse them (NOT_FOUND, as if they did not exist), cannot commission for
another organisation, and a supervisor reads those of its area only, read-only. And the 11 abilities an
anonymous caller had on main are refused. One service for the module, over real mutual TLS."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from harness import Harness, error_details, example_request, example_sandbox, running_service, signed_envelope

from consent import SigningKey
from hedui.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    verification_pb2,
    verification_pb2_grpc,
)
from verifier.access import Role
from verifier.api import envelope_message
from verifier.protojson import plain_to_message
from verifier.request import parse_request

OWN = "533401-civil-affairs"
OTHER = "533402-civil-affairs"
CHILD = "533401200809110310"


@dataclass
class World:
    """The module's service, one verification of OWN (its report and authorization), and the other callers."""

    harness: Harness
    verification: str
    authorization: str
    envelope: consent_pb2.Envelope
    other: grpc.aio.Channel  # a case system of OTHER
    other_key: SigningKey


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """The module's service on each database, with one settled verification of OWN."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('scoping') / 'hedui.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    async with running_service(url, example_sandbox()) as harness:
        request = example_request()
        envelope = harness.envelope(parse_request(request))
        auth = await harness.register(envelope)
        created = await harness.create(request, [auth.name])
        await harness.settle(created.name)
        other_key = SigningKey.generate_ed25519()
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        await harness.service.trust_store.add(OTHER, other_key.public_pem(), not_before=since)
        other = await harness.client_channel("other-case-system", OTHER, [Role.CASE_SYSTEM])
        yield World(harness, created.name, auth.name, envelope_message(envelope), other, other_key)


def refused(caught: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> tuple[grpc.StatusCode, str]:
    """(code, ErrorInfo reason) of a refused call."""
    return caught.value.code(), error_details(caught.value)[0]


def create_message(raw: dict[str, Any], authorizations: list[str]) -> verification_pb2.CreateVerificationRequest:
    """A CreateVerificationRequest of a plain request."""
    message = verification_pb2.CreateVerificationRequest(authorizations=authorizations)
    plain_to_message(raw, message.request)
    return message


@pytest.mark.integration
async def test_another_organisation_cannot_read_list_revoke_or_reuse(world: World) -> None:
    verifications = verification_pb2_grpc.VerificationServiceStub(world.other)
    consent = consent_pb2_grpc.ConsentServiceStub(world.other)
    not_found = (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    for call in (
        lambda: verifications.GetVerification(verification_pb2.GetVerificationRequest(name=world.verification)),
        lambda: verifications.GetReport(verification_pb2.GetReportRequest(name=f"{world.verification}/reports/latest")),
        lambda: consent.GetAuthorization(consent_pb2.GetAuthorizationRequest(name=world.authorization)),
        lambda: consent.RevokeAuthorization(
            consent_pb2.RevokeAuthorizationRequest(name=world.authorization, reason="not ours to revoke")
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call()
        assert refused(caught) == not_found
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in verifications.WatchVerification(
            verification_pb2.WatchVerificationRequest(name=world.verification)
        ):
            pass
    assert refused(caught) == not_found
    listed = await verifications.ListVerifications(verification_pb2.ListVerificationsRequest())
    assert list(listed.verifications) == []
    listed = await verifications.ListVerifications(verification_pb2.ListVerificationsRequest(commissioned_by=OWN))
    assert list(listed.verifications) == []
    found = await consent.ListAuthorizations(consent_pb2.ListAuthorizationsRequest(member_id_number=CHILD))
    assert list(found.authorizations) == []
    # Reuse: OWN's authorization named in a verification OTHER commissions is not registered as far as OTHER knows.
    raw = {**example_request(), "commissioned_by": OTHER}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await verifications.CreateVerification(create_message(raw, [world.authorization]))
    assert refused(caught) == (grpc.StatusCode.FAILED_PRECONDITION, "AUTHORIZATION_NOT_FOUND")
    # A replay of OWN's envelope does not hand OTHER the registered authorization.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await consent.RegisterAuthorization(consent_pb2.RegisterAuthorizationRequest(envelope=world.envelope))
    assert refused(caught) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN_ORGANISATION")
    # The authorization still stands for its own organisation.
    own = consent_pb2_grpc.ConsentServiceStub(world.harness.channel)
    auth = await own.GetAuthorization(consent_pb2.GetAuthorizationRequest(name=world.authorization))
    assert auth.state == consent_pb2.Authorization.ACTIVE


@pytest.mark.integration
async def test_commissioned_by_must_be_the_callers_organisation(world: World) -> None:
    verifications = verification_pb2_grpc.VerificationServiceStub(world.other)
    consent = consent_pb2_grpc.ConsentServiceStub(world.other)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await verifications.CreateVerification(create_message(example_request(), [world.authorization]))
    assert refused(caught) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN_ORGANISATION")
    assert error_details(caught.value)[1][0][0] == "request.commissioned_by"
    # An envelope OWN's key signed for OWN, registered by OTHER's case system: refused.
    fresh = world.harness.envelope(parse_request(example_request()), valid_until=dt.date.today() + dt.timedelta(days=9))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await consent.RegisterAuthorization(consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(fresh)))
    assert refused(caught) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN_ORGANISATION")
    # Its own authorization and verification it may make.
    raw = {**example_request(), "commissioned_by": OTHER}
    own_envelope = signed_envelope(parse_request(raw), world.other_key)
    auth = await consent.RegisterAuthorization(
        consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(own_envelope))
    )
    created = await verifications.CreateVerification(create_message(raw, [auth.name]))
    assert created.request.commissioned_by == OTHER


@pytest.mark.integration
@pytest.mark.parametrize(("area", "sees"), [("533400-supervision", True), ("533500-supervision", False)])
async def test_a_supervisor_reads_its_areas_verifications_read_only(world: World, area: str, sees: bool) -> None:
    channel = await world.harness.client_channel(f"supervisor-{area[:6]}", area, [Role.SUPERVISOR])
    verifications = verification_pb2_grpc.VerificationServiceStub(channel)
    listed = await verifications.ListVerifications(verification_pb2.ListVerificationsRequest())
    assert (world.verification in [v.name for v in listed.verifications]) is sees
    if sees:
        report = await verifications.GetReport(
            verification_pb2.GetReportRequest(name=f"{world.verification}/reports/latest")
        )
        assert report.name.startswith(world.verification)
    else:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await verifications.GetVerification(verification_pb2.GetVerificationRequest(name=world.verification))
        assert refused(caught) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    consent = consent_pb2_grpc.ConsentServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await consent.RevokeAuthorization(consent_pb2.RevokeAuthorizationRequest(name=world.authorization, reason="x"))
    assert refused(caught) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_MISSING")


@pytest.mark.integration
async def test_the_audit_log_names_the_certified_client_beside_the_operator_it_names(world: World) -> None:
    harness = world.harness
    await harness.service.log.integrate(harness.service.db.write)
    async with harness.service.db.sessions() as session:
        entries = await harness.service.audit.entries(session, after_index=-1, limit=10_000)
    registered = [
        e
        for e in entries
        if e.kind == "AUTHORIZATION_REGISTERED"
        and e.authorization == world.authorization.removeprefix("authorizations/")
    ]
    assert [(e.operator, e.client) for e in registered] == [("test-worker", f"test-case-system@{OWN}")]
    created = [
        e
        for e in entries
        if e.kind == "VERIFICATION_CREATED" and e.verification == world.verification.removeprefix("verifications/")
    ]
    assert [(e.operator, e.client) for e in created] == [("test-worker", f"test-case-system@{OWN}")]


# --- the 11 abilities an anonymous caller had on main (issue 13) ------------------------------------------------


def abilities(channel: grpc.aio.Channel, world: World) -> dict[str, Any]:
    """Each ability as a call to make from ``channel``."""
    verifications = verification_pb2_grpc.VerificationServiceStub(channel)
    consent = consent_pb2_grpc.ConsentServiceStub(channel)
    audit = audit_pb2_grpc.AuditServiceStub(channel)
    latest = f"{world.verification}/reports/latest"

    async def drain(stream: Any) -> None:
        async for _ in stream:
            pass

    return {
        "list every verification": lambda: verifications.ListVerifications(verification_pb2.ListVerificationsRequest()),
        "read a report": lambda: verifications.GetReport(verification_pb2.GetReportRequest(name=latest)),
        "read a report's HTML": lambda: verifications.GetReport(
            verification_pb2.GetReportRequest(name=latest, view=verification_pb2.HTML)
        ),
        "list a household's authorizations from a child's number": lambda: consent.ListAuthorizations(
            consent_pb2.ListAuthorizationsRequest(member_id_number=CHILD)
        ),
        "fetch the signed envelope": lambda: consent.GetAuthorization(
            consent_pb2.GetAuthorizationRequest(name=world.authorization)
        ),
        "read the audit log": lambda: audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest()),
        "export the audit log": lambda: drain(audit.ExportAuditLog(audit_pb2.ExportAuditLogRequest())),
        "ask whether a person is in the log": lambda: audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(subject_id_number=CHILD)
        ),
        "revoke a case system's authorization": lambda: consent.RevokeAuthorization(
            consent_pb2.RevokeAuthorizationRequest(name=world.authorization, reason="anonymous")
        ),
        "reuse a found authorization": lambda: verifications.CreateVerification(
            create_message(example_request(), [world.authorization]),
            metadata=(("x-hedui-operator", "a-made-up-operator"),),
        ),
        "have the log credit a self-declared operator": lambda: verifications.GetReport(
            verification_pb2.GetReportRequest(name=latest), metadata=(("x-hedui-operator", "a-made-up-operator"),)
        ),
    }


@pytest.mark.integration
async def test_the_eleven_anonymous_abilities_are_refused(world: World) -> None:
    harness = world.harness
    anonymous = harness.raw_channel()
    unknown = await harness.client_channel("stranger", OWN, [], register=False)
    without, with_unknown = abilities(anonymous, world), abilities(unknown, world)
    assert len(without) == 11
    for ability, attempt in without.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await attempt()
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, ability  # the TLS handshake refuses it
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await with_unknown[ability]()
        assert refused(caught) == (grpc.StatusCode.UNAUTHENTICATED, "CLIENT_UNKNOWN"), ability
    # Nothing of it reached the log under the made-up operator, and the authorization still stands.
    await harness.service.log.integrate(harness.service.db.write)
    async with harness.service.db.sessions() as session:
        entries = await harness.service.audit.entries(session, after_index=-1, limit=10_000)
    assert not [e for e in entries if e.operator == "a-made-up-operator" and e.kind != "CALL_REFUSED"]
    own = consent_pb2_grpc.ConsentServiceStub(harness.channel)
    auth = await own.GetAuthorization(consent_pb2.GetAuthorizationRequest(name=world.authorization))
    assert auth.state == consent_pb2.Authorization.ACTIVE
    assert json.loads(entries[-1].entry)["kind"]  # the log is readable and intact to the end


@pytest.mark.integration
async def test_a_request_id_is_its_organisations_own(world: World) -> None:
    # Issue 13 (review M1): another organisation's idempotency key neither answers nor blocks a call.
    harness = world.harness
    own = await harness.create(example_request(), [world.authorization], request_id="case-2026-0001")
    own_auth = await harness.consent.RegisterAuthorization(
        consent_pb2.RegisterAuthorizationRequest(envelope=world.envelope, request_id="consent-2026-0001"),
        metadata=harness.metadata,
    )
    assert own_auth.name == world.authorization  # a replay of OWN's envelope by OWN: the same authorization
    verifications = verification_pb2_grpc.VerificationServiceStub(world.other)
    consent = consent_pb2_grpc.ConsentServiceStub(world.other)
    # A garbage envelope under OWN's key: refused for its signature, naming nothing of OWN's.
    garbage = consent_pb2.Envelope(payload=b"{}", payload_type="application/vnd.hedui.authorization+json")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await consent.RegisterAuthorization(
            consent_pb2.RegisterAuthorizationRequest(envelope=garbage, request_id="consent-2026-0001")
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert OWN not in (caught.value.details() or "") and world.authorization not in (caught.value.details() or "")
    # OTHER's own authorization and verification under OWN's keys are OTHER's, new, and answer nothing of OWN's.
    raw = {**example_request(), "commissioned_by": OTHER}
    envelope = envelope_message(
        signed_envelope(parse_request(raw), world.other_key, valid_until=dt.date.today() + dt.timedelta(days=30))
    )
    auth = await consent.RegisterAuthorization(
        consent_pb2.RegisterAuthorizationRequest(envelope=envelope, request_id="consent-2026-0001")
    )
    assert auth.name != world.authorization
    message = create_message(raw, [auth.name])
    message.request_id = "case-2026-0001"
    created = await verifications.CreateVerification(message)
    assert created.name != own.name and created.request.commissioned_by == OTHER
    again = await verifications.CreateVerification(message)
    assert again.name == created.name  # a retry within OTHER is still the same verification
    # And OWN's retry still finds its own.
    retried = await harness.create(example_request(), [world.authorization], request_id="case-2026-0001")
    assert retried.name == own.name


@pytest.mark.integration
async def test_a_supervisors_pages_and_tokens_only_name_its_areas_verifications(world: World) -> None:
    # Review S2: the database filters by the area, so no page (nor its token) stands on another area's rows.
    empty = await world.harness.client_channel("supervisor-533403", "533403-supervision", [Role.SUPERVISOR])
    listed = await verification_pb2_grpc.VerificationServiceStub(empty).ListVerifications(
        verification_pb2.ListVerificationsRequest(page_size=1)
    )
    assert list(listed.verifications) == [] and listed.next_page_token == ""
    # OTHER's verifications (533402) interleave with OWN's: a county supervisor of 533401 pages through OWN's only,
    # one per page and never an empty page before the last.
    other = verification_pb2_grpc.VerificationServiceStub(world.other)
    raw = {**example_request(), "commissioned_by": OTHER}
    envelope = envelope_message(signed_envelope(parse_request(raw), world.other_key))
    auth = await consent_pb2_grpc.ConsentServiceStub(world.other).RegisterAuthorization(
        consent_pb2.RegisterAuthorizationRequest(envelope=envelope)
    )
    await other.CreateVerification(create_message(raw, [auth.name]))
    county = await world.harness.client_channel("supervisor-533401", "533401-supervision", [Role.SUPERVISOR])
    stub = verification_pb2_grpc.VerificationServiceStub(county)
    seen, token = [], ""
    while True:
        page = await stub.ListVerifications(verification_pb2.ListVerificationsRequest(page_size=1, page_token=token))
        assert len(page.verifications) == 1
        assert page.verifications[0].request.commissioned_by == OWN
        seen.append(page.verifications[0].name)
        if not (token := page.next_page_token):
            break
    assert world.verification in seen and len(seen) == len(set(seen))


@pytest.mark.integration
async def test_refusals_for_another_organisations_resources_are_audited(world: World) -> None:
    # Review S3: the operations' refusals are counted as the interceptor's, one CALL_REFUSED a client and minute.
    harness = world.harness
    channel = await harness.client_channel("counted-other", OTHER, [Role.CASE_SYSTEM])
    verifications = verification_pb2_grpc.VerificationServiceStub(channel)
    consent = consent_pb2_grpc.ConsentServiceStub(channel)
    calls = [
        lambda: verifications.GetVerification(verification_pb2.GetVerificationRequest(name=world.verification)),
        lambda: verifications.GetReport(verification_pb2.GetReportRequest(name=f"{world.verification}/reports/latest")),
        lambda: consent.GetAuthorization(consent_pb2.GetAuthorizationRequest(name=world.authorization)),
        lambda: consent.RevokeAuthorization(
            consent_pb2.RevokeAuthorizationRequest(name=world.authorization, reason="x")
        ),
        lambda: verifications.CreateVerification(
            create_message({**example_request(), "commissioned_by": OTHER}, [world.authorization])
        ),
        lambda: verifications.CreateVerification(create_message(example_request(), [world.authorization])),
    ]
    for attempt in calls:
        with pytest.raises(grpc.aio.AioRpcError):
            await attempt()
    # What does not exist at all is no refusal of anything: not counted.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await verifications.GetVerification(verification_pb2.GetVerificationRequest(name="verifications/nothing"))
    assert refused(caught) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    await harness.service.refusals.flush()
    await harness.service.log.integrate(harness.service.db.write)
    async with harness.service.db.sessions() as session:
        entries = await harness.service.audit.entries(session, after_index=-1, limit=10_000)
    counted = [
        json.loads(e.entry)["details"]
        for e in entries
        if e.kind == "CALL_REFUSED" and e.client == f"counted-other@{OTHER}"
    ]
    assert 1 <= len(counted) <= 2  # one per minute: two if the calls straddled a minute
    assert sum(d["count"] for d in counted) == len(calls)
    assert set().union(*(d["reasons"] for d in counted)) == {
        "NOT_FOUND",
        "AUTHORIZATION_NOT_FOUND",
        "NOT_OWN_ORGANISATION",
    }
    assert set().union(*(d["codes"] for d in counted)) == {"NOT_FOUND", "FAILED_PRECONDITION", "PERMISSION_DENIED"}
