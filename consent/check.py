"""Checking an authorization envelope: its signatures against the trust store, then its payload.

The signing time a signature is judged at is the time hedui received it (registration): an upper bound
of when it was really made, which a thief of a key cannot move back. Every key in a signature's chain
(the organisation key; for a member, the member key's certificate and the organisation key that
certified it) must be valid — not before its start, not after its end, not revoked — at that time,
and also at the payload's own ``signed_at`` when it gives one. ``signed_at`` may not be later than
the registration (beyond a few minutes of clock difference).

The same check runs again whenever a stored authorization is loaded for a consent decision, against
the trust store as it is then, at the stored registration time: a key revoked with effect from before
a registration takes that authorization's signatures with it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from consent.authorization import (
    AUTHORIZATION_PAYLOAD_TYPE,
    MAX_JSON_DEPTH,
    AuthorizationError,
    AuthorizationPayload,
    RegisteredAuthorization,
    json_too_deep,
    parse_authorization_payload,
)
from consent.envelope import (
    Envelope,
    EnvelopeSignature,
    PublicKey,
    SignatureError,
    TrustedKey,
    check_signatures_shape,
    first_per_keyid,
    load_public_key,
    not_trusted,
    pae,
    signature_holds,
    usable_key,
    verify_envelope,
)
from consent.signers import (
    MEMBER_KEY_PAYLOAD_TYPE,
    CertificateError,
    MemberKeyCertificate,
    Signer,
    parse_member_key_certificate,
)

__all__ = [
    "CLOCK_SKEW",
    "MAX_CERTIFICATES",
    "MAX_CERTIFICATE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "CheckedAuthorization",
    "check_authorization",
    "check_shape",
    "keyids_to_look_up",
    "registered_authorization",
]

CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_CERTIFICATES = 16
# The largest authorization payload (bytes): 30 members with names and evidence fit in a few KiB.
MAX_PAYLOAD_BYTES = 64 * 1024
# The largest member-key certificate payload (bytes): one identity number, one name, one PEM key.
MAX_CERTIFICATE_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True)
class CheckedAuthorization:
    """An authorization whose signatures hold: the payload, who signed, and the signatures that did not count."""

    payload: AuthorizationPayload
    signers: tuple[Signer, ...]
    problems: tuple[str, ...] = ()

    def signed_for(self, id_number: str) -> bool:
        """Whether a signature that holds covers this member: the organisation's, or the member's own."""
        return any(s.covers(id_number) for s in self.signers)


@dataclass(frozen=True, slots=True)
class _CertifiedKey:
    certificate: MemberKeyCertificate
    issuers: tuple[TrustedKey, ...]


def keyids_to_look_up(envelope: Envelope, certificates: Sequence[Envelope]) -> list[str]:
    """Key ids whose trust-store entries a check of this envelope and its certificates needs.

    The envelope's shape is checked first (:func:`check_shape`, raising :class:`SignatureError` or
    :class:`AuthorizationError`): nothing the trust store is searched for is longer or stranger than a key id.
    """
    check_shape(envelope, certificates)
    ids = {s.keyid for s in envelope.signatures}
    for certificate in certificates:
        ids |= {s.keyid for s in certificate.signatures}
    return sorted(ids)


def _certified_keys(
    certificates: Sequence[Envelope], trust: Mapping[str, TrustedKey], at: dt.datetime, problems: list[str]
) -> dict[str, _CertifiedKey]:
    """Member keys whose certificates verify against the trust store at ``at``, by key id."""
    found: dict[str, _CertifiedKey] = {}
    ambiguous: set[str] = set()
    for index, envelope in enumerate(certificates):
        where = f"member_key_certificates[{index}]"
        try:
            issuers = verify_envelope(envelope, MEMBER_KEY_PAYLOAD_TYPE, trust, at)
            certificate = parse_member_key_certificate(envelope.payload)
        except SignatureError as exc:
            problems.append(f"{where}: {exc.message}")
            continue
        except CertificateError as exc:
            problems.append(f"{where}.payload.{exc.field}: {exc.message}")
            continue
        issuers = tuple(k for k in issuers if k.organisation == certificate.organisation)
        if not issuers:
            problems.append(f"{where}: not signed by a key of {certificate.organisation}, which it names")
            continue
        held = found.setdefault(certificate.keyid, _CertifiedKey(certificate, issuers))
        if held.certificate.id_number != certificate.id_number:
            ambiguous.add(certificate.keyid)
    for keyid in ambiguous:
        problems.append(f"member key {keyid!r} is certified for more than one person: not used")
        del found[keyid]
    return found


def _chain_problem(
    signer: Signer, trust: Mapping[str, TrustedKey], certified: Mapping[str, _CertifiedKey], at: dt.datetime
) -> str | None:
    """Why a signer's keys were not all valid at ``at`` (None: they were)."""
    if signer.kind == "organisation":
        return trust[signer.keyid].why_not_valid_at(at)
    held = certified[signer.keyid]
    why = held.certificate.why_not_valid_at(at)
    if why is not None:
        return why
    reasons = [k.why_not_valid_at(at) for k in held.issuers]
    return None if any(r is None for r in reasons) else reasons[0]


