"""audit entries found by verification and kind together (one index)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

- GetReport reads the report's REPORT_CREATED entry (issue 12: a report is served only as its entry recorded
  it) by verification and kind. With one index per column SQLite, which keeps no statistics, took the `kind`
  index and read every REPORT_CREATED entry of the log for each report read: the cost of a read grew with the
  log (12 % of the server's time after a few thousand verifications). One index on (verification, kind)
  answers it, and every other look-up of a verification's entries of some kinds, in a few rows on both databases.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_entries_verification_kind", "audit_entries", ["verification", "kind"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_verification_kind", table_name="audit_entries")
