"""initial schema: keys, authorizations, verifications, results, reports, audit entries

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authorizations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("payload_type", sa.String(length=200), nullable=False),
        sa.Column("signatures_json", sa.Text(), nullable=False),
        sa.Column("signed_by_json", sa.Text(), nullable=False),
        sa.Column("commissioned_by", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
        sa.UniqueConstraint("payload_sha256"),
    )
    op.create_table(
        "trusted_keys",
        sa.Column("keyid", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("public_key_pem", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("keyid"),
    )
    with op.batch_alter_table("trusted_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trusted_keys_organisation"), ["organisation"], unique=False)

    op.create_table(
        "verifications",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("authorizations_json", sa.Text(), nullable=False),
        sa.Column("commissioned_by", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latest_report_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
    )
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_verifications_commissioned_by"), ["commissioned_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_verifications_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_verifications_state"), ["state"], unique=False)

    op.create_table(
        "authorization_members",
        sa.Column("authorization_id", sa.String(length=64), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["authorizations.id"],
        ),
        sa.PrimaryKeyConstraint("authorization_id", "id_number"),
    )
    with op.batch_alter_table("authorization_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authorization_members_id_number"), ["id_number"], unique=False)

    op.create_table(
        "department_results",
        sa.Column("verification_id", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("records_json", sa.Text(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("queried_json", sa.Text(), nullable=False),
        sa.Column("not_queried_json", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Text(), nullable=True),
        sa.Column("ticket_ready_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verifications.id"],
        ),
        sa.PrimaryKeyConstraint("verification_id", "department"),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("verification_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verifications.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("verification_id", "version"),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_verification_id"), ["verification_id"], unique=False)

    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("verification", sa.String(length=100), nullable=False),
        sa.Column("authorization", sa.Text(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("subjects", sa.Text(), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_verification"), ["verification"], unique=False)

    _forbid_changes_to_audit_entries()


def _forbid_changes_to_audit_entries() -> None:
    """The audit table is append-only: UPDATE, DELETE (and TRUNCATE on PostgreSQL) are refused."""
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_entries_no_{action.lower()} BEFORE {action} ON audit_entries "
                "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION hedui_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_entries is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries "
        "FOR EACH ROW EXECUTE FUNCTION hedui_refuse_audit_change()"
    )
    op.execute(
        "CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION hedui_refuse_audit_change()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER audit_entries_no_truncate ON audit_entries")
        op.execute("DROP TRIGGER audit_entries_no_change ON audit_entries")
        op.execute("DROP FUNCTION hedui_refuse_audit_change()")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_verification"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_kind"))

    op.drop_table("audit_entries")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_verification_id"))

    op.drop_table("reports")
    op.drop_table("department_results")
    with op.batch_alter_table("authorization_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorization_members_id_number"))

    op.drop_table("authorization_members")
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verifications_state"))
        batch_op.drop_index(batch_op.f("ix_verifications_created_at"))
        batch_op.drop_index(batch_op.f("ix_verifications_commissioned_by"))

    op.drop_table("verifications")
    with op.batch_alter_table("trusted_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trusted_keys_organisation"))

    op.drop_table("trusted_keys")
    op.drop_table("authorizations")