def check_shape(envelope: Envelope, certificates: Sequence[Envelope]) -> None:
    """Refuse an envelope that is not an authorization, has no signature or carries more than the limits
    (payload bytes, signatures, key id form, signature bytes, certificates): checked before anything is looked up,
    so a replay of a registered payload under another payload type or without a signature is refused too."""
    if envelope.payload_type != AUTHORIZATION_PAYLOAD_TYPE:
        raise SignatureError("envelope.payload_type", f"must be {AUTHORIZATION_PAYLOAD_TYPE!r}")
    check_signatures_shape(envelope, "envelope")
    if len(envelope.payload) > MAX_PAYLOAD_BYTES:
        raise AuthorizationError("envelope.payload", f"at most {MAX_PAYLOAD_BYTES} bytes")
    if len(certificates) > MAX_CERTIFICATES:
        raise SignatureError("member_key_certificates", f"at most {MAX_CERTIFICATES} certificates")
    for index, certificate in enumerate(certificates):
        where = f"member_key_certificates[{index}]"
        if certificate.payload_type != MEMBER_KEY_PAYLOAD_TYPE:
            raise SignatureError(f"{where}.payload_type", f"must be {MEMBER_KEY_PAYLOAD_TYPE!r}")
        check_signatures_shape(certificate, where)
        if len(certificate.payload) > MAX_CERTIFICATE_BYTES:
            raise SignatureError(f"{where}.payload", f"at most {MAX_CERTIFICATE_BYTES} bytes")
        if json_too_deep(certificate.payload):
            raise SignatureError(f"{where}.payload", f"nests arrays and objects deeper than {MAX_JSON_DEPTH}")


def _signer_and_key(
    sig: EnvelopeSignature, trust: Mapping[str, TrustedKey], certified: Mapping[str, _CertifiedKey], problems: list[str]
) -> tuple[Signer, PublicKey] | None:
    """Who a signature's key speaks for and the key itself: a trusted organisation key or a certified member key
    (None, with the reason in ``problems``: neither, or a trusted key that cannot be loaded)."""
    trusted = trust.get(sig.keyid)
    held = certified.get(sig.keyid)
    if trusted is not None:
        key = usable_key(sig, trusted, problems)
        return None if key is None else (Signer(sig.keyid, "organisation", trusted.organisation), key)
    if held is not None:
        cert = held.certificate
        signer = Signer(sig.keyid, "member", cert.organisation, cert.id_number, held.issuers[0].keyid)
        return signer, load_public_key(cert.public_key_pem)
    problems.append(not_trusted(sig.keyid, " and no member-key certificate names it"))
    return None


def _verified_signers(
    envelope: Envelope,
    trust: Mapping[str, TrustedKey],
    certified: Mapping[str, _CertifiedKey],
    at: dt.datetime,
    problems: list[str],
) -> list[Signer]:
    """The signers whose signatures verify over the payload's PAE with a key whose chain is valid at ``at``."""
    message = pae(envelope.payload_type, envelope.payload)
    signers: list[Signer] = []
    for sig in first_per_keyid(envelope.signatures, problems):
        found = _signer_and_key(sig, trust, certified, problems)
        if found is None:
            continue
        signer, key = found
        why = _chain_problem(signer, trust, certified, at)
        if why is not None:
            problems.append(why)
            continue
        if not signature_holds(key, sig, message, problems):
            continue
        if signer not in signers:
            signers.append(signer)
    return signers


