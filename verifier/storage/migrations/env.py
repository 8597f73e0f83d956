"""Alembic environment: runs on the connection hedui hands over (see verifier.storage.db)."""

from __future__ import annotations

from alembic import context

from audit.log import metadata as audit_metadata
from verifier.storage.models import Base

target_metadata = [Base.metadata, audit_metadata]

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("hedui runs its migrations itself, on start; use `hedui db migrate`")
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
