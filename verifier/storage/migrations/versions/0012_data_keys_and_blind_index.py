"""data keys and the blind index: personal data sealed at rest (issue 17, docs/sealing.md)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

- data_keys: the data keys that seal cells (AES-256-GCM or SM4-GCM), each wrapped under a master key of the key
  provider; ``wrapped`` is NULL once retention destroyed the key (its cells are crypto-shredded).
- authorization_subjects: the blind index (a keyed hash of each member's identity number) that replaces
  authorization_members for look-ups by identity number; authorization_members stays until a later migration
  drops it (rows written before this revision are sealed and indexed by ``hedui db seal``).
- authorizations.certificate_keyids: the key ids that signed an authorization's member-key certificates, in
  plain text, since certificates_json is sealed (the key-revocation count searched certificates_json).
  Filled here from the existing (plain) certificates.

A migration has no keys, so it seals nothing itself.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _keyids(certificates_json: str) -> str:
    """The signers' key ids of a list of DSSE JSON envelopes, as a JSON list (``[]`` when it does not parse)."""
    try:
        envelopes = json.loads(certificates_json)
    except ValueError:
        return "[]"
    found: list[str] = []
    for envelope in envelopes if isinstance(envelopes, list) else []:
        signatures = envelope.get("signatures") if isinstance(envelope, dict) else None
        for signature in signatures if isinstance(signatures, list) else []:
            keyid = signature.get("keyid") if isinstance(signature, dict) else None
            if isinstance(keyid, str) and keyid not in found:
                found.append(keyid)
    return json.dumps(found)


def _fill_keyids(connection: Any) -> None:
    """Every existing authorization's certificate key ids."""
    rows = connection.execute(sa.text("SELECT id, certificates_json FROM authorizations")).all()
    update = sa.text("UPDATE authorizations SET certificate_keyids = :keyids WHERE id = :id")
    changed = [{"id": i, "keyids": k} for i, c in rows if (k := _keyids(c or "[]")) != "[]"]
    if changed:
        connection.execute(update, changed)


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.String(length=16), primary_key=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("suite", sa.String(length=16), nullable=False),
        sa.Column("kek_id", sa.String(length=200), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("purpose", "period", "generation", name="uq_data_keys_purpose_period"),
    )
    op.create_table(
        "authorization_subjects",
        sa.Column("authorization_id", sa.String(length=64), sa.ForeignKey("authorizations.id"), primary_key=True),
        sa.Column("id_index", sa.String(length=64), primary_key=True),
    )
    op.create_index("ix_authorization_subjects_id_index", "authorization_subjects", ["id_index"])
    op.add_column("authorizations", sa.Column("certificate_keyids", sa.Text(), nullable=False, server_default="[]"))
    _fill_keyids(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE authorizations DROP COLUMN certificate_keyids")
    else:
        op.drop_column("authorizations", "certificate_keyids")
    op.drop_index("ix_authorization_subjects_id_index", table_name="authorization_subjects")
    op.drop_table("authorization_subjects")
    op.drop_table("data_keys")
