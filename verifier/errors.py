"""The error catalogue: every reason the service refuses a call with, and the gRPC code it maps to.

Each refusal carries one :class:`Reason` (the google.rpc ErrorInfo reason, domain ``hedui.v1``) and
the gRPC status code of that reason; invalid input also carries one :class:`FieldViolation` per
problem (AIP-193 BadRequest), and a refusal to be retried carries how long to wait (google.rpc.RetryInfo).
A database that is busy or out of reach (:func:`database_failure`) is ``DATABASE_BUSY``, to retry in a second.

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
DATABASE_BUSY                  UNAVAILABLE            no database connection in time, or it was lost
AUDIT_LOG_STOPPED              UNAVAILABLE            writes refused: the audit log cannot sign (issue 12)
REPORT_TAMPERED                DATA_LOSS              a stored report differs from its REPORT_CREATED entry
ANSWER_TAMPERED                DATA_LOSS              a stored department answer differs from its audit entry
CLIENT_CERTIFICATE_MISSING     UNAUTHENTICATED        the call came without a client certificate (issue 13)
CLIENT_UNKNOWN                 UNAUTHENTICATED        the certificate's key is no client's (issue 13)
CLIENT_REVOKED                 UNAUTHENTICATED        the certificate's client was revoked (issue 13)
ROLE_MISSING                   PERMISSION_DENIED      no role of the client may call this method (issue 13)
NOT_OWN_ORGANISATION           PERMISSION_DENIED      commissioned_by is not the caller's organisation (issue 13)
CLIENT_EXISTS                  ALREADY_EXISTS         a client has this certificate key or name (issue 13)
CLIENT_ALREADY_REVOKED         FAILED_PRECONDITION    the client was revoked already (issue 13)
REQUEST_ID_REUSED              ALREADY_EXISTS         a request_id already used for different content
MEMBER_NAME_MISMATCH           INVALID_ARGUMENT       a member's name differs from its authorization's
INTERNAL_ERROR                 INTERNAL               an unforeseen failure (a bug), logged without its text
TOO_MANY_STREAMS               RESOURCE_EXHAUSTED     the caller (or everyone) holds the most streams allowed
ACCESS_CHECK_UNAVAILABLE       UNAVAILABLE            who calls could not be checked: refused (issue 13)
CLIENT_CERTIFICATE_REFUSED     UNAUTHENTICATED        a CA's, not for clientAuth, or not the client CA's (13)
CLIENT_NOT_IDENTIFIED          INTERNAL               a servicer ran without the access check (a bug) (13)
WHOLE_LOG_NATIONAL_ONLY        PERMISSION_DENIED      the whole audit log is a national supervisor's (13)
SEALED_CELL_UNREADABLE         DATA_LOSS              a sealed cell does not open: edited, moved, or no key (17)
ANSWER_EXPIRED                 FAILED_PRECONDITION    a department answer was crypto-shredded (retention, 17)
=============================  =====================  =================================================
"""

from __future__ import annotations

import logging
import sqlite3
import traceback
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final

from sqlalchemy import exc as sa_exc

__all__ = ["DATABASE_RETRY_SECONDS", "FieldViolation", "Reason", "ServiceError", "database_failure", "internal_error"]

