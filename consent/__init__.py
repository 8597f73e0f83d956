"""Who may be queried: authorizations, their signatures, the trust store's keys, consent decisions."""

from consent.authorization import (
    AUTHORIZATION_PAYLOAD_TYPE,
    AuthorizationError,
    AuthorizationPayload,
    AuthorizedMember,
    RegisteredAuthorization,
    authorization_payload,
    parse_authorization_payload,
    require_declared_departments,
    unknown_departments,
)
from consent.check import CheckedAuthorization, check_authorization, keyids_to_look_up, registered_authorization
from consent.decision import ConsentDecision, Refusal, decide
from consent.departments import ALL_DEPARTMENTS, DEPARTMENT_ID, is_department_id
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
from consent.errors import FieldError
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
    "ALL_DEPARTMENTS",
    "AUTHORIZATION_PAYLOAD_TYPE",
    "CHINA_TIME",
    "DEPARTMENT_ID",
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
    "FieldError",
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
    "is_department_id",
    "keyids_to_look_up",
    "mask",
    "member_key_certificate",
    "parse_authorization_payload",
    "parse_member_key_certificate",
    "registered_authorization",
    "require_declared_departments",
    "scrub",
    "sign_envelope",
    "unknown_departments",
    "validate_identity_number",
    "verify_envelope",
]
