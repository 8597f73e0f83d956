"""On PostgreSQL the service's own role cannot change or remove audit records, triggers or not."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from harness import PostgresCluster, example_request, example_sandbox, running_service
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from verifier.cli import main
from verifier.storage.db import Database

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


async def test_service_role_may_insert_but_never_update_delete_or_truncate_the_log(postgres: PostgresCluster) -> None:
    owner_url = postgres.create_database()
    role = f"hedui_service_{uuid.uuid4().hex[:8]}"
    admin = Database(owner_url)
    async with admin.engine.begin() as connection:
        await connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    await admin.close()
    assert await asyncio.to_thread(main, ["db", "migrate", "--db", owner_url, "--service-role", role]) == 0

    service_url = owner_url.replace("postgres@", f"{role}@")
    async with running_service(service_url, example_sandbox()) as h:
        await h.run(example_request())
        head = await h.service.audit_queries.signed_tree_head()
        assert head.tree_size > 5
        db = h.service.db
        # Disabling the triggers is not enough for this role: it has no right to these statements at all.
        for statement in (
            "UPDATE audit_entries SET kind = 'X'",
            "DELETE FROM audit_entries",
            "TRUNCATE audit_entries",
            "UPDATE audit_leaves SET leaf_hash = leaf_hash",
            "DELETE FROM audit_tree_heads",
            "TRUNCATE audit_tree_heads",
            "DELETE FROM audit_refused",  # refused rows are evidence (issue 12)
            "UPDATE audit_refused SET seq = seq",
            "ALTER TABLE audit_entries DISABLE TRIGGER USER",
        ):
            with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
                async with db.engine.begin() as connection:
                    await connection.execute(text(statement))
        async with db.engine.connect() as connection:
            count = (await connection.execute(text("SELECT count(*) FROM audit_entries"))).scalar_one()
        assert count >= head.tree_size


def test_service_role_needs_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["db", "migrate", "--db", "sqlite:///x.db", "--service-role", "hedui"])
    assert exit_.value.code == 2
    assert "PostgreSQL only" in capsys.readouterr().err
