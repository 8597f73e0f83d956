"""Issue 13 (input): consent that cannot be replayed, through the gRPC API on SQLite and PostgreSQL.

A registered payload sent again is checked like a new one before anything is looked up; a reused request_id
with other content is ALREADY_EXISTS; the reply shows the stored envelope; a member's name must be the one the
authorization gives; ECDSA in raw r‖s form and securesystemslib's envelopes interoperate (or are told how).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from harness import Harness, error_details, example_request
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.signer import CryptoSigner, SSlibKey

from consent import AUTHORIZATION_PAYLOAD_TYPE, Envelope, EnvelopeSignature, SigningKey, envelope_from_json
from consent.envelope import pae
from hedui.v1 import consent_pb2
from verifier.api import envelope_message
from verifier.request import parse_request

pytestmark = pytest.mark.integration

REQUEST = parse_request(example_request())
APPLICANT = REQUEST.members[0].id_number


async def register(h: Harness, envelope: Envelope, request_id: str = "") -> consent_pb2.Authorization:
    return await h.consent.RegisterAuthorization(  # type: ignore[no-any-return]
        consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(envelope), request_id=request_id),
        metadata=h.metadata,
    )


async def refusal(h: Harness, envelope: Envelope, request_id: str = "") -> tuple[grpc.StatusCode, str, list[str], str]:
    """(code, reason, violated fields, the status message and every description) of a refused registration."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(h, envelope, request_id)
    reason, violations = error_details(caught.value)
    said = " ".join([caught.value.details() or "", *(d for _, d in violations)])
    return caught.value.code(), reason, [f for f, _ in violations], said


