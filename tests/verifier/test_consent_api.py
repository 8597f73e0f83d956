"""Authorizations through the gRPC API, on SQLite and PostgreSQL: bad input, members' own signatures,
the trust store's lifecycle, and revocation while answers are pending."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from harness import Harness, error_details, example_request, example_sandbox, running_service
from sqlalchemy import text

from consent import (
    AUTHORIZATION_PAYLOAD_TYPE,
    MEMBER_KEY_PAYLOAD_TYPE,
    AuthorizedMember,
    Envelope,
    SigningKey,
    authorization_payload,
    china_today,
    member_key_certificate,
    sign_envelope,
)
from hedui.v1 import audit_pb2, consent_pb2, verification_pb2
from verifier.api import envelope_message
from verifier.protojson import message_to_plain

pytestmark = pytest.mark.integration

ORG = "533401-civil-affairs"
APPLICANT = AuthorizedMember("533401197803120118", "张建国")
SPOUSE = AuthorizedMember("53340119800605022X", "李秀英")
CHILD = AuthorizedMember("533401200809110310", "张小明")
MEMBERS = (APPLICANT, SPOUSE, CHILD)
DEPARTMENTS = ("banks", "housing", "police", "social_security", "tax", "vehicles")


details = error_details


def body(**overrides: Any) -> bytes:
    today = china_today()
    fields: dict[str, Any] = {
        "commissioned_by": ORG,
        "purpose": "ASSESSMENT",
        "members": list(MEMBERS),
        "valid_from": today,
        "valid_until": today + dt.timedelta(days=90),
        "evidence": {"kind": "paper_form", "sha256": "ab" * 32},
    }
    fields.update(overrides)
    return authorization_payload(**fields)


def certificate(member: AuthorizedMember, phone: SigningKey, by: SigningKey) -> Envelope:
    now = dt.datetime.now(dt.UTC)
    payload = member_key_certificate(
        organisation=ORG,
        id_number=member.id_number,
        name=member.name,
        public_key_pem=phone.public_pem(),
        not_before=now - dt.timedelta(minutes=5),
        not_after=now + dt.timedelta(days=365),
    )
    return sign_envelope(payload, MEMBER_KEY_PAYLOAD_TYPE, (by,))


async def register(
    h: Harness, envelope: Envelope, certificates: tuple[Envelope, ...] = ()
) -> consent_pb2.Authorization:
    return await h.consent.RegisterAuthorization(  # type: ignore[no-any-return]
        consent_pb2.RegisterAuthorizationRequest(
            envelope=envelope_message(envelope), member_key_certificates=[envelope_message(c) for c in certificates]
        ),
        metadata=h.metadata,
    )


async def audit_kinds(h: Harness) -> list[str]:
    page = await h.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_size=500), metadata=h.metadata)
    return [e.kind for e in page.events]


async def report_of(h: Harness, name: str) -> dict[str, Any]:
    message = await h.verifications.GetReport(
        verification_pb2.GetReportRequest(name=f"{name}/reports/latest"), metadata=h.metadata
    )
    return message_to_plain(message)


async def nothing_stored_or_queried(h: Harness) -> None:
    for member in MEMBERS:
        listed = await h.consent.ListAuthorizations(
            consent_pb2.ListAuthorizationsRequest(member_id_number=member.id_number)
        )
        assert list(listed.authorizations) == []
    async with h.service.db.sessions() as session:
        for table in ("authorizations", "authorization_members", "verifications"):
            assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0, table
    kinds = await audit_kinds(h)
    assert "AUTHORIZATION_REGISTERED" not in kinds and "DEPARTMENT_QUERY_SENT" not in kinds
    assert all(not c.asked and not c.polls for c in h.connectors.values())


# --- bad input: a precise reason, nothing stored, nothing queried ---------------------------------------

Case = Callable[[Harness], Envelope]


def _signed(payload: bytes) -> Case:
    return lambda h: sign_envelope(payload, AUTHORIZATION_PAYLOAD_TYPE, (h.key,))


def _tampered(h: Harness) -> Envelope:
    good = sign_envelope(body(), AUTHORIZATION_PAYLOAD_TYPE, (h.key,))
    return Envelope(good.payload.replace(b"ASSESSMENT", b"RECHECK   "), good.payload_type, good.signatures)


BAD_INPUT: list[Any] = [
    pytest.param(_tampered, "BAD_SIGNATURE", "envelope.signatures", "does not verify", id="tampered-payload"),
    pytest.param(
        lambda h: sign_envelope(body(), "application/json", (h.key,)),
        "BAD_SIGNATURE",
        "envelope.payload_type",
        AUTHORIZATION_PAYLOAD_TYPE,
        id="wrong-payload-type",
    ),
    pytest.param(
        lambda h: sign_envelope(body(), AUTHORIZATION_PAYLOAD_TYPE, (SigningKey.generate_ed25519(),)),
        "BAD_SIGNATURE",
        "envelope.signatures",
        "not in the trust store",
        id="unknown-key",
    ),
    pytest.param(
        lambda h: Envelope(body(), AUTHORIZATION_PAYLOAD_TYPE, ()),
        "BAD_SIGNATURE",
        "envelope.signatures",
        "no signature",
        id="no-signature",
    ),
    pytest.param(
        _signed(body(members=[APPLICANT, SPOUSE, APPLICANT])),
        "BAD_AUTHORIZATION",
        "envelope.payload.members[2].id_number",
        "duplicated member",
        id="duplicated-member",
    ),
    pytest.param(
        _signed(body(members=[APPLICANT, AuthorizedMember("533401198006050221", "李秀英")])),
        "BAD_AUTHORIZATION",
        "envelope.payload.members[1].id_number",
        "check character",
        id="bad-check-character",
    ),
    pytest.param(
        _signed(
            body(valid_from=china_today() - dt.timedelta(days=40), valid_until=china_today() - dt.timedelta(days=1))
        ),
        "BAD_AUTHORIZATION",
        "envelope.payload.valid_until",
        "in the past",
        id="window-in-the-past",
    ),
    pytest.param(
        _signed(body(valid_until=china_today() + dt.timedelta(days=367))),
        "BAD_AUTHORIZATION",
        "envelope.payload.valid_until",
        "longer than 366 days",
        id="window-too-long",
    ),
    pytest.param(
        _signed(body(departments=("police", "weather"))),
        "BAD_AUTHORIZATION",
        "envelope.payload.departments[1]",
        "unknown department 'weather'",
        id="unknown-department",
    ),
    pytest.param(
        _signed(body(commissioned_by="533402-civil-affairs")),
        "BAD_SIGNATURE",
        "envelope.signatures",
        "not for 533402-civil-affairs",
        id="key-of-another-organisation",
    ),
    pytest.param(
        _signed(body(signed_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))),
        "BAD_AUTHORIZATION",
        "envelope.payload.signed_at",
        "later than",
        id="signed-in-the-future",
    ),
    pytest.param(
        _signed(body(signed_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))),
        "BAD_SIGNATURE",
        "envelope.signatures",
        "not valid before",
        id="key-not-yet-valid-at-signing-time",
    ),
]


@pytest.mark.parametrize(("make", "reason", "field", "words"), BAD_INPUT)
async def test_bad_authorizations_are_refused_precisely_and_leave_no_trace(
    harness: Harness, make: Case, reason: str, field: str, words: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(harness, make(harness))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    got_reason, violations = details(caught.value)
    assert got_reason == reason
    assert [f for f, _ in violations] == [field], violations
    assert words in violations[0][1], violations
    await nothing_stored_or_queried(harness)


async def test_a_revoked_key_cannot_register_and_its_revocation_is_audited(harness: Harness) -> None:
    await harness.service.trust_store.revoke(harness.key.keyid, reason="case-system laptop stolen")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(harness, sign_envelope(body(), AUTHORIZATION_PAYLOAD_TYPE, (harness.key,)))
    reason, violations = details(caught.value)
    assert reason == "BAD_SIGNATURE" and "revoked at" in violations[0][1]
    await nothing_stored_or_queried(harness)
    assert "TRUSTED_KEY_REVOKED" in await audit_kinds(harness)


# --- members signing on their own phones ----------------------------------------------------------------


async def test_applicant_signed_on_their_phone_spouse_did_not(harness: Harness) -> None:
    """The envelope names all three but only the applicant's own certified key signed it."""
    phone = SigningKey.generate_p256()
    envelope = sign_envelope(body(), AUTHORIZATION_PAYLOAD_TYPE, (phone,))
    auth = await register(harness, envelope, (certificate(APPLICANT, phone, harness.key),))
    assert {m.id_number: m.signed for m in auth.members} == {
        APPLICANT.id_number: True,
        SPOUSE.id_number: False,
        CHILD.id_number: False,
    }
    assert [(s.kind, s.keyid, s.member_id_number, s.certified_by) for s in auth.signers] == [
        ("member", phone.keyid, APPLICANT.id_number, harness.key.keyid)
    ]
    fetched = await harness.consent.GetAuthorization(consent_pb2.GetAuthorizationRequest(name=auth.name))
    assert len(fetched.member_key_certificates) == 1
    created = await harness.create(example_request(), [auth.name])
    v = await harness.settle(created.name)
    report = await report_of(harness, v.name)
    for connector in harness.connectors.values():
        assert connector.asked and set(connector.asked) == {APPLICANT.id_number}
    missing = {(f["id_number"], f["evidence"][0]["value"]) for f in report["flags"] if f["code"] == "CONSENT_MISSING"}
    assert missing == {(m.id_number, d) for m in (SPOUSE, CHILD) for d in DEPARTMENTS}
    assert all(sorted(s["not_queried"]) == sorted([SPOUSE.id_number, CHILD.id_number]) for s in report["sources"])


