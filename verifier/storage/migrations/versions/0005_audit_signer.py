"""audit signer: entry MACs, the integrator's lease, refused queue rows, leaves found by hash

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

- audit_entries.mac: HMAC-SHA256 of the entry under a key the database does not hold (NULL for older entries)
- audit_signer: one row, the lease every integration takes first (integrations take turns across processes)
- audit_refused: queue rows the integrator refused, kept as evidence
- audit_leaves.leaf_hash indexed: a copy of an entry already in the tree is found by its leaf hash
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _counter() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("audit_entries", sa.Column("mac", sa.LargeBinary(), nullable=True))
    op.create_index("ix_audit_leaves_leaf_hash", "audit_leaves", ["leaf_hash"])
    signer = op.create_table(
        "audit_signer",
        sa.Column("id", sa.Integer(), autoincrement=False, primary_key=True),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(signer, [{"id": 1, "holder": "", "taken_at": dt.datetime.now(dt.UTC)}])
    op.create_table(
        "audit_refused",
        sa.Column("id", _counter(), autoincrement=True, primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    # Evidence: refused rows are never changed or removed (the functions of 0001/0002 raise).
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_refused_no_{action.lower()} BEFORE {action} ON audit_refused "
                "BEGIN SELECT RAISE(ABORT, 'audit_refused is append-only'); END"
            )
    else:
        op.execute(
            "CREATE TRIGGER audit_refused_no_change BEFORE UPDATE OR DELETE ON audit_refused "
            "FOR EACH ROW EXECUTE FUNCTION hedui_refuse_audit_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_refused_no_update")
        op.execute("DROP TRIGGER audit_refused_no_delete")
    else:
        op.execute("DROP TRIGGER audit_refused_no_change ON audit_refused")
    op.drop_table("audit_refused")
    op.drop_table("audit_signer")
    op.drop_index("ix_audit_leaves_leaf_hash", table_name="audit_leaves")
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_column("mac")
