"""Issue 13 (input): the envelope's shape is checked before any look-up, ECDSA's raw form, bounded work per key."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from consent import AUTHORIZATION_PAYLOAD_TYPE, AuthorizationError, SignatureError, keyids_to_look_up
from consent.check import MAX_CERTIFICATE_BYTES, MAX_PAYLOAD_BYTES
from consent.envelope import (
    MAX_KEYID,
    MAX_SIGNATURE_BYTES,
    MAX_SIGNATURES,
    Envelope,
    EnvelopeSignature,
    SigningKey,
    TrustedKey,
    pae,
    shown_keyid,
    sign_envelope,
    verify_envelope,
    verify_signature,
)
from consent.signers import MEMBER_KEY_PAYLOAD_TYPE

NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
KEY = SigningKey.generate_p256()
TRUST = {KEY.keyid: TrustedKey(KEY.keyid, "533401-civil-affairs", KEY.public_pem(), NOW - dt.timedelta(days=1))}
GOOD = sign_envelope(b'{"x": 1}', AUTHORIZATION_PAYLOAD_TYPE, (KEY,))


def raw_rs(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_a_p256_signature_verifies_in_der_and_in_raw_r_s_form() -> None:
    message = pae(GOOD.payload_type, GOOD.payload)
    der = GOOD.signatures[0].sig
    assert verify_signature(KEY.public_key, der, message)
    assert verify_signature(KEY.public_key, raw_rs(der), message)
    assert not verify_signature(KEY.public_key, raw_rs(der), message + b"x")
    assert not verify_signature(KEY.public_key, b"\xff" * 64, message)  # r, s out of range: refused, no exception
    assert not verify_signature(KEY.public_key, raw_rs(der)[:63], message)


def test_a_failing_p256_signature_says_which_forms_are_expected() -> None:
    bad = dataclasses.replace(GOOD, signatures=(EnvelopeSignature(KEY.keyid, b"\x01" * 40),))
    with pytest.raises(SignatureError) as caught:
        verify_envelope(bad, AUTHORIZATION_PAYLOAD_TYPE, TRUST, NOW)
    assert "DER, or raw r‖s of exactly 64 bytes" in caught.value.message


SHAPES = [
    (lambda e: dataclasses.replace(e, payload_type="application/json"), "envelope.payload_type"),
    (lambda e: dataclasses.replace(e, signatures=()), "envelope.signatures"),
    (lambda e: dataclasses.replace(e, signatures=e.signatures * (MAX_SIGNATURES + 1)), "envelope.signatures"),
    (lambda e: dataclasses.replace(e, signatures=(EnvelopeSignature("", b"x"),)), "envelope.signatures[0].keyid"),
    (lambda e: dataclasses.replace(e, signatures=(EnvelopeSignature("a\x00b", b"x"),)), "envelope.signatures[0].keyid"),
    (
        lambda e: dataclasses.replace(e, signatures=(EnvelopeSignature("k" * (MAX_KEYID + 1), b"x"),)),
        "envelope.signatures[0].keyid",
    ),
    (
        lambda e: dataclasses.replace(e, signatures=(EnvelopeSignature("k", b"x" * (MAX_SIGNATURE_BYTES + 1)),)),
        "envelope.signatures[0].sig",
    ),
]


@pytest.mark.parametrize(("change", "field"), SHAPES)
def test_a_misshapen_envelope_is_refused_before_any_key_is_looked_up(change: object, field: str) -> None:
    with pytest.raises(SignatureError) as caught:
        keyids_to_look_up(change(GOOD), ())  # type: ignore[operator]
    assert caught.value.field == field


def test_payloads_and_certificates_are_bounded() -> None:
    huge = sign_envelope(b"[" * (MAX_PAYLOAD_BYTES + 1), AUTHORIZATION_PAYLOAD_TYPE, (KEY,))
    with pytest.raises(AuthorizationError) as caught:
        keyids_to_look_up(huge, ())
    assert caught.value.field == "envelope.payload"
    big_certificate = sign_envelope(b"{" * (MAX_CERTIFICATE_BYTES + 1), MEMBER_KEY_PAYLOAD_TYPE, (KEY,))
    with pytest.raises(SignatureError) as caught_certificate:
        keyids_to_look_up(GOOD, (big_certificate,))
    assert caught_certificate.value.field == "member_key_certificates[0].payload"
    relabelled = dataclasses.replace(big_certificate, payload_type=AUTHORIZATION_PAYLOAD_TYPE)
    with pytest.raises(SignatureError) as caught_type:
        keyids_to_look_up(GOOD, (relabelled,))
    assert caught_type.value.field == "member_key_certificates[0].payload_type"


def test_bogus_signatures_under_one_key_id_cost_one_verification() -> None:
    bogus = EnvelopeSignature(KEY.keyid, b"\x01" * 64)
    envelope = dataclasses.replace(GOOD, signatures=(bogus,) * MAX_SIGNATURES)
    with pytest.raises(SignatureError) as caught:
        verify_envelope(envelope, AUTHORIZATION_PAYLOAD_TYPE, TRUST, NOW)
    assert caught.value.message.count("does not verify") == 1
    assert caught.value.message.count("signs more than once") == MAX_SIGNATURES - 1


def test_key_ids_in_messages_are_bounded_and_mask_identity_numbers() -> None:
    assert shown_keyid("533401197803120118") == "'533401********0118'"
    assert shown_keyid("ab12") == "'ab12'"
    assert shown_keyid("k" * 100) == repr("k" * 64) + "…"
    stranger = Envelope(GOOD.payload, GOOD.payload_type, (EnvelopeSignature("533401197803120118", b"x"),))
    with pytest.raises(SignatureError) as caught:
        verify_envelope(stranger, AUTHORIZATION_PAYLOAD_TYPE, TRUST, NOW)
    assert "533401197803120118" not in str(caught.value) and "533401********0118" in str(caught.value)
