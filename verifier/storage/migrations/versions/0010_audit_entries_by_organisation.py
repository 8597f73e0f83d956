"""audit entries by organisation: a supervisor reads the entries of its area's organisations (issue 13)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

- audit_entries.organisation: the organisation an entry is of (audit/organisation.py): the one its client's
  label ``name@organisation`` names, else for an entry no client made the one its details name (a key or a
  client added or revoked), else none (``''``). Indexed: ListAuditEvents filters a supervisor's area in the
  database, so a page is whole and its token never stands on another area's entry.
- Existing rows are filled from their signed entry: the append-only trigger is lifted for that one UPDATE
  and put back in the same transaction.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_CHUNK = 1_000


def _named_by_details(entry: bytes) -> str:
    """The organisation an entry's details name (an entry no client made), else ``''``."""
    try:
        details = json.loads(bytes(entry)).get("details")
    except (ValueError, AttributeError):
        return ""
    named = details.get("organisation") if isinstance(details, dict) else None
    return named if isinstance(named, str) else ""


def _fill(connection: Any, sqlite: bool) -> None:
    """Every existing entry's organisation, from its client's label or its details."""
    find = "instr(client, '@')" if sqlite else "strpos(client, '@')"
    connection.execute(sa.text(f"UPDATE audit_entries SET organisation = substr(client, {find} + 1) WHERE {find} > 0"))
    rows = connection.execute(sa.text(f"SELECT seq, entry FROM audit_entries WHERE {find} = 0")).all()
    named = [{"seq": seq, "organisation": o} for seq, entry in rows if (o := _named_by_details(entry))]
    update = sa.text("UPDATE audit_entries SET organisation = :organisation WHERE seq = :seq")
    for start in range(0, len(named), _CHUNK):
        connection.execute(update, named[start : start + _CHUNK])


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("audit_entries", sa.Column("organisation", sa.String(length=200), nullable=False, server_default=""))
    if sqlite:
        op.execute("DROP TRIGGER audit_entries_no_update")
    else:
        op.execute("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_no_change")
    _fill(op.get_bind(), sqlite)
    if sqlite:
        op.execute(
            "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries "
            "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END"
        )
    else:
        op.execute("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_no_change")
    op.create_index("ix_audit_entries_organisation", "audit_entries", ["organisation"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_organisation", table_name="audit_entries")
    if op.get_bind().dialect.name == "sqlite":  # in place: a rebuilt table would lose the append-only triggers
        op.execute("ALTER TABLE audit_entries DROP COLUMN organisation")
    else:
        op.drop_column("audit_entries", "organisation")
