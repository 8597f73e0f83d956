"""Typed SQLAlchemy models of what the service stores."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuthorizationMemberRow",
    "AuthorizationRow",
    "AuthorizationSubjectRow",
    "Base",
    "ClientRow",
    "ConsentEpochRow",
    "DataKeyRow",
    "DepartmentResultRow",
    "ReportRow",
    "TrustedKeyRow",
    "VerificationRow",
    "WorkStepRow",
]


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Store in UTC (naive on SQLite); a naive value is refused."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Read back as an aware UTC datetime."""
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """The declarative base of every hedui table."""


class TrustedKeyRow(Base):
    """A public key of an organisation that may commission verifications."""

    __tablename__ = "trusted_keys"
    keyid: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(200), index=True)
    public_key_pem: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(500), default="")
    revoke_reason: Mapped[str | None] = mapped_column(String(500))
    # Rotation: the key this one replaced (whose not_after the rotation set).
    replaces: Mapped[str | None] = mapped_column(String(64))


class ClientRow(Base):
    """Issue 13: a client of the gRPC API, known by its certificate's public key, with its organisation and roles."""

    __tablename__ = "clients"
    key_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    organisation: Mapped[str] = mapped_column(String(200), index=True)
    roles_json: Mapped[str] = mapped_column(Text)
    certificate_pem: Mapped[bytes] = mapped_column(LargeBinary)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(500), default="")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(500))


class AuthorizationRow(Base):
    """A registered authorization: the signed envelope as received, and its revocation."""

    __tablename__ = "authorizations"
    # Issue 13: an idempotency key is its organisation's (another's key neither answers nor blocks a call).
    __table_args__ = (UniqueConstraint("commissioned_by", "request_id", name="uq_authorizations_organisation_request"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # An envelope is registered once: registering it again returns the same (possibly revoked) authorization.
    payload_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    payload_type: Mapped[str] = mapped_column(String(200))
    signatures_json: Mapped[str] = mapped_column(Text)
    signed_by_json: Mapped[str] = mapped_column(Text)
    # Member-key certificates carried with the envelope (DSSE JSON envelopes), for members' own signatures.
    certificates_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    # Issue 17: the key ids that signed those certificates, in plain text (certificates_json is sealed), for
    # count_signed_with_key_since.
    certificate_keyids: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    commissioned_by: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(40))
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(500))


class AuthorizationMemberRow(Base):
    """Index from a member's identity number to the authorizations naming them."""

    __tablename__ = "authorization_members"
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorizations.id"), primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), primary_key=True, index=True)


class VerificationRow(Base):
    """A verification: the request, the authorizations it runs under, its state and latest report version."""

    __tablename__ = "verifications"
    # Issue 13: an idempotency key is its organisation's (another's key neither answers nor blocks a call).
    __table_args__ = (UniqueConstraint("commissioned_by", "request_id", name="uq_verifications_organisation_request"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str | None] = mapped_column(String(200))
    request_json: Mapped[str] = mapped_column(Text)
    authorizations_json: Mapped[str] = mapped_column(Text)
    commissioned_by: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    operator: Mapped[str] = mapped_column(String(200))
    client: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    latest_report_version: Mapped[int] = mapped_column(Integer, default=0)


class DepartmentResultRow(Base):
    """What one department answered (or why it did not) for one verification."""

    __tablename__ = "department_results"
    verification_id: Mapped[str] = mapped_column(ForeignKey("verifications.id"), primary_key=True)
    department: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    records_json: Mapped[str] = mapped_column(Text, default="[]")
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    queried_json: Mapped[str] = mapped_column(Text, default="[]")
    not_queried_json: Mapped[str] = mapped_column(Text, default="[]")
    ticket_id: Mapped[str | None] = mapped_column(Text)
    ticket_ready_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ReportRow(Base):
    """One immutable version of a verification's report."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("verification_id", "version"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    verification_id: Mapped[str] = mapped_column(ForeignKey("verifications.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    body_json: Mapped[str] = mapped_column(Text)


class WorkStepRow(Base):
    """One department query of a verification as durable work: the process holding its lease carries it on.

    ``key`` is the query's idempotency key (``{verification}.{department}.{reason}``): every sending of the
    query carries it, so a department asked again after a crash answers from what it answered before.
    A lease (``leased_by`` until ``lease_until``) that is not renewed lapses, and any process may claim it.
    """

    __tablename__ = "work_steps"
    __table_args__ = (Index("ix_work_steps_due", "phase", "due_at"),)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    verification_id: Mapped[str] = mapped_column(ForeignKey("verifications.id"), index=True)
    department: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(16))
    query_id: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    leased_by: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ConsentEpochRow(Base):
    """One row counting consent changes (revocations of authorizations and keys): a cached consent
    decision is still right while this number has not moved."""

    __tablename__ = "consent_epoch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class AuthorizationSubjectRow(Base):
    """Issue 17: the blind index from a member's identity number (a keyed hash, never the number) to the
    authorizations naming them (docs/sealing.md)."""

    __tablename__ = "authorization_subjects"
    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorizations.id"), primary_key=True)
    id_index: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class DataKeyRow(Base):
    """Issue 17: a data key that seals cells at rest, wrapped under a master key of the key provider
    (``wrapped`` is ``NULL`` once retention destroyed it: its cells are crypto-shredded)."""

    __tablename__ = "data_keys"
    __table_args__ = (UniqueConstraint("purpose", "period", "generation", name="uq_data_keys_purpose_period"),)
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7))
    generation: Mapped[int] = mapped_column(Integer)
    suite: Mapped[str] = mapped_column(String(16))
    kek_id: Mapped[str] = mapped_column(String(200))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
