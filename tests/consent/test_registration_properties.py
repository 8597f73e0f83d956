"""Property: no mutation of a signed authorization is ever accepted by the registration check.

The check is what RegisterAuthorization runs (consent.check.check_authorization: the DSSE signatures
against the trust store, the member-key certificates, then the payload). Mutations work on the
envelope, on the member-key certificates, and on the DSSE JSON text a case system sends as a file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from suites import org_key

from consent import (
    AUTHORIZATION_PAYLOAD_TYPE,
    MEMBER_KEY_PAYLOAD_TYPE,
    AuthorizationError,
    AuthorizedMember,
    CheckedAuthorization,
    Envelope,
    EnvelopeFormatError,
    EnvelopeSignature,
    SignatureError,
    SigningKey,
    TrustedKey,
    authorization_payload,
    check_authorization,
    envelope_from_json,
    envelope_to_json,
    member_key_certificate,
    sign_envelope,
)

SIX = ("police", "housing", "tax", "vehicles", "banks", "social_security")  # the departments hedui ships

ORG = "533401-civil-affairs"
AT = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 1)
ZHANG = AuthorizedMember("533401197803120118", "张建国")
LI = AuthorizedMember("53340119800605022X", "李秀英")
ORG_KEY = org_key()  # issue 17: SM2 under HEDUI_TEST_SUITE=sm
ORG_P256 = SigningKey.generate_p256()
PHONE = SigningKey.generate_p256()
STRANGER = SigningKey.generate_ed25519()
TRUST = {k.keyid: TrustedKey(k.keyid, ORG, k.public_pem(), AT - dt.timedelta(days=30)) for k in (ORG_KEY, ORG_P256)}
PAYLOAD = authorization_payload(
    commissioned_by=ORG,
    purpose="ASSESSMENT",
    members=[ZHANG, LI],
    valid_from=TODAY,
    valid_until=TODAY + dt.timedelta(days=90),
    evidence={"kind": "paper_form", "sha256": "ab" * 32},
)
CERTIFICATE = sign_envelope(
    member_key_certificate(
        organisation=ORG,
        id_number=ZHANG.id_number,
        name=ZHANG.name,
        public_key_pem=PHONE.public_pem(),
        not_before=AT - dt.timedelta(days=1),
        not_after=AT + dt.timedelta(days=300),
    ),
    MEMBER_KEY_PAYLOAD_TYPE,
    (ORG_P256,),
)

# (signing keys, certificates): by the organisation (one or both keys), or by Zhang on his phone
SIGNINGS: list[tuple[tuple[SigningKey, ...], tuple[Envelope, ...]]] = [
    ((ORG_KEY,), ()),
    ((ORG_P256,), ()),
    ((ORG_KEY, ORG_P256), ()),
    ((PHONE,), (CERTIFICATE,)),
]


def check(envelope: Envelope, certificates: tuple[Envelope, ...]) -> CheckedAuthorization:
    return check_authorization(envelope, certificates, TRUST, AT, TODAY, declared=SIX)


def _flip(data: bytes, index: int, mask: int) -> bytes:
    if not data:
        return b"\x00"
    index %= len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


Mutation = Callable[[Envelope, tuple[Envelope, ...]], tuple[Envelope, tuple[Envelope, ...]]]


def _sigs(envelope: Envelope, change: Callable[[EnvelopeSignature], EnvelopeSignature]) -> Envelope:
    return dataclasses.replace(envelope, signatures=tuple(change(s) for s in envelope.signatures))


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, Mutation]:
    """Mutations of signed content or of every signature (or of the certificate a member signature needs)."""
    index = draw(st.integers(min_value=0, max_value=10_000))
    mask = draw(st.integers(min_value=1, max_value=255))
    extra = draw(st.binary(min_size=1, max_size=8))
    kind = draw(
        st.sampled_from(
            [
                "payload",
                "payload_append",
                "payload_type",
                "signature",
                "signature_truncate",
                "signature_extend",
                "keyid",
                "drop_signatures",
                "foreign_signatures_only",
                "certificate_payload",
                "certificate_signature",
                "drop_certificates",
                "certificate_keyid",
            ]
        )
    )
    new_type = draw(st.text(max_size=40).filter(lambda t: t != AUTHORIZATION_PAYLOAD_TYPE))
    unknown = draw(st.text(alphabet="0123456789abcdef", max_size=20).filter(lambda t: t not in TRUST))
    table: dict[str, Mutation] = {
        "payload": lambda e, c: (dataclasses.replace(e, payload=_flip(e.payload, index, mask)), c),
        "payload_append": lambda e, c: (dataclasses.replace(e, payload=e.payload + extra), c),
        "payload_type": lambda e, c: (dataclasses.replace(e, payload_type=new_type), c),
        "signature": lambda e, c: (_sigs(e, lambda s: EnvelopeSignature(s.keyid, _flip(s.sig, index, mask))), c),
        "signature_truncate": lambda e, c: (
            _sigs(e, lambda s: EnvelopeSignature(s.keyid, s.sig[: index % len(s.sig)])),
            c,
        ),
        "signature_extend": lambda e, c: (_sigs(e, lambda s: EnvelopeSignature(s.keyid, s.sig + extra)), c),
        "keyid": lambda e, c: (_sigs(e, lambda s: EnvelopeSignature(unknown, s.sig)), c),
        "drop_signatures": lambda e, c: (dataclasses.replace(e, signatures=()), c),
        # every signature replaced by one from a key nobody trusts, over the same bytes
        "foreign_signatures_only": lambda e, c: (sign_envelope(e.payload, e.payload_type, (STRANGER,)), c),
        # the certificate mutations matter when the member's own signature is the only one
        "certificate_payload": lambda e, c: (
            e,
            tuple(dataclasses.replace(x, payload=_flip(x.payload, index, mask)) for x in c),
        ),
        "certificate_signature": lambda e, c: (
            e,
            tuple(_sigs(x, lambda s: EnvelopeSignature(s.keyid, _flip(s.sig, index, mask))) for x in c),
        ),
        "drop_certificates": lambda e, c: (e, ()),
        "certificate_keyid": lambda e, c: (e, tuple(_sigs(x, lambda s: EnvelopeSignature(unknown, s.sig)) for x in c)),
    }
    return kind, table[kind]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(signing=st.sampled_from(SIGNINGS), mutation=mutations(), foreign=st.booleans())
def test_mutated_authorizations_are_never_accepted(
    signing: tuple[tuple[SigningKey, ...], tuple[Envelope, ...]], mutation: tuple[str, Mutation], foreign: bool
) -> None:
    keys, certificates = signing
    envelope = sign_envelope(PAYLOAD, AUTHORIZATION_PAYLOAD_TYPE, keys)
    assert check(envelope, certificates).signers  # the original is accepted
    kind, mutate = mutation
    if kind.startswith("certificate") or kind == "drop_certificates":
        assume(certificates)  # only a member-signed authorization depends on its certificate
    mutated, mutated_certificates = mutate(envelope, certificates)
    if foreign:
        # adding signatures by an untrusted key never makes up for a broken one
        extra = sign_envelope(mutated.payload, mutated.payload_type, (STRANGER,)).signatures
        mutated = dataclasses.replace(mutated, signatures=mutated.signatures + extra)
    assume((mutated, mutated_certificates) != (envelope, certificates))
    with pytest.raises((SignatureError, AuthorizationError)):
        check(mutated, mutated_certificates)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(signing=st.sampled_from(SIGNINGS), copies=st.integers(min_value=1, max_value=3))
def test_extra_signatures_and_certificates_never_widen_who_is_covered(
    signing: tuple[tuple[SigningKey, ...], tuple[Envelope, ...]], copies: int
) -> None:
    """Adding untrusted signatures, duplicates, or a certificate for someone's key by a stranger covers nobody new."""
    keys, certificates = signing
    envelope = sign_envelope(PAYLOAD, AUTHORIZATION_PAYLOAD_TYPE, keys)
    original = check(envelope, certificates)
    li_phone = SigningKey.generate_ed25519()
    forged_certificate = sign_envelope(
        member_key_certificate(
            organisation=ORG,
            id_number=LI.id_number,
            name=LI.name,
            public_key_pem=li_phone.public_pem(),
            not_before=AT - dt.timedelta(days=1),
            not_after=AT + dt.timedelta(days=30),
        ),
        MEMBER_KEY_PAYLOAD_TYPE,
        (STRANGER,),
    )
    extra = sign_envelope(PAYLOAD, AUTHORIZATION_PAYLOAD_TYPE, (STRANGER, li_phone)).signatures
    widened = dataclasses.replace(envelope, signatures=envelope.signatures * copies + extra)
    checked = check(widened, (*certificates, forged_certificate))
    for member in (ZHANG, LI):
        assert checked.signed_for(member.id_number) == original.signed_for(member.id_number)
    assert set(checked.signers) == set(original.signers)