async def test_member_signature_without_a_certificate_is_refused(harness: Harness) -> None:
    phone = SigningKey.generate_ed25519()
    stranger_certified = certificate(APPLICANT, phone, SigningKey.generate_ed25519())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(harness, sign_envelope(body(), AUTHORIZATION_PAYLOAD_TYPE, (phone,)), (stranger_certified,))
    reason, violations = details(caught.value)
    assert reason == "BAD_SIGNATURE"
    assert "member_key_certificates[0]" in violations[0][1] and "not in the trust store" in violations[0][1]
    await nothing_stored_or_queried(harness)


# --- the trust store's lifecycle reaches stored authorizations --------------------------------------------


async def test_rotation_keeps_earlier_authorizations_and_refuses_the_old_key_after_its_end(harness: Harness) -> None:
    earlier = await register(harness, sign_envelope(body(), AUTHORIZATION_PAYLOAD_TYPE, (harness.key,)))
    new_key = SigningKey.generate_ed25519()
    _, old = await harness.service.trust_store.rotate(
        ORG, new_key.public_pem(), old_valid_until=dt.datetime.now(dt.UTC)
    )
    assert old.keyid == harness.key.keyid
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(harness, sign_envelope(body(purpose="RECHECK"), AUTHORIZATION_PAYLOAD_TYPE, (harness.key,)))
    assert "expired at" in details(caught.value)[1][0][1]
    fresh = await register(
        harness, sign_envelope(body(purpose="TEMPORARY_ASSISTANCE"), AUTHORIZATION_PAYLOAD_TYPE, (new_key,))
    )
    assert fresh.signed_by == [new_key.keyid]
    # registered before the rotation: still good
    v = await harness.settle((await harness.create(example_request(), [earlier.name])).name)
    assert v.state == verification_pb2.Verification.COMPLETED
    kinds = await audit_kinds(harness)
    assert kinds.count("TRUSTED_KEY_ADDED") == 2 and "TRUSTED_KEY_ROTATED" in kinds


