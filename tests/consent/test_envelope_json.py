"""The DSSE JSON envelope that `hedui consent sign` writes and `hedui consent verify` reads (consent/envelope.py)."""

from __future__ import annotations

import base64
import json

import pytest
from suites import org_key

from consent import (
    AUTHORIZATION_PAYLOAD_TYPE,
    Envelope,
    EnvelopeFormatError,
    EnvelopeSignature,
    envelope_from_json,
    envelope_to_json,
    sign_envelope,
)
from consent.envelope import MAX_SIGNATURES

KEY = org_key()  # issue 17: SM2 under HEDUI_TEST_SUITE=sm
ENVELOPE = sign_envelope(b'{"purpose":"ASSESSMENT"}\n', AUTHORIZATION_PAYLOAD_TYPE, (KEY,))


def test_round_trip_is_the_dsse_json_form() -> None:
    data = envelope_to_json(ENVELOPE)
    assert set(data) == {"payload", "payloadType", "signatures"}
    assert base64.b64decode(data["payload"]) == ENVELOPE.payload
    assert data["signatures"][0]["keyid"] == KEY.keyid
    assert envelope_from_json(json.loads(json.dumps(data))) == ENVELOPE


def test_url_safe_base64_is_accepted() -> None:
    envelope = Envelope(b"\xfb\xff\xfe", "t", (EnvelopeSignature("k", b"\xff\xef"),))
    data = {
        "payload": base64.urlsafe_b64encode(envelope.payload).decode(),
        "payloadType": "t",
        "signatures": [{"keyid": "k", "sig": base64.urlsafe_b64encode(b"\xff\xef").decode()}],
    }
    assert "-" in data["payload"] or "_" in data["payload"]
    assert envelope_from_json(data) == envelope


def test_signature_without_keyid_is_allowed_by_dsse() -> None:
    data = envelope_to_json(ENVELOPE)
    del data["signatures"][0]["keyid"]
    assert envelope_from_json(data).signatures[0].keyid == ""


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(payload="QR=="), "envelope.payload"),  # stray bits after "A"
        (lambda d: d.update(payload="QUJD\n"), "envelope.payload"),
        (lambda d: d.update(payload="QUJ"), "envelope.payload"),
        (lambda d: d.update(payload="QU JD"), "envelope.payload"),
        (lambda d: d.update(payload=5), "envelope.payload"),
        (lambda d: d.update(payloadType=None), "envelope.payloadType"),
        (lambda d: d.update(signatures={}), "envelope.signatures"),
        (lambda d: d.update(extra=1), "envelope.extra"),
        (lambda d: d["signatures"][0].update(sig="!!!!"), "envelope.signatures[0].sig"),
        (lambda d: d["signatures"][0].update(keyid=7), "envelope.signatures[0].keyid"),
        (lambda d: d["signatures"][0].update(cert="x"), "envelope.signatures[0]"),
        (lambda d: d.update(signatures=d["signatures"] * (MAX_SIGNATURES + 1)), "envelope.signatures"),
    ],
)
def test_malformed_envelopes_are_refused_with_the_field(change: object, field: str) -> None:
    data = envelope_to_json(ENVELOPE)
    change(data)  # type: ignore[operator]
    with pytest.raises(EnvelopeFormatError) as caught:
        envelope_from_json(data)
    assert caught.value.field == field


def test_not_an_object() -> None:
    with pytest.raises(EnvelopeFormatError):
        envelope_from_json([1, 2])


def test_non_canonical_padding_bits_are_refused() -> None:
    # "QQ==" and "QR==" both decode to b"A" with a lenient decoder; only the canonical text is accepted.
    assert base64.b64decode("QR==") == b"A"
    data = envelope_to_json(Envelope(b"A", "t", ()))
    assert data["payload"] == "QQ=="
    data["payload"] = "QR=="
    with pytest.raises(EnvelopeFormatError, match="canonical"):
        envelope_from_json(data)