async def trust(h: Harness, key: SigningKey) -> None:
    """Put ``key`` in the trust store for the request's organisation, valid from an hour ago."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await h.service.trust_store.add(REQUEST.commissioned_by, key.public_pem(), not_before=since)


def no_personal_data(said: str) -> None:
    """Nothing a refusal says names a member in full."""
    for member in REQUEST.members:
        assert member.id_number not in said and member.name not in said


# --- replays: checked like new envelopes, before any look-up ----------------------------------------


async def test_a_registered_payload_replayed_without_valid_signatures_is_refused(harness: Harness) -> None:
    h = harness
    good = h.envelope(REQUEST)
    first = await register(h, good, request_id="first")
    stranger = SigningKey.generate_ed25519()
    by_stranger = EnvelopeSignature(stranger.keyid, stranger.sign(pae(good.payload_type, good.payload)))
    replays = {
        "application/json": (dataclasses.replace(good, payload_type="application/json"), "envelope.payload_type"),
        "no signature": (dataclasses.replace(good, signatures=()), "envelope.signatures"),
        "garbage signature": (
            dataclasses.replace(good, signatures=(EnvelopeSignature(h.key.keyid, os.urandom(64)),)),
            "envelope.signatures",
        ),
        "untrusted key": (
            dataclasses.replace(good, signatures=(by_stranger,)),
            "envelope.signatures",
        ),
    }
    for what, (replay, field) in replays.items():
        for request_id in ("", "first", "another"):
            code, reason, fields, said = await refusal(h, replay, request_id)
            assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_SIGNATURE", [field]), what
            no_personal_data(said)
    # The genuine envelope again (a retry, with or without its request_id) is the one authorization.
    assert (await register(h, good)).name == first.name
    assert (await register(h, good, request_id="first")).name == first.name


async def test_a_known_request_id_with_a_garbage_payload_is_refused_not_answered(harness: Harness) -> None:
    h = harness
    await register(h, h.envelope(REQUEST), request_id="case-17")
    garbage = Envelope(b"\x00garbage", AUTHORIZATION_PAYLOAD_TYPE, ())
    code, reason, fields, said = await refusal(h, garbage, "case-17")
    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_SIGNATURE", ["envelope.signatures"])
    no_personal_data(said)
    signed_garbage = dataclasses.replace(
        garbage, signatures=(EnvelopeSignature(h.key.keyid, h.key.sign(pae(garbage.payload_type, garbage.payload))),)
    )
    code, reason, fields, said = await refusal(h, signed_garbage, "case-17")
    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_AUTHORIZATION", ["envelope.payload"])
    no_personal_data(said)


async def test_a_known_request_id_with_another_valid_envelope_is_already_exists(harness: Harness) -> None:
    h = harness
    first = await register(h, h.envelope(REQUEST), request_id="case-18")
    other = h.envelope(REQUEST, evidence={"kind": "paper_form", "sha256": "cd" * 32})
    code, reason, fields, _ = await refusal(h, other, "case-18")
    assert (code, reason, fields) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED", ["request_id"])
    # Under a new id the other envelope is a new authorization.
    assert (await register(h, other, request_id="case-19")).name != first.name


async def test_the_reply_to_a_replay_shows_the_stored_envelope(harness: Harness) -> None:
    h = harness
    good = h.envelope(REQUEST)
    await register(h, good)
    bogus = EnvelopeSignature("0123456789abcdef", b"\x01" * 64)
    padded = dataclasses.replace(good, signatures=(*good.signatures, bogus))
    reply = await register(h, padded)  # one signature holds: a replay of the registered payload
    assert [(s.keyid, s.sig) for s in reply.envelope.signatures] == [(s.keyid, s.sig) for s in good.signatures]


# --- a member's name is the one the authorization gives ------------------------------------------------


async def test_a_verification_naming_a_member_otherwise_is_refused_naming_the_member(harness: Harness) -> None:
    h = harness
    auth = await register(h, h.envelope(REQUEST))
    renamed = example_request()
    renamed["members"][1]["name"] = "王" + renamed["members"][1]["name"][1:]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await h.create(renamed, [auth.name])
    reason, violations = error_details(caught.value)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and reason == "MEMBER_NAME_MISMATCH"
    assert [f for f, _ in violations] == ["request.members[1].name"]
    said = " ".join([caught.value.details() or "", *(d for _, d in violations)])
    assert renamed["members"][1]["name"] not in said and REQUEST.members[1].name not in said
    assert REQUEST.members[1].id_number not in said and REQUEST.members[1].id_number[:6] in said
    spaced = example_request()
    spaced["members"][1]["name"] = " " + spaced["members"][1]["name"] + " "  # the same name, spaced
    created = await h.create(spaced, [auth.name])
    assert created.name.startswith("verifications/")


# --- other signers: WebCrypto's raw ECDSA, securesystemslib ---------------------------------------------


def raw_rs(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


async def test_ecdsa_signatures_in_raw_r_s_form_are_accepted(harness: Harness) -> None:
    h = harness
    phone_like = SigningKey.generate_p256()
    await trust(h, phone_like)
    der = h.envelope(REQUEST)  # signed by the harness key: re-sign with the P-256 key, as WebCrypto would
    message = pae(der.payload_type, der.payload)
    raw = dataclasses.replace(der, signatures=(EnvelopeSignature(phone_like.keyid, raw_rs(phone_like.sign(message))),))
    assert len(raw.signatures[0].sig) == 64
    assert list((await register(h, raw)).signed_by) == [phone_like.keyid]
    wrong = dataclasses.replace(raw, signatures=(EnvelopeSignature(phone_like.keyid, b"\x07" * 64),))
    code, reason, _, said = await refusal(h, wrong)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_SIGNATURE")
    assert "DER, or raw r‖s of exactly 64 bytes" in said


async def test_securesystemslib_envelopes_interoperate_with_hedui_s_key_id(harness: Harness) -> None:
    h = harness
    hedui_key = SigningKey.generate_p256()
    await trust(h, hedui_key)
    payload = h.envelope(REQUEST).payload

    default = SslibEnvelope(payload=payload, payload_type=AUTHORIZATION_PAYLOAD_TYPE, signatures={})
    default.sign(CryptoSigner(hedui_key.private_key))  # securesystemslib's own key id: SHA-256 of its key JSON
    code, reason, fields, said = await refusal(h, envelope_from_json(default.to_dict()))
    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_SIGNATURE", ["envelope.signatures"])
    assert "securesystemslib key id" in said and "keyid=" in said

    public = SSlibKey.from_crypto(hedui_key.public_key, keyid=hedui_key.keyid)
    named = SslibEnvelope(payload=payload, payload_type=AUTHORIZATION_PAYLOAD_TYPE, signatures={})
    named.sign(CryptoSigner(hedui_key.private_key, public))
    as_json = json.loads(json.dumps(named.to_dict()))
    assert list((await register(h, envelope_from_json(as_json))).signed_by) == [hedui_key.keyid]
