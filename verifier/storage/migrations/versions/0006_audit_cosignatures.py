"""audit cosignatures: the witnesses' cosignatures of signed tree heads (issue 12, item 5)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

- audit_cosignatures: one C2SP tlog-cosignature line per (signed head, witness), verified when stored and again
  whenever it is served; GetSignedTreeHead serves the newest head cosigned as the witness policy requires
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_cosignatures",
        sa.Column(
            "tree_size", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=False
        ),
        sa.Column("witness", sa.String(length=200), primary_key=True),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_cosignatures")
