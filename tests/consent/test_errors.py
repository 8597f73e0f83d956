"""The refusals' one shape: consent/errors.py, and the four refusals built on it."""

from __future__ import annotations

import pytest

from consent.authorization import AuthorizationError
from consent.envelope import EnvelopeFormatError, SignatureError
from consent.errors import FieldError, json_object
from consent.signers import CertificateError


def test_a_field_error_keeps_field_and_message_apart_and_reads_field_colon_message() -> None:
    error = FieldError("members[1].id_number", "duplicated member")

    assert (error.field, error.message) == ("members[1].id_number", "duplicated member")
    assert str(error) == "members[1].id_number: duplicated member"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("kind", [AuthorizationError, CertificateError, EnvelopeFormatError])
def test_payload_and_format_refusals_name_their_field_in_their_text(kind: type[FieldError]) -> None:
    error = kind("valid_until", "is before valid_from")

    assert str(error) == "valid_until: is before valid_from"
    assert (error.field, error.message) == ("valid_until", "is before valid_from")


def test_a_signature_refusal_reads_as_its_message_alone() -> None:
    error = SignatureError("envelope.signatures", "key 'ab12' is not in the trust store")

    assert str(error) == "key 'ab12' is not in the trust store"
    assert error.field == "envelope.signatures"
    assert isinstance(error, FieldError)


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        (b"\xff", "envelope.payload", "is not UTF-8 JSON"),
        (b"{", "envelope.payload", "is not UTF-8 JSON"),
        (b"[1]", "envelope.payload", "must be a JSON object"),
        (b'{"b": 1, "z": 2, "c": 3}', "c", "unknown field"),
    ],
)
def test_json_object_refuses_at_the_place_it_names(payload: bytes, field: str, message: str) -> None:
    with pytest.raises(AuthorizationError) as caught:
        json_object(payload, {"a", "b"}, where="envelope.payload", error=AuthorizationError)

    assert (caught.value.field, caught.value.message) == (field, message)


def test_json_object_returns_the_object_of_known_fields() -> None:
    assert json_object(b'{"a": 1}', {"a", "b"}, where="payload", error=CertificateError) == {"a": 1}
