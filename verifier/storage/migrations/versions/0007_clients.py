"""clients: the gRPC API's callers, known by their certificates' public keys (issue 13)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

- clients: one row per client certificate key (SHA-256 of its SubjectPublicKeyInfo): its name, organisation,
  roles, the certificate as added, and its revocation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("key_sha256", sa.String(length=64), primary_key=True),
        sa.Column("name", sa.String(length=64), nullable=False, unique=True),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("roles_json", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.LargeBinary(), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False, server_default=""),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=True),
    )
    op.create_index("ix_clients_organisation", "clients", ["organisation"])


def downgrade() -> None:
    op.drop_index("ix_clients_organisation", table_name="clients")
    op.drop_table("clients")
