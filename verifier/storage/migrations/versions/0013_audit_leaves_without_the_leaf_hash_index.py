"""audit leaves without the index on leaf_hash (issue 12, appends)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

- The integrator finds a copy of an entry already in the tree among the leaves of the tree it holds in memory,
  proven against the signer's state (audit.leaf_index), no longer through this index. Its keys are random hashes,
  so each append's leaf scattered an insert over the whole B-tree: on SQLite 12 of an integrated leaf's 16 µs.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_leaves_leaf_hash", table_name="audit_leaves")


def downgrade() -> None:
    op.create_index("ix_audit_leaves_leaf_hash", "audit_leaves", ["leaf_hash"])