def _holding_signers(
    signers: Sequence[Signer],
    payload: AuthorizationPayload,
    trust: Mapping[str, TrustedKey],
    certified: Mapping[str, _CertifiedKey],
    problems: list[str],
) -> list[Signer]:
    """The signers that count for this payload: valid at its ``signed_at`` too, speaking for the commissioning
    organisation, and (for a member's key) belonging to a member it names."""
    holding: list[Signer] = []
    for signer in signers:
        why = _chain_problem(signer, trust, certified, payload.signed_at) if payload.signed_at else None
        if why is not None:
            problems.append(f"{why} (signed_at {payload.signed_at:%Y-%m-%dT%H:%M:%SZ})")
        elif signer.organisation != payload.commissioned_by:
            problems.append(f"key {signer.keyid!r} speaks for {signer.organisation}, not for {payload.commissioned_by}")
        elif signer.kind == "member" and signer.id_number not in payload.member_ids():
            problems.append(f"member key {signer.keyid!r} belongs to a person the authorization does not name")
        else:
            holding.append(signer)
    return holding


def check_authorization(
    envelope: Envelope,
    certificates: Sequence[Envelope],
    trust: Mapping[str, TrustedKey],
    at: dt.datetime,
    today: dt.date,
    *,
    declared: Collection[str] | None,
) -> CheckedAuthorization:
    """Check an authorization envelope received at ``at``; raise :class:`SignatureError` or
    :class:`AuthorizationError` (each naming the field) when no signature for it holds or its payload is bad.

    A signature holds when it verifies over the DSSE PAE of the exact payload bytes with a key that is
    either (a) a trusted key of the commissioning organisation, vouching for every member named, or
    (b) a member's key certified by such a key, covering that member only; every key in its chain
    valid at ``at`` and at the payload's ``signed_at``. Signatures that do not hold are listed in
    ``problems``; one that holds is enough. ``declared`` is passed to :func:`parse_authorization_payload`:
    the departments the service declares (``None``: not checked here).
    """
    check_shape(envelope, certificates)
    problems: list[str] = []
    certified = _certified_keys(certificates, trust, at, problems)
    signers = _verified_signers(envelope, trust, certified, at, problems)
    if not signers:
        raise SignatureError("envelope.signatures", "; ".join(problems))
    payload = parse_authorization_payload(envelope.payload, today, declared=declared)
    if payload.signed_at is not None and payload.signed_at > at + CLOCK_SKEW:
        raise AuthorizationError("signed_at", "is later than the time hedui received the signature")
    holding = _holding_signers(signers, payload, trust, certified, problems)
    if not holding:
        raise SignatureError(
            "envelope.signatures",
            f"no valid signature by a key of the commissioning organisation {payload.commissioned_by!r} "
            "or by a member's key it certified: " + "; ".join(problems),
        )
    return CheckedAuthorization(payload, tuple(holding), tuple(problems))


@functools.lru_cache(maxsize=8192)
def _recheck(
    envelope: Envelope, certificates: tuple[Envelope, ...], trust: frozenset[TrustedKey], at: dt.datetime
) -> CheckedAuthorization | str:
    """The check of a stored authorization (cached: a pure function of its arguments); a str says why it fails."""
    try:
        # Which departments it names was checked at registration: a stored one is judged on its signatures.
        return check_authorization(envelope, certificates, {k.keyid: k for k in trust}, at, dt.date.min, declared=None)
    except (SignatureError, AuthorizationError) as exc:
        return str(exc)


def registered_authorization(
    authorization_id: str,
    envelope: Envelope,
    certificates: Sequence[Envelope],
    trust: Mapping[str, TrustedKey],
    registered_at: dt.datetime,
    *,
    revoked_at: dt.datetime | None = None,
    revoke_reason: str | None = None,
) -> RegisteredAuthorization:
    """A stored authorization, its signatures checked again against the trust store as it is now."""
    needed = keyids_to_look_up(envelope, certificates)
    result = _recheck(envelope, tuple(certificates), frozenset(trust[k] for k in needed if k in trust), registered_at)
    if isinstance(result, str):
        try:
            payload = parse_authorization_payload(envelope.payload, dt.date.min, declared=None)
        except AuthorizationError:
            payload = AuthorizationPayload("", "", (), (), dt.date.min, dt.date.min, {})
        return RegisteredAuthorization(
            authorization_id,
            payload,
            (),
            registered_at,
            revoked_at,
            revoke_reason,
            signers=(),
            signature_problem=result,
        )
    return RegisteredAuthorization(
        authorization_id,
        result.payload,
        tuple(s.keyid for s in result.signers),
        registered_at,
        revoked_at,
        revoke_reason,
        signers=result.signers,
    )
