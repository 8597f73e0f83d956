"""Checking an authorization: organisation and member signatures, key lifecycles, signing time (consent/check.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from suites import org_key

from consent import (
    AUTHORIZATION_PAYLOAD_TYPE,
    MEMBER_KEY_PAYLOAD_TYPE,
    AuthorizationError,
    AuthorizedMember,
    CertificateError,
    CheckedAuthorization,
    Envelope,
    SignatureError,
    SigningKey,
    TrustedKey,
    authorization_payload,
    check_authorization,
    keyids_to_look_up,
    member_key_certificate,
    parse_member_key_certificate,
    registered_authorization,
    sign_envelope,
)
from consent.check import CLOCK_SKEW, MAX_CERTIFICATES
from consent.envelope import MAX_SIGNATURES
from consent.signers import Signer

SIX = ("police", "housing", "tax", "vehicles", "banks", "social_security")  # the departments hedui ships

ORG = "533401-civil-affairs"
OTHER_ORG = "533402-civil-affairs"
AT = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 1)
ZHANG = AuthorizedMember("533401197803120118", "张建国")
LI = AuthorizedMember("53340119800605022X", "李秀英")
MING = AuthorizedMember("533401200809110310", "张小明")

ORG_KEY = org_key()  # issue 17: SM2 under HEDUI_TEST_SUITE=sm
ORG_P256 = SigningKey.generate_p256()
OTHER_ORG_KEY = org_key()
ZHANG_PHONE = SigningKey.generate_p256()
LI_PHONE = SigningKey.generate_ed25519()
STRANGER = SigningKey.generate_ed25519()


def trusted(
    key: SigningKey,
    organisation: str = ORG,
    *,
    not_before: dt.datetime = AT - dt.timedelta(days=30),
    not_after: dt.datetime | None = None,
    revoked_at: dt.datetime | None = None,
) -> TrustedKey:
    return TrustedKey(key.keyid, organisation, key.public_pem(), not_before, not_after, revoked_at)


def trust_of(*keys: TrustedKey) -> dict[str, TrustedKey]:
    return {k.keyid: k for k in keys}


TRUST = trust_of(trusted(ORG_KEY), trusted(ORG_P256), trusted(OTHER_ORG_KEY, OTHER_ORG))


def payload(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "commissioned_by": ORG,
        "purpose": "ASSESSMENT",
        "members": [ZHANG, LI, MING],
        "valid_from": TODAY,
        "valid_until": TODAY + dt.timedelta(days=90),
        "evidence": {"kind": "paper_form", "sha256": "0" * 64},
    }
    fields.update(overrides)
    return authorization_payload(**fields)


def signed(*keys: SigningKey, body: bytes | None = None) -> Envelope:
    return sign_envelope(body if body is not None else payload(), AUTHORIZATION_PAYLOAD_TYPE, keys)


def certificate(
    member: AuthorizedMember,
    phone: SigningKey,
    *,
    by: SigningKey = ORG_KEY,
    organisation: str = ORG,
    not_before: dt.datetime = AT - dt.timedelta(days=1),
    not_after: dt.datetime = AT + dt.timedelta(days=365),
) -> Envelope:
    body = member_key_certificate(
        organisation=organisation,
        id_number=member.id_number,
        name=member.name,
        public_key_pem=phone.public_pem(),
        not_before=not_before,
        not_after=not_after,
    )
    return sign_envelope(body, MEMBER_KEY_PAYLOAD_TYPE, (by,))


def check(
    envelope: Envelope, certificates: tuple[Envelope, ...] = (), trust: dict[str, TrustedKey] | None = None
) -> CheckedAuthorization:
    return check_authorization(envelope, certificates, TRUST if trust is None else trust, AT, TODAY, declared=SIX)


def refusal(
    envelope: Envelope, certificates: tuple[Envelope, ...] = (), trust: dict[str, TrustedKey] | None = None
) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        check(envelope, certificates, trust)
    return caught.value


# --- the organisation vouches for everyone named ---------------------------------------------------


@pytest.mark.parametrize("key", [ORG_KEY, ORG_P256], ids=["ed25519", "p256"])
def test_organisation_signature_covers_every_member(key: SigningKey) -> None:
    checked = check(signed(key))
    assert checked.signers == (Signer(key.keyid, "organisation", ORG),)
    assert all(checked.signed_for(m.id_number) for m in (ZHANG, LI, MING))
    assert checked.problems == ()


def test_a_trusted_key_of_another_organisation_does_not_vouch() -> None:
    error = refusal(signed(OTHER_ORG_KEY))
    assert error.field == "envelope.signatures"
    assert f"speaks for {OTHER_ORG}, not for {ORG}" in error.message


def test_unknown_key_is_refused_and_named() -> None:
    error = refusal(signed(STRANGER))
    assert f"key {STRANGER.keyid!r} is not in the trust store" in error.message


def test_a_good_signature_among_bad_ones_holds_and_the_others_are_listed() -> None:
    checked = check(signed(STRANGER, ORG_KEY, OTHER_ORG_KEY))
    assert [s.keyid for s in checked.signers] == [ORG_KEY.keyid]
    assert len(checked.problems) == 2


def test_wrong_payload_type_and_no_signature() -> None:
    envelope = sign_envelope(payload(), "application/json", (ORG_KEY,))
    assert refusal(envelope).field == "envelope.payload_type"
    assert "no signature" in refusal(dataclasses.replace(signed(ORG_KEY), signatures=())).message


def test_payload_is_checked_only_after_a_signature_holds() -> None:
    bad = payload(members=[ZHANG, ZHANG])
    with pytest.raises(AuthorizationError) as caught:
        check(signed(ORG_KEY, body=bad))
    assert caught.value.field == "members[1].id_number"
    # unsigned garbage is a signature problem, whatever the payload holds
    assert refusal(signed(STRANGER, body=bad)).field == "envelope.signatures"


# --- a member signs for themselves with a key the organisation certified ---------------------------


def test_member_signature_covers_that_member_only() -> None:
    checked = check(signed(ZHANG_PHONE), (certificate(ZHANG, ZHANG_PHONE),))
    assert checked.signers == (Signer(ZHANG_PHONE.keyid, "member", ORG, ZHANG.id_number, ORG_KEY.keyid),)
    assert checked.signed_for(ZHANG.id_number)
    assert not checked.signed_for(LI.id_number)
    assert not checked.signed_for(MING.id_number)


def test_two_members_sign_on_their_phones() -> None:
    certificates = (certificate(ZHANG, ZHANG_PHONE), certificate(LI, LI_PHONE, by=ORG_P256))
    checked = check(signed(ZHANG_PHONE, LI_PHONE), certificates)
    assert {s.id_number for s in checked.signers} == {ZHANG.id_number, LI.id_number}
    assert not checked.signed_for(MING.id_number)


def test_member_and_organisation_signatures_together() -> None:
    checked = check(signed(ZHANG_PHONE, ORG_KEY), (certificate(ZHANG, ZHANG_PHONE),))
    assert [s.kind for s in checked.signers] == ["member", "organisation"]
    assert checked.signed_for(MING.id_number)


def test_member_key_without_its_certificate_is_unknown() -> None:
    assert "no member-key certificate names it" in refusal(signed(ZHANG_PHONE)).message


@pytest.mark.parametrize(
    ("make", "words"),
    [
        pytest.param(lambda: certificate(ZHANG, ZHANG_PHONE, by=STRANGER), "not in the trust store", id="untrusted"),
        pytest.param(
            lambda: certificate(ZHANG, ZHANG_PHONE, by=OTHER_ORG_KEY, organisation=OTHER_ORG),
            f"speaks for {OTHER_ORG}",
            id="other-organisation",
        ),
        pytest.param(
            lambda: certificate(ZHANG, ZHANG_PHONE, by=OTHER_ORG_KEY), f"not signed by a key of {ORG}", id="mislabelled"
        ),
        pytest.param(
            lambda: certificate(ZHANG, ZHANG_PHONE, not_after=AT - dt.timedelta(seconds=1)),
            "was certified until",
            id="expired",
        ),
        pytest.param(
            lambda: certificate(ZHANG, ZHANG_PHONE, not_before=AT + dt.timedelta(hours=1)),
            "is certified only from",
            id="not-yet",
        ),
        pytest.param(
            lambda: sign_envelope(certificate(ZHANG, ZHANG_PHONE).payload, AUTHORIZATION_PAYLOAD_TYPE, (ORG_KEY,)),
            "must be",
            id="wrong-type",
        ),
        pytest.param(
            lambda: dataclasses.replace(
                certificate(ZHANG, ZHANG_PHONE),
                payload=certificate(ZHANG, ZHANG_PHONE).payload.replace(
                    ZHANG.id_number.encode(), LI.id_number.encode()
                ),
            ),
            "does not verify",
            id="tampered",
        ),
    ],
)
def test_member_signature_does_not_hold_without_a_valid_certificate(make: Any, words: str) -> None:
    error = refusal(signed(ZHANG_PHONE), (make(),))
    assert words in error.message, error.message


def test_certificate_for_someone_not_named_does_not_count() -> None:
    outsider = AuthorizedMember("533401194501010411", "张德福")
    error = refusal(signed(ZHANG_PHONE), (certificate(outsider, ZHANG_PHONE),))
    assert "belongs to a person the authorization does not name" in error.message


def test_certificate_issuer_revoked_before_the_signing_time() -> None:
    trust = trust_of(trusted(ORG_KEY, revoked_at=AT - dt.timedelta(minutes=1)), trusted(ORG_P256))
    error = refusal(signed(ZHANG_PHONE), (certificate(ZHANG, ZHANG_PHONE),), trust)
    assert "revoked" in error.message


def test_too_many_certificates() -> None:
    many = tuple(certificate(ZHANG, ZHANG_PHONE) for _ in range(MAX_CERTIFICATES + 1))
    assert refusal(signed(ORG_KEY), many).field == "member_key_certificates"


def test_keyids_to_look_up_include_the_certifiers() -> None:
    ids = keyids_to_look_up(signed(ZHANG_PHONE), (certificate(ZHANG, ZHANG_PHONE, by=ORG_P256),))
    assert ids == sorted({ZHANG_PHONE.keyid, ORG_P256.keyid})


# --- member-key certificate payloads -----------------------------------------------------------------


def cert_body(**overrides: Any) -> bytes:
    raw = json.loads(certificate(ZHANG, ZHANG_PHONE).payload)
    raw.update(overrides)
    return json.dumps({k: v for k, v in raw.items() if v is not None}).encode()


def test_certificate_round_trip() -> None:
    parsed = parse_member_key_certificate(certificate(ZHANG, ZHANG_PHONE).payload)
    assert (parsed.organisation, parsed.id_number, parsed.name) == (ORG, ZHANG.id_number, ZHANG.name)
    assert parsed.keyid == ZHANG_PHONE.keyid
    assert parsed.not_before == AT - dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id_number": "533401197803120119"}, "id_number"),
        ({"public_key": "not a key"}, "public_key"),
        ({"not_after": "2026-10-01T00:00:00Z"}, "not_after"),
        ({"not_after": "2040-01-01T00:00:00Z"}, "not_after"),
        ({"not_before": "2026-11-01"}, "not_before"),
        ({"name": ""}, "name"),
        ({"organisation": None}, "organisation"),
        ({"device": "phone"}, "device"),
    ],
)
def test_bad_certificate_payloads(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(CertificateError) as caught:
        parse_member_key_certificate(cert_body(**overrides))
    assert caught.value.field == field


# --- the signing time ----------------------------------------------------------------------------------


def test_signed_at_later_than_the_registration_is_refused() -> None:
    body = payload(signed_at=AT + CLOCK_SKEW + dt.timedelta(seconds=1))
    with pytest.raises(AuthorizationError) as caught:
        check(signed(ORG_KEY, body=body))
    assert caught.value.field == "signed_at"
    assert check(signed(ORG_KEY, body=payload(signed_at=AT + CLOCK_SKEW))).signers


def test_key_not_yet_valid_at_the_claimed_signing_time_fails() -> None:
    trust = trust_of(trusted(ORG_KEY, not_before=AT - dt.timedelta(hours=1)))
    body = payload(signed_at=AT - dt.timedelta(hours=2))
    error = refusal(signed(ORG_KEY, body=body), trust=trust)
    assert "is not valid before" in error.message and "signed_at" in error.message
    assert check(signed(ORG_KEY, body=payload(signed_at=AT - dt.timedelta(minutes=30))), trust=trust).signers


def test_key_revoked_before_the_claimed_signing_time_fails_even_if_registered_later_would_pass() -> None:
    trust = trust_of(trusted(ORG_KEY, revoked_at=AT + dt.timedelta(hours=1)))
    assert check(signed(ORG_KEY), trust=trust).signers  # registration before the revocation
    body = payload(signed_at=AT + dt.timedelta(hours=2))
    with pytest.raises(AuthorizationError):  # and a signed_at after the registration is refused anyway
        check(signed(ORG_KEY, body=body), trust=trust)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        (trusted(ORG_KEY, revoked_at=AT), "revoked at"),
        (trusted(ORG_KEY, not_after=AT), "expired at"),
        (trusted(ORG_KEY, not_before=AT + dt.timedelta(seconds=1)), "not valid before"),
    ],
)
def test_key_not_valid_when_hedui_received_the_signature(key: TrustedKey, words: str) -> None:
    assert words in refusal(signed(ORG_KEY), trust=trust_of(key)).message


# --- stored authorizations are checked again against today's trust store ---------------------------------


def test_a_rotated_out_key_keeps_what_was_registered_before_its_end() -> None:
    rotated = trust_of(trusted(ORG_KEY, not_after=AT + dt.timedelta(days=7)))
    later = registered_authorization("a1", signed(ORG_KEY), (), rotated, AT)
    assert later.signature_problem is None and later.signed_for(LI.id_number)
    too_late = registered_authorization("a2", signed(ORG_KEY), (), rotated, AT + dt.timedelta(days=8))
    assert too_late.signature_problem is not None and "expired" in too_late.signature_problem


def test_a_revocation_from_before_the_registration_takes_the_signature_with_it() -> None:
    envelope = signed(ORG_KEY)
    before = registered_authorization("a1", envelope, (), TRUST, AT)
    assert before.signed_for(ZHANG.id_number)
    stolen = trust_of(trusted(ORG_KEY, revoked_at=AT - dt.timedelta(hours=1)))
    after = registered_authorization("a1", envelope, (), stolen, AT)
    assert after.signature_problem is not None and "revoked" in after.signature_problem
    assert not after.signed_for(ZHANG.id_number)
    assert after.payload.commissioned_by == ORG  # still shown as what it was
    # a revocation that takes effect after the registration leaves it standing
    later = trust_of(trusted(ORG_KEY, revoked_at=AT + dt.timedelta(hours=1)))
    assert registered_authorization("a1", envelope, (), later, AT).signed_for(ZHANG.id_number)


def test_a_member_signature_whose_certifier_was_revoked_no_longer_holds() -> None:
    envelope, certificates = signed(ZHANG_PHONE), (certificate(ZHANG, ZHANG_PHONE),)
    assert registered_authorization("a1", envelope, certificates, TRUST, AT).signed_for(ZHANG.id_number)
    stolen = trust_of(trusted(ORG_KEY, revoked_at=AT - dt.timedelta(days=2)))
    again = registered_authorization("a1", envelope, certificates, stolen, AT)
    assert not again.signed_for(ZHANG.id_number)
    assert again.signature_problem is not None


def test_a_stored_payload_that_no_longer_parses_covers_nobody() -> None:
    envelope = signed(ORG_KEY, body=b"{}")
    stored = registered_authorization("a1", envelope, (), TRUST, AT)
    assert stored.signature_problem is not None
    assert stored.payload.members == ()


def test_a_member_key_certified_for_two_people_is_not_used() -> None:
    certificates = (certificate(ZHANG, ZHANG_PHONE), certificate(LI, ZHANG_PHONE))
    error = refusal(signed(ZHANG_PHONE), certificates)
    assert "certified for more than one person" in error.message
    checked = check(signed(ZHANG_PHONE, ORG_KEY), certificates)
    assert [s.kind for s in checked.signers] == ["organisation"]


def test_signatures_are_bounded() -> None:
    many = dataclasses.replace(signed(ORG_KEY), signatures=signed(ORG_KEY).signatures * (MAX_SIGNATURES + 1))
    assert "at most" in refusal(many).message
    heavy = dataclasses.replace(
        certificate(ZHANG, ZHANG_PHONE), signatures=certificate(ZHANG, ZHANG_PHONE).signatures * (MAX_SIGNATURES + 1)
    )
    assert "at most" in refusal(signed(ZHANG_PHONE), (heavy,)).message


# --- which departments: the service's declarations -------------------------------------------------


def test_the_service_passes_the_departments_it_declares() -> None:
    envelope = signed(ORG_KEY, body=payload(departments=("police", "market_regulation")))
    declared = ("police", "market_regulation")

    checked = check_authorization(envelope, (), TRUST, AT, TODAY, declared=declared)

    assert checked.payload.departments == ("police", "market_regulation")
    with pytest.raises(AuthorizationError) as caught:
        check(envelope)  # the deprecated default: today's six
    assert (caught.value.field, caught.value.message) == ("departments[1]", "unknown department 'market_regulation'")


def test_a_stored_authorization_is_judged_on_its_signatures_not_on_todays_declarations() -> None:
    envelope = signed(ORG_KEY, body=payload(departments=("market_regulation",)))

    stored = registered_authorization("a1", envelope, (), TRUST, AT)

    assert stored.signature_problem is None
    assert stored.payload.departments == ("market_regulation",)
    assert stored.signed_for(ZHANG.id_number)
