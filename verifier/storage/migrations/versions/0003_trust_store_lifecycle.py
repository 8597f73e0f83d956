"""trust store lifecycle and members' own signatures

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

- trusted_keys.revoke_reason: why a key was revoked (with revoked_at, the time from which it is not trusted)
- trusted_keys.replaces: the key a rotation replaced
- authorizations.certificates_json: member-key certificates carried with the envelope
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trusted_keys") as batch_op:
        batch_op.add_column(sa.Column("revoke_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("replaces", sa.String(length=64), nullable=True))
    with op.batch_alter_table("authorizations") as batch_op:
        batch_op.add_column(sa.Column("certificates_json", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("authorizations") as batch_op:
        batch_op.drop_column("certificates_json")
    with op.batch_alter_table("trusted_keys") as batch_op:
        batch_op.drop_column("replaces")
        batch_op.drop_column("revoke_reason")
