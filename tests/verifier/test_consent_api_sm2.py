"""Issue 17: authorizations signed with SM2 through the gRPC API, on SQLite and PostgreSQL: the organisation's SM2
key, a member's SM2 phone key certified by it (raw r‖s, as a phone writes it), a verification run on them, and a
tampered SM2 signature refused with the reason."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator

import grpc
import pytest
from harness import Harness, error_details, example_request, example_sandbox, running_service

from consent import (
    AUTHORIZATION_PAYLOAD_TYPE,
    MEMBER_KEY_PAYLOAD_TYPE,
    AuthorizedMember,
    Envelope,
    EnvelopeSignature,
    SigningKey,
    authorization_payload,
    china_today,
    member_key_certificate,
    sign_envelope,
)
from consent.envelope import pae
from consent.sm2 import Sm2PrivateKey
from hedui.v1 import consent_pb2
from verifier.api import envelope_message

pytestmark = pytest.mark.integration

ORG = "533401-civil-affairs"
APPLICANT = AuthorizedMember("533401197803120118", "张建国")
SPOUSE = AuthorizedMember("53340119800605022X", "李秀英")
CHILD = AuthorizedMember("533401200809110310", "张小明")


@pytest.fixture
async def sm2_harness(db_url: str) -> AsyncIterator[Harness]:
    """The service with an SM2 organisation key in its trust store."""
    async with running_service(db_url, example_sandbox(), key=SigningKey.generate_sm2()) as h:
        yield h


def _body() -> bytes:
    today = china_today()
    return authorization_payload(
        commissioned_by=ORG,
        purpose="ASSESSMENT",
        members=[APPLICANT, SPOUSE, CHILD],
        valid_from=today,
        valid_until=today + dt.timedelta(days=90),
        evidence={"kind": "paper_form", "sha256": "ab" * 32},
    )


async def _register(
    h: Harness, envelope: Envelope, certificates: tuple[Envelope, ...] = ()
) -> consent_pb2.Authorization:
    return await h.consent.RegisterAuthorization(  # type: ignore[no-any-return]
        consent_pb2.RegisterAuthorizationRequest(
            envelope=envelope_message(envelope), member_key_certificates=[envelope_message(c) for c in certificates]
        ),
        metadata=h.metadata,
    )


async def test_an_sm2_organisation_signature_registers_and_its_verification_runs(sm2_harness: Harness) -> None:
    """The SM2-signed authorization is registered under the key id of the SM2 SPKI; the verification on it asks
    every department about all three members and reports."""
    h = sm2_harness
    envelope = sign_envelope(_body(), AUTHORIZATION_PAYLOAD_TYPE, (h.key,))
    auth = await _register(h, envelope)
    assert [(s.kind, s.keyid) for s in auth.signers] == [("organisation", h.key.keyid)]
    assert all(m.signed for m in auth.members)
    created = await h.create(example_request(), [auth.name])
    settled = await h.settle(created.name)
    assert settled.latest_report
    ids = {APPLICANT.id_number, SPOUSE.id_number, CHILD.id_number}
    assert all(set(c.asked) == ids for c in h.connectors.values())


async def test_a_member_s_sm2_phone_key_certified_by_the_sm2_organisation_key_signs_for_them(
    sm2_harness: Harness,
) -> None:
    """The applicant's phone signs raw r‖s with an SM2 key the organisation certified with its SM2 key: the
    applicant signed, the others did not."""
    h = sm2_harness
    phone = Sm2PrivateKey.generate()
    now = dt.datetime.now(dt.UTC)
    certificate = sign_envelope(
        member_key_certificate(
            organisation=ORG,
            id_number=APPLICANT.id_number,
            name=APPLICANT.name,
            public_key_pem=phone.public.pem(),
            not_before=now - dt.timedelta(minutes=5),
            not_after=now + dt.timedelta(days=365),
        ),
        MEMBER_KEY_PAYLOAD_TYPE,
        (h.key,),
    )
    body = _body()
    raw = phone.sign(pae(AUTHORIZATION_PAYLOAD_TYPE, body), raw=True)
    envelope = Envelope(body, AUTHORIZATION_PAYLOAD_TYPE, (EnvelopeSignature(phone.public.keyid, raw),))
    auth = await _register(h, envelope, (certificate,))
    assert {m.id_number: m.signed for m in auth.members} == {
        APPLICANT.id_number: True,
        SPOUSE.id_number: False,
        CHILD.id_number: False,
    }
    assert [(s.kind, s.keyid, s.member_id_number, s.certified_by) for s in auth.signers] == [
        ("member", phone.public.keyid, APPLICANT.id_number, h.key.keyid)
    ]


async def test_a_tampered_sm2_signature_is_refused_with_its_form(sm2_harness: Harness) -> None:
    """One bit of the DER signature changed: BAD_SIGNATURE on envelope.signatures, naming SM2's form."""
    h = sm2_harness
    good = sign_envelope(_body(), AUTHORIZATION_PAYLOAD_TYPE, (h.key,))
    sig = bytearray(good.signatures[0].sig)
    sig[-1] ^= 0x01
    bad = Envelope(good.payload, good.payload_type, (EnvelopeSignature(h.key.keyid, bytes(sig)),))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _register(h, bad)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reason, violations = error_details(caught.value)
    assert reason == "BAD_SIGNATURE"
    assert [f for f, _ in violations] == ["envelope.signatures"]
    assert "does not verify (SM2 with SM3" in violations[0][1], violations
    assert base64.b64encode(bytes(sig)).decode() not in violations[0][1]
