"""Who may be queried: authorizations, their signatures, the trust store's keys, consent decisions."""

from consent.authorization import (
    AUTHORIZATION_PAYLOAD_TYPE,
    AuthorizationError,
    AuthorizationPayload,
    AuthorizedMember,
    RegisteredAuthorization,
    authorization_payload,
    parse_authorization_payload,
)
from consent.check import CheckedAuthorization, check_authorization, keyids_to_look_up, registered_authorization
from consent.decision import ConsentDecision, Refusal, decide
from consent.envelope import (
    Envelope,
    EnvelopeFormatError,
    EnvelopeSignature,
    SignatureError,
    SigningKey,
    TrustedKey,
    envelope_from_json,
    envelope_to_json,
    sign_envelope,
    verify_envelope,
)
from consent.identity import CHINA_TIME, IdentityNumberError, china_today, mask, scrub, validate_identity_number
from consent.signers import (
    MEMBER_KEY_PAYLOAD_TYPE,
    CertificateError,
    MemberKeyCertificate,
    Signer,
    member_key_certificate,
    parse_member_key_certificate,
)

__all__ = [
    "AUTHORIZATION_PAYLOAD_TYPE",
    "CHINA_TIME",
    "MEMBER_KEY_PAYLOAD_TYPE",
    "AuthorizationError",
    "AuthorizationPayload",
    "AuthorizedMember",
    "CertificateError",
    "CheckedAuthorization",
    "ConsentDecision",
    "Envelope",
    "EnvelopeFormatError",
    "EnvelopeSignature",
    "IdentityNumberError",
    "MemberKeyCertificate",
    "Refusal",
    "RegisteredAuthorization",
    "SignatureError",
    "Signer",
    "SigningKey",
    "TrustedKey",
    "authorization_payload",
    "check_authorization",
    "china_today",
    "decide",
    "envelope_from_json",
    "envelope_to_json",
    "keyids_to_look_up",
    "mask",
    "member_key_certificate",
    "parse_authorization_payload",
    "parse_member_key_certificate",
    "registered_authorization",
    "scrub",
    "sign_envelope",
    "validate_identity_number",
    "verify_envelope",
]
