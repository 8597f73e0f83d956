"""The SQL statements of one verification (issue 11: at most 25, aim 15), counted exactly, not timed.

The example household (3 members) with the six instant sandbox departments, through the service's
operations (what the gRPC servicers call; the gRPC layer itself sends no SQL), from CreateVerification to the
stored report. The authorization was registered by this service just before, as a case system does. Background
loops (audit integration, claiming, lease renewal, the consent watch) are set far apart and their statements left
out; answers are coalesced for as long as it takes, so the six arrive in one storing transaction as they do when
departments answer together (pipeline/run.py COALESCE_SECONDS).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest
from harness import sandbox_service
from statements import Statement, StatementCounter

from verifier.config import Settings
from verifier.pipeline import run
from verifier.storage.db import Database

BACKGROUND = ("claim work", "renew work leases", "watch consent", "hedui-audit-integrator")

# Written by hand from the code path (operations/verifications.py → pipeline/run.py), in order.
CREATE = [
    # ONE write transaction decides and records the plan. A verification already created under this request_id (a
    # retried call)? And consent as it stands (share-locked on PostgreSQL: the queries leave on it at once; the
    # authorization itself is known from its registration): one statement, the look-up a scalar subquery.
    "SELECT consent_epoch",
    "INSERT verifications",  # PostgreSQL: with the six rows below, one statement (the verification a CTE)
    "INSERT department_results",  # six rows, one statement
    "INSERT audit_entries",  # VERIFICATION_CREATED, six CONSENT_DECISION, six DEPARTMENT_QUERY_SENT
    "INSERT audit_pending",
    "INSERT work_steps",  # six steps, leased to this process
]  # CreateVerification answers with the verification as committed: nothing is read back
SEND: list[str] = []  # they leave on the decision the commit just made
STORE = [
    # PostgreSQL: ONE statement share-locks the consent epoch (a revocation commits before or waits) and locks the
    # verification (FOR SHARE OF consent_epoch FOR UPDATE OF verifications). SQLite (its writers take turns, it has
    # no row locks) reads the epoch in the statement that finishes the steps (UPDATE … RETURNING key, (SELECT …)).
    "SELECT consent_epoch",  # PostgreSQL only
    "UPDATE work_steps",  # the six steps done, if still this process's
    "UPDATE department_results",  # six rows, one statement
    "UPDATE verifications",  # the next version and the state (PostgreSQL: with the report's row, below)
    "INSERT audit_entries",  # six DEPARTMENT_ANSWER_RECEIVED and REPORT_CREATED
    "INSERT audit_pending",
    "INSERT reports",
]


def expected(dialect: str) -> list[str]:
    """SQLite reads the storing transaction's consent epoch with the steps' end. On PostgreSQL an append is one
    statement, named by its main part: ``WITH appended AS (INSERT INTO audit_entries …) INSERT INTO audit_pending
    …``; so is a new verification with its result rows (``WITH new_verification AS (INSERT INTO verifications …)
    INSERT INTO department_results …``), and the report with the verification's next version (``WITH bumped AS
    (UPDATE verifications …) INSERT INTO reports …``: the version was read with the lock)."""
    statements = [*CREATE, *SEND, *STORE]
    if dialect == "sqlite":
        statements.remove("SELECT consent_epoch")  # the storing transaction's (CREATE's stays)
    if dialect == "postgresql":
        drop = ("INSERT audit_entries", "INSERT verifications", "UPDATE verifications")
        statements = [s for s in statements if s not in drop]
    return statements


async def test_one_verification_costs_the_statements_written_here(
    db_url: str, count_statements: Callable[[Database], StatementCounter], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "COALESCE_SECONDS", 60.0)
    far = 3600.0
    settings = Settings(
        database_url=db_url,
        audit_subject_key=b"k" * 32,
        audit_integrate_seconds=far,
        work_lease_seconds=far,
        work_claim_interval_seconds=far / 2,
    )
    async with sandbox_service(settings) as (service, request, name):
        dialect = service.db.dialect
        counter = count_statements(service.db)
        view = await service.verifications.create(request, [name], request_id="budget-1")
        signals = service.pipeline.signals
        async with asyncio.timeout(60):
            while not any(s.verb == "INSERT reports" for s in counter.statements):
                await signals.wait_past(view.verification_id, signals.version(view.verification_id), timeout=0.5)

    def ours(statement: Statement) -> bool:
        return statement.task not in BACKGROUND

    done = [s.verb for s in counter.statements if ours(s)]
    # Everything up to the stored report; closing the service adds its own (leases given back, integration).
    done = done[: done.index("INSERT reports") + 1]
    # Compared as counts: what is asserted is how many of each, not the order they interleave in.
    assert Counter(done) == Counter(expected(dialect)), "\n".join(done) + "\n" + counter.summary()
    assert len(done) <= 25
