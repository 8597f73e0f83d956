"""request ids per organisation: an idempotency key is unique within its organisation only (issue 13)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

- verifications.request_id and authorizations.request_id were unique over the whole table, so one organisation's
  key answered (or blocked) another's call; they are now unique on (commissioned_by, request_id)
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# 0001 made the request_id constraints without names: this convention names them on both databases
# (PostgreSQL's default name for a one-column unique constraint is the same).
_CONVENTION = {"uq": "%(table_name)s_%(column_0_name)s_key"}
_TABLES = ("verifications", "authorizations")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, naming_convention=_CONVENTION) as batch_op:
            batch_op.drop_constraint(f"{table}_request_id_key", type_="unique")
            batch_op.create_unique_constraint(f"uq_{table}_organisation_request", ["commissioned_by", "request_id"])


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, naming_convention=_CONVENTION) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_organisation_request", type_="unique")
            batch_op.create_unique_constraint(f"{table}_request_id_key", ["request_id"])
