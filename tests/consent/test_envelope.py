"""DSSE envelopes: consent/envelope.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.envelope import (
    Envelope,
    EnvelopeSignature,
    SignatureError,
    SigningKey,
    TrustedKey,
    key_id_for,
    pae,
    sign_envelope,
    verify_envelope,
)

PAYLOAD_TYPE = "application/vnd.hedui.authorization+json; version=1"
PAYLOAD = b'{"commissioned_by":"533401-civil-affairs","purpose":"ASSESSMENT"}'
NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
ORG = "533401-civil-affairs"

ED25519 = SigningKey.generate_ed25519()
P256 = SigningKey.generate_p256()
OTHER = SigningKey.generate_ed25519()  # never trusted


def trusted(
    key: SigningKey,
    *,
    not_before: dt.datetime = NOW - dt.timedelta(days=30),
    not_after: dt.datetime | None = None,
    revoked_at: dt.datetime | None = None,
) -> TrustedKey:
    return TrustedKey(key.keyid, ORG, key.public_pem(), not_before, not_after, revoked_at)


def trust_of(*keys: TrustedKey) -> dict[str, TrustedKey]:
    return {k.keyid: k for k in keys}


TRUST = trust_of(trusted(ED25519), trusted(P256))


# --- PAE -----------------------------------------------------------------------------------------


def test_pae_matches_the_dsse_spec_example() -> None:
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_of_empty_type_and_payload() -> None:
    assert pae("", b"") == b"DSSEv1 0  0 "


def test_pae_counts_bytes_not_characters() -> None:
    # "授权" is 2 characters but 6 UTF-8 bytes; the payload may hold any bytes, including spaces and NULs.
    assert pae("授权", b"a b\x00") == b"DSSEv1 6 \xe6\x8e\x88\xe6\x9d\x83 4 a b\x00"


def test_pae_separates_type_from_payload_unambiguously() -> None:
    assert pae("a b", b"c") != pae("a", b"b c")


# --- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [ED25519, P256], ids=["ed25519", "p256"])
def test_key_id_is_sha256_of_the_public_key_der(key: SigningKey) -> None:
    der = key.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.keyid == key_id_for(key.public_key) == hashlib.sha256(der).hexdigest()[:16]


@pytest.mark.parametrize("key", [ED25519, P256], ids=["ed25519", "p256"])
def test_signing_key_survives_a_pem_round_trip(key: SigningKey) -> None:
    again = SigningKey.from_pem(key.private_pem())
    assert again.keyid == key.keyid
    envelope = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (again,))
    assert verify_envelope(envelope, PAYLOAD_TYPE, TRUST, NOW) == (TRUST[key.keyid],)


def test_trust_store_refuses_other_curves() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = p384.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="P-256"):
        TrustedKey("x", ORG, pem, NOW).load()


# --- sign and verify -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [ED25519, P256], ids=["ed25519", "p256"])
def test_sign_then_verify(key: SigningKey) -> None:
    envelope = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (key,))
    assert envelope.payload == PAYLOAD
    assert envelope.payload_type == PAYLOAD_TYPE
    assert [s.keyid for s in envelope.signatures] == [key.keyid]
    assert verify_envelope(envelope, PAYLOAD_TYPE, TRUST, NOW) == (TRUST[key.keyid],)


@pytest.mark.parametrize("key", [ED25519, P256], ids=["ed25519", "p256"])
def test_signature_is_over_the_pae_not_the_raw_payload(key: SigningKey) -> None:
    raw = key.sign(PAYLOAD)
    envelope = Envelope(PAYLOAD, PAYLOAD_TYPE, (EnvelopeSignature(key.keyid, raw),))
    with pytest.raises(SignatureError):
        verify_envelope(envelope, PAYLOAD_TYPE, TRUST, NOW)
    # and a hand-made signature over the PAE is accepted
    good = Envelope(PAYLOAD, PAYLOAD_TYPE, (EnvelopeSignature(key.keyid, key.sign(pae(PAYLOAD_TYPE, PAYLOAD))),))
    assert verify_envelope(good, PAYLOAD_TYPE, TRUST, NOW) == (TRUST[key.keyid],)


def test_two_signers_both_verify() -> None:
    envelope = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (ED25519, P256))
    assert verify_envelope(envelope, PAYLOAD_TYPE, TRUST, NOW) == (TRUST[ED25519.keyid], TRUST[P256.keyid])


def test_one_good_signature_among_bad_ones_is_enough() -> None:
    envelope = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (OTHER, P256))
    assert verify_envelope(envelope, PAYLOAD_TYPE, TRUST, NOW) == (TRUST[P256.keyid],)


def test_unknown_key_is_rejected() -> None:
    envelope = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (OTHER,))
    with pytest.raises(SignatureError, match="not in the trust store") as caught:
        verify_envelope(envelope, PAYLOAD_TYPE, TRUST, NOW)
    assert caught.value.field == "envelope.signatures"


def test_no_signature_is_rejected() -> None:
    with pytest.raises(SignatureError, match="no signature") as caught:
        verify_envelope(Envelope(PAYLOAD, PAYLOAD_TYPE, ()), PAYLOAD_TYPE, TRUST, NOW)
    assert caught.value.field == "envelope.signatures"


@pytest.mark.parametrize(
    ("key", "words"),
    [
        pytest.param(
            trusted(ED25519, revoked_at=NOW - dt.timedelta(seconds=1)), "revoked at 2026-11-01T08:59:59Z", id="revoked"
        ),
        pytest.param(trusted(ED25519, revoked_at=NOW), "revoked at 2026-11-01T09:00:00Z", id="revoked-at-that-instant"),
        pytest.param(
            trusted(ED25519, not_before=NOW + dt.timedelta(seconds=1)),
            "not valid before 2026-11-01T09:00:01Z",
            id="not-yet-valid",
        ),
        pytest.param(trusted(ED25519, not_after=NOW - dt.timedelta(days=1)), "expired at 2026-10-31", id="expired"),
        pytest.param(trusted(ED25519, not_after=NOW), "expired at 2026-11-01T09:00:00Z", id="expires-at-that-instant"),
    ],
)
def test_key_not_valid_at_signing_time_is_rejected(key: TrustedKey, words: str) -> None:
    envelope = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (ED25519,))
    with pytest.raises(SignatureError, match=words):
        verify_envelope(envelope, PAYLOAD_TYPE, trust_of(key), NOW)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(trusted(ED25519, revoked_at=NOW + dt.timedelta(seconds=1)), id="revoked-later"),
        pytest.param(trusted(ED25519, not_before=NOW), id="valid-from-that-instant"),
        pytest.param(trusted(ED25519, not_after=NOW + dt.timedelta(seconds=1)), id="expires-later"),
    ],
)
def test_key_valid_at_signing_time_is_accepted(key: TrustedKey) -> None:
    envelope = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (ED25519,))
    assert verify_envelope(envelope, PAYLOAD_TYPE, trust_of(key), NOW) == (key,)


def test_wrong_payload_type_is_rejected() -> None:
    envelope = sign_envelope(PAYLOAD, "application/json", (ED25519,))
    with pytest.raises(SignatureError) as caught:
        verify_envelope(envelope, PAYLOAD_TYPE, TRUST, NOW)
    assert caught.value.field == "envelope.payload_type"


def test_payload_type_relabelled_after_signing_is_rejected() -> None:
    envelope = sign_envelope(PAYLOAD, "application/json", (ED25519,))
    relabelled = dataclasses.replace(envelope, payload_type=PAYLOAD_TYPE)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(relabelled, PAYLOAD_TYPE, TRUST, NOW)


@pytest.mark.parametrize("key", [ED25519, P256], ids=["ed25519", "p256"])
def test_tampered_payload_is_rejected(key: SigningKey) -> None:
    envelope = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (key,))
    tampered = dataclasses.replace(envelope, payload=PAYLOAD.replace(b"ASSESSMENT", b"RECHECK"))
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(tampered, PAYLOAD_TYPE, TRUST, NOW)


def test_signature_swapped_between_keys_is_rejected() -> None:
    by_ed = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (ED25519,)).signatures[0]
    by_p256 = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (P256,)).signatures[0]
    swapped = Envelope(
        PAYLOAD,
        PAYLOAD_TYPE,
        (EnvelopeSignature(by_ed.keyid, by_p256.sig), EnvelopeSignature(by_p256.keyid, by_ed.sig)),
    )
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(swapped, PAYLOAD_TYPE, TRUST, NOW)


def test_signature_moved_to_another_payload_is_rejected() -> None:
    other = sign_envelope(b'{"purpose":"RECHECK"}', PAYLOAD_TYPE, (ED25519,))
    moved = Envelope(PAYLOAD, PAYLOAD_TYPE, other.signatures)
    with pytest.raises(SignatureError):
        verify_envelope(moved, PAYLOAD_TYPE, TRUST, NOW)


def test_duplicated_signature_counts_the_key_once() -> None:
    envelope = sign_envelope(PAYLOAD, PAYLOAD_TYPE, (ED25519,))
    doubled = dataclasses.replace(envelope, signatures=envelope.signatures * 2)
    assert verify_envelope(doubled, PAYLOAD_TYPE, TRUST, NOW) == (TRUST[ED25519.keyid],)


# --- property: no mutation of a signed envelope is accepted --------------------------------------

Mutation = Callable[[Envelope], Envelope]


def _flip(data: bytes, index: int, mask: int) -> bytes:
    if not data:
        return b"\x00"
    index %= len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


def _with_signatures(envelope: Envelope, signatures: tuple[EnvelopeSignature, ...]) -> Envelope:
    return dataclasses.replace(envelope, signatures=signatures)


@st.composite
def rejected_mutations(draw: st.DrawFn) -> tuple[str, Mutation]:
    """Mutations that change signed content or every signature: none may verify."""
    index = draw(st.integers(min_value=0, max_value=10_000))
    mask = draw(st.integers(min_value=1, max_value=255))
    kind = draw(
        st.sampled_from(
            ["payload", "signature", "truncate", "extend", "payload_type", "keyid", "drop", "append_payload"]
        )
    )
    if kind == "payload":
        return kind, lambda e: dataclasses.replace(e, payload=_flip(e.payload, index, mask))
    if kind == "append_payload":
        extra = draw(st.binary(min_size=1, max_size=8))
        return kind, lambda e: dataclasses.replace(e, payload=e.payload + extra)
    if kind == "signature":
        return kind, lambda e: _with_signatures(
            e, tuple(EnvelopeSignature(s.keyid, _flip(s.sig, index, mask)) for s in e.signatures)
        )
    if kind == "truncate":
        return kind, lambda e: _with_signatures(
            e, tuple(EnvelopeSignature(s.keyid, s.sig[: index % len(s.sig)]) for s in e.signatures)
        )
    if kind == "extend":
        extra = draw(st.binary(min_size=1, max_size=8))
        return kind, lambda e: _with_signatures(
            e, tuple(EnvelopeSignature(s.keyid, s.sig + extra) for s in e.signatures)
        )
    if kind == "payload_type":
        new_type = draw(st.text(max_size=40).filter(lambda t: t != PAYLOAD_TYPE))
        return kind, lambda e: dataclasses.replace(e, payload_type=new_type)
    if kind == "keyid":
        # every signature relabelled with a key id that is not its own: another trusted key, or unknown
        choice = draw(st.sampled_from(["swap", "unknown"]))
        unknown = draw(st.text(alphabet="0123456789abcdef", min_size=0, max_size=20))

        def relabel(s: EnvelopeSignature) -> EnvelopeSignature:
            if choice == "swap":
                return EnvelopeSignature(P256.keyid if s.keyid == ED25519.keyid else ED25519.keyid, s.sig)
            return EnvelopeSignature(unknown if unknown not in TRUST else unknown + "z", s.sig)

        return kind, lambda e: _with_signatures(e, tuple(relabel(s) for s in e.signatures))
    return kind, lambda e: _with_signatures(e, ())


signers = st.sampled_from([(ED25519,), (P256,), (ED25519, P256)])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.binary(max_size=200),
    keys=signers,
    mutation=rejected_mutations(),
    duplicate=st.booleans(),
)
def test_mutated_envelopes_are_never_accepted(
    payload: bytes, keys: tuple[SigningKey, ...], mutation: tuple[str, Mutation], duplicate: bool
) -> None:
    envelope = sign_envelope(payload, PAYLOAD_TYPE, keys)
    assert verify_envelope(envelope, PAYLOAD_TYPE, TRUST, NOW) == tuple(TRUST[k.keyid] for k in keys)
    kind, mutate = mutation
    mutated = mutate(envelope)
    if duplicate:
        # duplicating signatures changes nothing signed: the mutation must still be caught
        mutated = _with_signatures(mutated, mutated.signatures + mutated.signatures)
    assert mutated != envelope
    with pytest.raises(SignatureError):
        verify_envelope(mutated, PAYLOAD_TYPE, TRUST, NOW)
    if kind == "payload_type":
        # even a verifier that expects the new type refuses: the type is part of what was signed
        with pytest.raises(SignatureError):
            verify_envelope(mutated, mutated.payload_type, TRUST, NOW)


@settings(max_examples=50)
@given(payload=st.binary(max_size=200), keys=signers, copies=st.integers(min_value=2, max_value=4))
def test_duplicating_valid_signatures_keeps_the_envelope_valid(
    payload: bytes, keys: tuple[SigningKey, ...], copies: int
) -> None:
    envelope = sign_envelope(payload, PAYLOAD_TYPE, keys)
    doubled = _with_signatures(envelope, envelope.signatures * copies)
    assert verify_envelope(doubled, PAYLOAD_TYPE, TRUST, NOW) == tuple(TRUST[k.keyid] for k in keys)
