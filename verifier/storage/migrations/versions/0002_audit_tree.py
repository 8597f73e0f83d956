"""audit tree: pending queue, Merkle leaves and signed tree heads

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_APPEND_ONLY = ("audit_leaves", "audit_tree_heads")


def _counter() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table("audit_pending", sa.Column("seq", _counter(), autoincrement=False, primary_key=True))
    op.create_table(
        "audit_leaves",
        sa.Column("leaf_index", _counter(), autoincrement=False, primary_key=True),
        sa.Column("entry_seq", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "audit_tree_heads",
        sa.Column("tree_size", _counter(), autoincrement=False, primary_key=True),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    )
    # Entries written before this revision join the tree at the next integration.
    op.execute("INSERT INTO audit_pending (seq) SELECT seq FROM audit_entries")
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(
            "CREATE OR REPLACE FUNCTION hedui_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
    for table in _APPEND_ONLY:
        if sqlite:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        else:
            op.execute(
                f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION hedui_refuse_audit_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION hedui_refuse_audit_change()"
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in _APPEND_ONLY:
        if sqlite:
            op.execute(f"DROP TRIGGER {table}_no_update")
            op.execute(f"DROP TRIGGER {table}_no_delete")
        else:
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_change ON {table}")
    op.drop_table("audit_tree_heads")
    op.drop_table("audit_leaves")
    op.drop_table("audit_pending")