# --- the JSON text a case system sends --------------------------------------------------------------


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    signing=st.sampled_from(SIGNINGS[:3]),
    field=st.sampled_from(["payload", "sig", "payloadType", "keyid"]),
    position=st.integers(min_value=0, max_value=10_000),
    noise=st.characters(codec="ascii"),
    how=st.sampled_from(["replace", "insert", "delete"]),
)
def test_noise_in_the_json_envelope_is_never_accepted(
    signing: tuple[tuple[SigningKey, ...], tuple[Envelope, ...]], field: str, position: int, noise: str, how: str
) -> None:
    keys, certificates = signing
    data: dict[str, Any] = envelope_to_json(sign_envelope(PAYLOAD, AUTHORIZATION_PAYLOAD_TYPE, keys))
    holder: dict[str, Any] = data if field in ("payload", "payloadType") else data["signatures"][0]
    text: str = holder[field]
    at = position % (len(text) + 1)
    if how == "replace" and at < len(text):
        changed = text[:at] + noise + text[at + 1 :]
    elif how == "delete" and at < len(text):
        changed = text[:at] + text[at + 1 :]
    else:
        changed = text[:at] + noise + text[at:]
    assume(changed != text)
    holder[field] = changed
    if len(keys) > 1 and field in ("sig", "keyid"):
        data["signatures"] = data["signatures"][:1]  # the other signature would still hold on its own
    try:
        envelope = envelope_from_json(json.loads(json.dumps(data)))
    except EnvelopeFormatError:
        return
    with pytest.raises((SignatureError, AuthorizationError)):
        check(envelope, certificates)