# How long a caller refused with DATABASE_BUSY is told to wait before it tries again.
DATABASE_RETRY_SECONDS: Final = 1.0
# PostgreSQL SQLSTATEs of a server out of reach or out of room: connection exceptions (class 08), insufficient
# resources (class 53: too many connections, …), and a server shutting down, crashed or still starting (57P01-3).
# 40P01 deadlock and 40001 serialization failure: the transaction was chosen to give way; trying again succeeds.
_UNAVAILABLE_SQLSTATE_PREFIXES: Final = ("08", "53", "57P01", "57P02", "57P03", "40P01", "40001")
# SQLite: another process holds the write lock past the busy timeout.
_SQLITE_BUSY: Final = ("database is locked", "database table is locked", "database is busy")


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
    DATABASE_BUSY = "DATABASE_BUSY"
    # Issue 12: writes refused while the audit log cannot sign what they would record.
    AUDIT_LOG_STOPPED = "AUDIT_LOG_STOPPED"
    # Issue 12, item 4: a stored row differs from the digest its audit entry recorded (edited behind hedui's back).
    REPORT_TAMPERED = "REPORT_TAMPERED"
    ANSWER_TAMPERED = "ANSWER_TAMPERED"
    # Issue 13: who may call what (verifier/access, docs/access.md).
    CLIENT_CERTIFICATE_MISSING = "CLIENT_CERTIFICATE_MISSING"
    CLIENT_UNKNOWN = "CLIENT_UNKNOWN"
    CLIENT_REVOKED = "CLIENT_REVOKED"
    ROLE_MISSING = "ROLE_MISSING"
    NOT_OWN_ORGANISATION = "NOT_OWN_ORGANISATION"
    CLIENT_EXISTS = "CLIENT_EXISTS"
    CLIENT_ALREADY_REVOKED = "CLIENT_ALREADY_REVOKED"
    # Issue 13 (input): a request_id reused for other content; a request naming a member otherwise than its
    # authorization does.
    REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
    MEMBER_NAME_MISMATCH = "MEMBER_NAME_MISMATCH"
    # ... and a call that failed for a reason the service did not foresee (a bug): INTERNAL, never UNKNOWN.
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # ... and a caller (or everyone) holding as many streams as the service allows (verifier/quotas.py).
    TOO_MANY_STREAMS = "TOO_MANY_STREAMS"
    # Issue 13 (review S4): the clients could not be read for a reason other than a busy database.
    ACCESS_CHECK_UNAVAILABLE = "ACCESS_CHECK_UNAVAILABLE"
    # Issue 13 (review S5): a certificate the handshake accepted that is no client's (docs/access.md).
    CLIENT_CERTIFICATE_REFUSED = "CLIENT_CERTIFICATE_REFUSED"
    # Issue 13 (review S9): a servicer reached without the interceptor's client: refused, never unscoped.
    CLIENT_NOT_IDENTIFIED = "CLIENT_NOT_IDENTIFIED"
    # Issue 13 (review S1): ExportAuditLog by a supervisor of less than the whole country.
    WHOLE_LOG_NATIONAL_ONLY = "WHOLE_LOG_NATIONAL_ONLY"
    # Issue 17 (docs/sealing.md): a cell sealed at rest that does not open (edited, moved to another row, or its
    # data key unknown to this process); a department answer whose data key retention destroyed.
    SEALED_CELL_UNREADABLE = "SEALED_CELL_UNREADABLE"
    ANSWER_EXPIRED = "ANSWER_EXPIRED"

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
    Reason.DATABASE_BUSY: "UNAVAILABLE",
    Reason.AUDIT_LOG_STOPPED: "UNAVAILABLE",
    Reason.REPORT_TAMPERED: "DATA_LOSS",
    Reason.ANSWER_TAMPERED: "DATA_LOSS",
    Reason.CLIENT_CERTIFICATE_MISSING: "UNAUTHENTICATED",
    Reason.CLIENT_UNKNOWN: "UNAUTHENTICATED",
    Reason.CLIENT_REVOKED: "UNAUTHENTICATED",
    Reason.ROLE_MISSING: "PERMISSION_DENIED",
    Reason.NOT_OWN_ORGANISATION: "PERMISSION_DENIED",
    Reason.CLIENT_EXISTS: "ALREADY_EXISTS",
    Reason.REQUEST_ID_REUSED: "ALREADY_EXISTS",
    Reason.MEMBER_NAME_MISMATCH: "INVALID_ARGUMENT",
    Reason.INTERNAL_ERROR: "INTERNAL",
    Reason.TOO_MANY_STREAMS: "RESOURCE_EXHAUSTED",
    Reason.ACCESS_CHECK_UNAVAILABLE: "UNAVAILABLE",
    Reason.CLIENT_CERTIFICATE_REFUSED: "UNAUTHENTICATED",
    Reason.CLIENT_NOT_IDENTIFIED: "INTERNAL",
    Reason.WHOLE_LOG_NATIONAL_ONLY: "PERMISSION_DENIED",
    Reason.SEALED_CELL_UNREADABLE: "DATA_LOSS",
    Reason.ANSWER_EXPIRED: "FAILED_PRECONDITION",
}


