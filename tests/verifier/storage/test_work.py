"""Locks on work_steps: the heartbeat never waits for a step being finished (SKIP LOCKED), so it cannot
deadlock with a storing transaction; a deadlock or serialization failure elsewhere is DATABASE_BUSY.

Found in review: ``work.renew`` and ``work.finish`` lock a worker's step rows in different orders.

``renew`` (the heartbeat) updates every live step of the worker in one statement, in the order the scan meets
them; ``finish`` (in the storing transaction) updates the batch's steps one statement per (phase, due) group,
in the order of the batch — a batch with a pending answer and a done one is two statements. A heartbeat that
runs between them deadlocks with the storing transaction on PostgreSQL (one of the two is aborted with
SQLSTATE 40P01). When the storer is the one aborted, nothing takes its steps up (see
tests/verifier/pipeline/test_review_stuck.py: the heartbeat keeps renewing them); 40P01 is not a
DATABASE_BUSY failure either (verifier/errors.py), so an RPC that meets it answers UNKNOWN.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from harness import PostgresCluster, example_request, seed_verification
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from verifier.errors import database_failure
from verifier.pipeline.plan import Job
from verifier.request import parse_request
from verifier.storage import work
from verifier.storage.authorizations import bump_consent_epoch
from verifier.storage.db import Database
from verifier.vocabulary import StepPhase

REQUEST = parse_request(example_request())
MEMBERS = [m.id_number for m in REQUEST.members]
JOB = Job("v1", "worker", "peer", REQUEST, ("authorizations/a1",))
ASKING = {"status": "querying", "queried_json": json.dumps(MEMBERS)}


@pytest.mark.postgres
async def test_the_heartbeat_does_not_deadlock_with_a_storing_transaction(postgres: PostgresCluster) -> None:
    # PostgreSQL only: SQLite has one writer at a time, no row locks to deadlock on.
    db = Database(postgres.create_database())
    await db.migrate()
    try:
        await _heartbeat_beside_a_storer(db)
    finally:
        await db.close()


async def _heartbeat_beside_a_storer(db: Database) -> None:
    """A storing transaction finishes two steps in two statements while the heartbeat renews both."""
    await seed_verification(db, JOB, {"tax": ASKING, "banks": ASKING}, leased_to="me")
    async with db.sessions() as session:
        physical = [r.key for r in await session.execute(text("SELECT key FROM work_steps ORDER BY ctid"))]
    first_met, second_met = physical  # the heartbeat's scan meets first_met first
    now = dt.datetime.now(dt.UTC)
    errors: list[BaseException] = []

    async def heartbeat() -> None:
        try:
            async with db.write() as session:
                await work.renew(session, "me", now + dt.timedelta(seconds=30), physical)
        except DBAPIError as exc:
            errors.append(RuntimeError(f"heartbeat aborted: {exc.orig}"))

    try:
        async with db.write() as session:
            # One batch of the storing transaction: second_met's answer is done, first_met's pending on a ticket.
            await work.finish(session, "me", [work.Finish(second_met, StepPhase.DONE, now)])
            beating = asyncio.ensure_future(heartbeat())
            await asyncio.sleep(0.5)  # the heartbeat now holds first_met and waits for second_met
            due = now + dt.timedelta(seconds=5)
            await work.finish(session, "me", [work.Finish(first_met, StepPhase.POLL, due)])
    except DBAPIError as exc:
        errors.append(RuntimeError(f"storing transaction aborted: {exc.orig}"))
    await beating
    assert errors == [], f"deadlock between the heartbeat and a storing transaction: {[str(e)[:60] for e in errors]}"


def test_a_deadlock_is_refused_as_a_retryable_failure_not_unknown() -> None:
    """PostgreSQL aborts one transaction of a deadlock (40P01) or a serialisation failure (40001); the call
    can be retried as it is, like a pool timeout, and must not be answered UNKNOWN."""

    class DeadlockDetected(Exception):
        sqlstate = "40P01"

    error = DBAPIError("UPDATE work_steps SET ...", {}, DeadlockDetected("deadlock detected"))
    refused = database_failure(error)
    assert refused is not None, "a deadlock is answered UNKNOWN (no refusal)"
    assert "work_steps" not in refused.message


async def test_a_step_is_claimed_once_and_again_only_after_its_lease_lapsed(db: Database) -> None:
    await seed_verification(db, JOB, {"tax": ASKING})  # one send step, due, held by nobody
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(seconds=30)
    async with db.write() as session:
        assert await work.anything_due(session, now)
        first = await work.claim(session, "a", now=now, until=later, limit=10)
    assert [(c.key, c.phase) for c in first] == [("v1.tax.1", StepPhase.SEND)]
    async with db.write() as session:
        assert not await work.anything_due(session, now)
        assert await work.claim(session, "b", now=now, until=later, limit=10) == []  # a holds it
    after_lapse = later + dt.timedelta(seconds=1)
    async with db.write() as session:
        taken = await work.claim(session, "b", now=after_lapse, until=after_lapse + dt.timedelta(seconds=30), limit=10)
    assert [c.key for c in taken] == ["v1.tax.1"]
    # a, paused past its lease, cannot finish what b now holds; b can
    async with db.write() as session:
        assert await work.finish(session, "a", [work.Finish("v1.tax.1", StepPhase.DONE, now)]) == set()
        assert await work.finish(session, "b", [work.Finish("v1.tax.1", StepPhase.DONE, now)]) == {"v1.tax.1"}
        assert await work.open_sends(session, "v1") == 0


async def test_finishing_done_steps_reads_the_consent_epoch_in_the_same_statement(db: Database) -> None:
    await seed_verification(db, JOB, {"tax": ASKING, "police": ASKING})  # two send steps, due, held by nobody
    now = dt.datetime.now(dt.UTC)
    async with db.write() as session:
        claimed = await work.claim(session, "a", now=now, until=now + dt.timedelta(seconds=30), limit=10)
        await bump_consent_epoch(session)
        await bump_consent_epoch(session)
    assert sorted(c.key for c in claimed) == ["v1.police.1", "v1.tax.1"]
    async with db.write() as session:
        # Another worker's steps: nothing is finished, and no row carries the epoch back.
        assert await work.finish_done_with_consent_epoch(session, "b", ["v1.tax.1"], now) == (set(), None)
        assert await work.finish_done_with_consent_epoch(session, "a", [], now) == (set(), None)
        mine = await work.finish_done_with_consent_epoch(session, "a", ["v1.tax.1", "v1.police.1", "v1.x.1"], now)
        assert mine == ({"v1.tax.1", "v1.police.1"}, 2)  # two revocations counted
        assert await work.open_sends(session, "v1") == 0
        # Done already: finishing again finds nothing held.
        assert await work.finish_done_with_consent_epoch(session, "a", ["v1.tax.1"], now) == (set(), None)


async def test_released_steps_are_due_for_anyone_and_adopting_twice_adds_nothing(db: Database) -> None:
    await seed_verification(db, JOB, {"tax": ASKING, "police": ASKING}, leased_to="me")
    now = dt.datetime.now(dt.UTC)
    async with db.write() as session:
        assert await work.adopt(session) == 0  # the seeded steps exist already
        assert await work.open_sends(session, "v1") == 2
        assert await work.claim(session, "other", now=now, until=now, limit=10) == []
        await work.release(session, "me", ["v1.tax.1"])
        claimed = await work.claim(session, "other", now=now, until=now + dt.timedelta(seconds=9), limit=10)
    assert [c.key for c in claimed] == ["v1.tax.1"]
