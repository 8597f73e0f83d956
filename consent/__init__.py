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
from consent.decision import ConsentDecision, Refusal, decide
from consent.envelope import (
    Envelope,
    EnvelopeSignature,
    SignatureError,
    SigningKey,
    TrustedKey,
    sign_envelope,
    verify_envelope,
)
from consent.identity import CHINA_TIME, IdentityNumberError, china_today, mask, validate_identity_number

__all__ = [
    "AUTHORIZATION_PAYLOAD_TYPE",
    "CHINA_TIME",
    "AuthorizationError",
    "AuthorizationPayload",
    "AuthorizedMember",
    "ConsentDecision",
    "Envelope",
    "EnvelopeSignature",
    "IdentityNumberError",
    "Refusal",
    "RegisteredAuthorization",
    "SignatureError",
    "SigningKey",
    "TrustedKey",
    "authorization_payload",
    "china_today",
    "decide",
    "mask",
    "parse_authorization_payload",
    "sign_envelope",
    "validate_identity_number",
    "verify_envelope",
]
