"""durable work: department queries as leased steps, and the consent epoch

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

- work_steps: one row per department query of a verification (its idempotency key), leased by the process
  carrying it on; queries left querying or pending by an earlier version become steps here
- consent_epoch: one row counting revocations, so cached consent decisions are re-checked with one read
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The same statement the service runs at start (verifier.storage.work.ADOPT), frozen here as it was.
_ADOPT = (
    "INSERT INTO work_steps (key, verification_id, department, phase, query_id, due_at, attempts) "
    "SELECT r.verification_id || '.' || r.department || '.1', r.verification_id, r.department, "
    "CASE WHEN r.status = 'pending' THEN 'poll' ELSE 'send' END, "
    "r.verification_id || '.' || r.department || '.1', r.updated_at, 0 "
    "FROM department_results r "
    "WHERE (r.status = 'querying' OR (r.status = 'pending' AND r.ticket_id IS NOT NULL))"
)


def upgrade() -> None:
    op.create_table(
        "work_steps",
        sa.Column("key", sa.String(length=200), primary_key=True),
        sa.Column("verification_id", sa.String(length=64), sa.ForeignKey("verifications.id"), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("query_id", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_by", sa.String(length=120), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_work_steps_verification_id", "work_steps", ["verification_id"])
    op.create_index("ix_work_steps_due", "work_steps", ["phase", "due_at"])
    epoch = op.create_table(
        "consent_epoch",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("value", sa.Integer(), nullable=False),
    )
    op.bulk_insert(epoch, [{"id": 1, "value": 0}])
    op.execute(_ADOPT)


def downgrade() -> None:
    op.drop_table("consent_epoch")
    op.drop_index("ix_work_steps_due", "work_steps")
    op.drop_index("ix_work_steps_verification_id", "work_steps")
    op.drop_table("work_steps")
