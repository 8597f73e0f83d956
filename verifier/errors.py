"""The error catalogue: every reason the service refuses a call with, and the gRPC code it maps to.

Each refusal carries one :class:`Reason` (the google.rpc ErrorInfo reason, domain ``hedui.v1``) and
the gRPC status code of that reason; invalid input also carries one :class:`FieldViolation` per
problem (AIP-193 BadRequest).

=============================  =====================  =================================================
Reason                         gRPC code              when
=============================  =====================  =================================================
INVALID_REQUEST                INVALID_ARGUMENT       a field of the call is malformed (names, pages, …)
BAD_SIGNATURE                  INVALID_ARGUMENT       an envelope's signature does not verify
BAD_AUTHORIZATION              INVALID_ARGUMENT       an authorization's payload breaks consent rules
NO_SUCH_PROOF                  INVALID_ARGUMENT       an audit proof asked for sizes the log cannot prove
NOT_FOUND                      NOT_FOUND              the named resource does not exist
KEY_EXISTS                     ALREADY_EXISTS         the key is already in the trust store
CONSENT_MISSING                FAILED_PRECONDITION    no authorization lets any member be queried
AUTHORIZATION_NOT_FOUND        FAILED_PRECONDITION    a verification names an unregistered authorization
PREVIOUS_REPORT_NOT_FOUND      FAILED_PRECONDITION    a recheck names no report of the organisation
PREVIOUS_REPORT_MISMATCH       FAILED_PRECONDITION    a recheck's previous report is of another household
REPORT_NOT_READY               FAILED_PRECONDITION    the verification has no report yet
AUDIT_LOG_EMPTY                FAILED_PRECONDITION    the audit log has no signed head yet
KEY_NOT_VALID                  FAILED_PRECONDITION    a rotation found no valid key to replace
KEY_AMBIGUOUS                  FAILED_PRECONDITION    a rotation found several valid keys: name one
KEY_REVOKED                    FAILED_PRECONDITION    the key was revoked already
AUDIT_LOG_DAMAGED              DATA_LOSS              the stored audit log fails its own checks
=============================  =====================  =================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["FieldViolation", "Reason", "ServiceError"]


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One problem with one field of a call (AIP-193 BadRequest.FieldViolation)."""

    field: str
    description: str


class Reason(StrEnum):
    """Why a call was refused; the value is the ErrorInfo reason callers match on (never rename one)."""

    INVALID_REQUEST = "INVALID_REQUEST"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    BAD_AUTHORIZATION = "BAD_AUTHORIZATION"
    NO_SUCH_PROOF = "NO_SUCH_PROOF"
    NOT_FOUND = "NOT_FOUND"
    KEY_EXISTS = "KEY_EXISTS"
    CONSENT_MISSING = "CONSENT_MISSING"
    AUTHORIZATION_NOT_FOUND = "AUTHORIZATION_NOT_FOUND"
    PREVIOUS_REPORT_NOT_FOUND = "PREVIOUS_REPORT_NOT_FOUND"
    PREVIOUS_REPORT_MISMATCH = "PREVIOUS_REPORT_MISMATCH"
    REPORT_NOT_READY = "REPORT_NOT_READY"
    AUDIT_LOG_EMPTY = "AUDIT_LOG_EMPTY"
    KEY_NOT_VALID = "KEY_NOT_VALID"
    KEY_AMBIGUOUS = "KEY_AMBIGUOUS"
    KEY_REVOKED = "KEY_REVOKED"
    AUDIT_LOG_DAMAGED = "AUDIT_LOG_DAMAGED"

    @property
    def code(self) -> str:
        """The gRPC status code name of this reason (the table in the module docstring)."""
        return _CODES.get(self, "FAILED_PRECONDITION")


_CODES: dict[Reason, str] = {
    Reason.INVALID_REQUEST: "INVALID_ARGUMENT",
    Reason.BAD_SIGNATURE: "INVALID_ARGUMENT",
    Reason.BAD_AUTHORIZATION: "INVALID_ARGUMENT",
    Reason.NO_SUCH_PROOF: "INVALID_ARGUMENT",
    Reason.NOT_FOUND: "NOT_FOUND",
    Reason.KEY_EXISTS: "ALREADY_EXISTS",
    Reason.AUDIT_LOG_DAMAGED: "DATA_LOSS",
}


@dataclass(slots=True, init=False)
class ServiceError(Exception):
    """A refused call: its :class:`Reason`, the gRPC code of that reason, a message, field violations."""

    reason: Reason
    message: str
    violations: list[FieldViolation] = field(default_factory=list)

    def __init__(self, reason: Reason, message: str, violations: list[FieldViolation] | None = None) -> None:
        """A refusal for ``reason``; the code follows from the reason."""
        self.reason = reason
        self.message = message
        self.violations = list(violations or ())

    @property
    def code(self) -> str:
        """The gRPC status code name (``INVALID_ARGUMENT``, ``NOT_FOUND``, …)."""
        return self.reason.code

    def __str__(self) -> str:
        return self.message

    @classmethod
    def invalid(cls, violations: list[FieldViolation], reason: Reason = Reason.INVALID_REQUEST) -> ServiceError:
        """Invalid input: the message names the first violation, all of them travel as details."""
        first = violations[0]
        return cls(reason, f"{first.field}: {first.description}", violations)

    @classmethod
    def precondition(cls, field_name: str, description: str, reason: Reason) -> ServiceError:
        """A well-formed call the service's state does not allow, blamed on one field."""
        return cls(reason, f"{field_name}: {description}", [FieldViolation(field_name, description)])

    @classmethod
    def not_found(cls, name: str) -> ServiceError:
        """The named resource does not exist."""
        return cls(Reason.NOT_FOUND, f"{name} not found")
