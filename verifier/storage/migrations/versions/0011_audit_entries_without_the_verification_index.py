"""audit entries without the index on verification alone (issue 12, appends)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

- Since 0009, the index on (verification, kind) answers every look-up by verification (its first column), alone
  or with kinds; the index on verification alone only cost each append one more B-tree insert, on both databases.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_entries_verification", table_name="audit_entries")


def downgrade() -> None:
    op.create_index("ix_audit_entries_verification", "audit_entries", ["verification"])