@dataclass(slots=True, init=False)
class ServiceError(Exception):
    """A refused call: its :class:`Reason`, the gRPC code of that reason, a message, field violations, and
    for a refusal to be retried, how many seconds to wait first (``retry_delay``)."""

    reason: Reason
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    retry_delay: float | None = None

    def __init__(
        self,
        reason: Reason,
        message: str,
        violations: list[FieldViolation] | None = None,
        *,
        retry_delay: float | None = None,
    ) -> None:
        """A refusal for ``reason``; the code follows from the reason."""
        self.reason = reason
        self.message = message
        self.violations = list(violations or ())
        self.retry_delay = retry_delay

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

    @classmethod
    def database_busy(cls) -> ServiceError:
        """The database gave no connection in time or lost it: nothing is known to be wrong with the call, so
        the caller retries after :data:`DATABASE_RETRY_SECONDS`. The message names no SQL and no driver."""
        return cls(
            Reason.DATABASE_BUSY,
            "the database is busy or out of reach; try again in a moment",
            retry_delay=DATABASE_RETRY_SECONDS,
        )


def _sqlstate(error: BaseException) -> str:
    """The PostgreSQL SQLSTATE a driver's error carries (asyncpg: ``sqlstate``; psycopg: ``pgcode``), else ``""``."""
    for name in ("sqlstate", "pgcode"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            return value
    return ""


def _unavailable(error: BaseException) -> bool:
    """One exception (not its causes) says the database is out of reach or out of connections."""
    if isinstance(error, sa_exc.TimeoutError | ConnectionError):
        return True  # the pool's timeout; a connection to the server refused or reset
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if _sqlstate(error).startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        return True
    return isinstance(error, sqlite3.OperationalError) and str(error).startswith(_SQLITE_BUSY)


def _chain(error: BaseException) -> list[BaseException]:
    """The exception, what it wraps (a DBAPIError's ``orig``) and what caused it, each once; groups unpacked."""
    seen: list[BaseException] = []
    pending = [error]
    while pending and len(seen) < 32:
        current = pending.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for inner in (getattr(current, "orig", None), current.__cause__):
            if isinstance(inner, BaseException):
                pending.append(inner)
    return seen


def database_failure(error: BaseException) -> ServiceError | None:
    """``DATABASE_BUSY`` when ``error`` (or what it wraps) is the database out of reach: the pool's timeout
    (``sqlalchemy.exc.TimeoutError``), a connection refused, reset or lost (``connection_invalidated``), a server
    with too many connections or shutting down, SQLite's lock held past its busy timeout; else ``None``."""
    if isinstance(error, ServiceError):
        return None
    return ServiceError.database_busy() if any(_unavailable(e) for e in _chain(error)) else None


# --- issue 13 (input): a failure nobody foresaw is INTERNAL, and says nothing of itself ------------------

_internal_log = logging.getLogger("hedui.api")


def internal_error(error: BaseException) -> ServiceError:
    """``INTERNAL_ERROR`` for an exception no refusal foresaw (a bug). The caller learns nothing of it (its text
    may carry SQL or personal data); the log gets its type and where it was raised, file and line, not its text."""
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    _internal_log.error("unforeseen %s at %s: refused with INTERNAL", type(error).__name__, where or "?")
    return ServiceError(Reason.INTERNAL_ERROR, "internal error; the service logged it under this call's x-request-id")