async def test_a_revocation_from_before_the_registration_withdraws_stored_authorizations(harness: Harness) -> None:
    auth = await register(harness, sign_envelope(body(), AUTHORIZATION_PAYLOAD_TYPE, (harness.key,)))
    await harness.service.trust_store.revoke(
        harness.key.keyid,
        reason="key found on a public share",
        at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10),
    )
    fetched = await harness.consent.GetAuthorization(consent_pb2.GetAuthorizationRequest(name=auth.name))
    assert fetched.HasField("signature_problem") and "revoked" in fetched.signature_problem
    assert not any(m.signed for m in fetched.members)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.create(example_request(), [auth.name])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    reason, violations = details(caught.value)
    assert reason == "CONSENT_MISSING" and "no longer validly signed" in violations[0][1]
    assert all(not c.asked for c in harness.connectors.values())


# --- Done when: revoking while the bank's answer is pending stops the bank's polling ---------------------


async def test_revoking_while_bank_answers_are_pending_stops_bank_polling(db_url: str) -> None:
    sandbox = example_sandbox()
    sandbox["banks"]["answer_after_seconds"] = 120
    # A generous deadline (the bank must hand out its ticket within it, on however busy a machine);
    # the bank then holds the verification until the deadline, after which its answer is pending.
    async with running_service(db_url, sandbox, deadline=3.0, poll=0.05) as h:
        auth = await register(h, sign_envelope(body(), AUTHORIZATION_PAYLOAD_TYPE, (h.key,)))
        created = await h.create(example_request(), [auth.name])
        v = await h.settle(created.name)
        assert v.state == verification_pb2.Verification.AWAITING_ANSWERS
        banks = h.connectors["banks"]
        polls_at_settle = len(banks.polls)
        async with asyncio.timeout(30):
            while True:
                if len(banks.polls) >= polls_at_settle + 3:  # the background poller is at work
                    break
                await asyncio.sleep(0.05)
        await h.consent.RevokeAuthorization(
            consent_pb2.RevokeAuthorizationRequest(name=auth.name, reason="applicant withdrew consent"),
            metadata=h.metadata,
        )
        async with asyncio.timeout(30):
            while True:
                current = await h.verifications.GetVerification(verification_pb2.GetVerificationRequest(name=v.name))
                bank = next(d for d in current.departments if d.department == "banks")
                if bank.status == "not_queried":
                    break
                await asyncio.sleep(0.05)
        polls_at_stop = len(banks.polls)
        await asyncio.sleep(1.0)  # twenty poll intervals
        assert len(banks.polls) == polls_at_stop, "the bank was polled after the authorization was revoked"
        assert current.state == verification_pb2.Verification.COMPLETED
        report = await report_of(h, v.name)
    source = next(s for s in report["sources"] if s["department"] == "banks")
    assert source["status"] == "not_queried"
    assert sorted(source["not_queried"]) == sorted(m.id_number for m in MEMBERS)
    missing = {(f["id_number"], f["evidence"][0]["value"]) for f in report["flags"] if f["code"] == "CONSENT_MISSING"}
    assert missing == {(m.id_number, "banks") for m in MEMBERS}
    # the other departments answered before the revocation and stay in the report
    assert {s["department"]: s["status"] for s in report["sources"] if s["department"] != "banks"} == {
        d: "ok" for d in DEPARTMENTS if d != "banks"
    }


async def test_authorizations_of_a_member_are_listed_a_page_at_a_time(harness: Harness) -> None:
    names = []
    for purpose in ("ASSESSMENT", "RECHECK", "TEMPORARY_ASSISTANCE"):
        auth = await register(harness, sign_envelope(body(purpose=purpose), AUTHORIZATION_PAYLOAD_TYPE, (harness.key,)))
        names.append(auth.name)
    seen, token = [], ""
    while True:
        page = await harness.consent.ListAuthorizations(
            consent_pb2.ListAuthorizationsRequest(member_id_number=CHILD.id_number, page_size=2, page_token=token)
        )
        assert len(page.authorizations) <= 2
        seen += [a.name for a in page.authorizations]
        token = page.next_page_token
        if not token:
            break
    assert seen == names
    for request in (
        consent_pb2.ListAuthorizationsRequest(member_id_number=CHILD.id_number, page_size=-1),
        consent_pb2.ListAuthorizationsRequest(member_id_number=CHILD.id_number, page_token="x²"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await harness.consent.ListAuthorizations(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
