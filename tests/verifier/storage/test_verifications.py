"""verifier.storage.verifications (verifications and their departments' results) against SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from verifier.storage import verifications as stored
from verifier.storage import work
from verifier.storage.authorizations import bump_consent_epoch
from verifier.storage.db import Database
from verifier.storage.models import WorkStepRow
from verifier.vocabulary import DepartmentStatus, StepPhase, VerificationState

AT = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def values(
    verification_id: str, *, request_id: str | None = None, minutes: int = 0, org: str = "org-a"
) -> dict[str, object]:
    at = AT + dt.timedelta(minutes=minutes)
    return {
        "id": verification_id,
        "request_id": request_id,
        "request_json": "{}",
        "authorizations_json": '["authorizations/a1"]',
        "commissioned_by": org,
        "state": VerificationState.RUNNING,
        "operator": "worker",
        "client": "peer",
        "created_at": at,
        "updated_at": at,
        "latest_report_version": 0,
    }


def result(verification_id: str, department: str, status: str = DepartmentStatus.QUEUED) -> dict[str, object]:
    return {
        "verification_id": verification_id,
        "department": department,
        "status": status,
        "detail": "",
        "records_json": "[]",
        "record_count": 0,
        "queried_json": '["M1"]',
        "not_queried_json": "[]",
        "updated_at": AT,
    }


async def test_a_snapshot_is_the_state_and_every_departments_progress(db: Database) -> None:
    async with db.write() as session:
        await stored.add(session, values("v1"), [result("v1", "tax"), result("v1", "banks")])
    async with db.sessions() as session:
        rows = await stored.snapshot(session, "v1")
        assert await stored.snapshot(session, "v2") == []
    assert [r.department for r in rows] == ["banks", "tax"]
    assert {(r.id, r.state, r.status, r.operator) for r in rows} == {("v1", "RUNNING", "queued", "worker")}


async def test_a_verification_without_results_still_has_a_snapshot(db: Database) -> None:
    async with db.write() as session:
        await stored.add(session, values("v1"), [])
    async with db.sessions() as session:
        rows = await stored.snapshot(session, "v1")
    assert len(rows) == 1 and rows[0].department is None


async def test_one_request_id_is_one_verification(db: Database) -> None:
    async with db.write() as session:
        await stored.add(session, values("v1", request_id="r-1"), [])
    for results in ([], [result("v2", "tax"), result("v2", "banks")]):  # on PostgreSQL the latter is one statement
        with pytest.raises(IntegrityError):
            async with db.write() as session:
                await stored.add(session, values("v2", request_id="r-1"), results)
    async with db.sessions() as session:
        assert await stored.id_for_request(session, "org-a", "r-1") == "v1"
        assert await stored.snapshot(session, "v2") == []  # nothing of the refused one is left
        assert await stored.id_for_request(session, "org-a", "r-2") is None


async def test_a_request_id_is_its_organisations_own(db: Database) -> None:
    # Issue 13: another organisation's key neither finds nor blocks this one's.
    async with db.write() as session:
        await stored.add(session, values("v1", request_id="r-1", org="org-a"), [])
        await stored.add(session, values("v2", request_id="r-1", org="org-b"), [])
    async with db.sessions() as session:
        assert await stored.id_for_request(session, "org-a", "r-1") == "v1"
        assert await stored.id_for_request(session, "org-b", "r-1") == "v2"
        assert await stored.id_for_request(session, "org-c", "r-1") is None


async def test_pages_are_newest_first_per_organisation_and_after_the_last_seen(db: Database) -> None:
    async with db.write() as session:
        for i, org in enumerate(("org-a", "org-b", "org-a", "org-a")):
            await stored.add(session, values(f"v{i}", minutes=i, org=org), [])
    async with db.sessions() as session:
        everything = await stored.page(session, limit=10)
        assert [r.id for r in everything] == ["v3", "v2", "v1", "v0"]
        mine = await stored.page(session, limit=2, commissioned_by="org-a")
        assert [r.id for r in mine] == ["v3", "v2"]
        rest = await stored.page(session, limit=2, commissioned_by="org-a", before=(mine[-1].created_at, mine[-1].id))
        assert [r.id for r in rest] == ["v0"]


async def test_work_left_unfinished_is_found_again(db: Database) -> None:
    # Rows an earlier version left: v1's tax asked (querying), v1's bank pending on a ticket, v2's bank pending
    # without one (nothing to poll), v2's police answered.
    async with db.write() as session:
        asked = result("v1", "tax") | {"status": DepartmentStatus.QUERYING}
        await stored.add(session, values("v1"), [asked, result("v1", "banks", DepartmentStatus.PENDING)])
        done = values("v2") | {"state": VerificationState.COMPLETED}
        answered = result("v2", "police") | {"status": DepartmentStatus.OK}
        await stored.add(session, done, [result("v2", "banks", DepartmentStatus.PENDING), answered])
        await stored.update_results(
            session,
            [{"verification_id": "v1", "department": "banks", "ticket_id": "t-1", "ticket_ready_after": AT}],
        )
        assert await work.adopt(session) == 2
        assert await work.adopt(session) == 0  # once only
    async with db.sessions() as session:
        steps = {s.key: s.phase for s in await session.scalars(select(WorkStepRow))}
    assert steps == {"v1.tax.1": StepPhase.SEND, "v1.banks.1": StepPhase.POLL}


async def test_a_ticket_is_renewed_only_while_the_answer_is_pending(db: Database) -> None:
    later = AT + dt.timedelta(hours=1)
    async with db.write() as session:
        await stored.add(session, values("v1"), [result("v1", "banks", DepartmentStatus.PENDING), result("v1", "tax")])
        await stored.renew_ticket(session, "v1", "banks", "t-2", later)
        await stored.renew_ticket(session, "v1", "tax", "t-3", later)
    async with db.sessions() as session:
        banks = await stored.result(session, "v1", "banks")
        tax = await stored.result(session, "v1", "tax")
        assert await stored.result(session, "v1", "police") is None
    assert banks is not None and (banks.ticket_id, banks.ticket_ready_after) == ("t-2", later)
    assert tax is not None and tax.ticket_id is None


async def test_report_versions_count_up_and_set_the_state(db: Database) -> None:
    async with db.write() as session:
        await stored.add(session, values("v1"), [result("v1", "tax", DepartmentStatus.OK)])
    for expected, state in ((1, VerificationState.AWAITING_ANSWERS), (2, VerificationState.COMPLETED)):
        async with db.write() as session:
            await stored.lock(session, "v1")
            rows = await stored.results_for_report(session, "v1")
            assert [(r.department, r.status) for r in rows] == [("tax", "ok")]
            assert await stored.next_report_version(session, "v1", state, AT) == expected
        async with db.sessions() as session:
            row = await stored.get(session, "v1")
        assert row is not None and (row.latest_report_version, row.state) == (expected, state)
    with pytest.raises(LookupError):
        async with db.write() as session:
            await stored.next_report_version(session, "nope", VerificationState.COMPLETED, AT)


async def test_one_statement_locks_the_verification_and_share_locks_the_consent_epoch(db: Database) -> None:
    """PostgreSQL: while the storing transaction holds them, neither a revocation's bump of the epoch nor another
    storer's lock of the verification can go ahead; a reader of the epoch can. SQLite locks nothing (None)."""
    async with db.write() as session:
        await stored.add(session, values("v1"), [])
    async with db.write() as session:
        epoch = await stored.lock_with_consent_epoch(session, "v1")
        if db.dialect == "sqlite":
            assert epoch is None
            return
        assert epoch == 0  # no revocation yet (the migration's row)
        assert await stored.lock_with_consent_epoch(session, "nobody") is None  # no such verification: not locked
        async with db.write() as other:
            await other.execute(text("SET LOCAL lock_timeout = '200ms'"))
            assert await other.scalar(text("SELECT value FROM consent_epoch WHERE id = 1 FOR SHARE")) == 0
        for blocked in (
            "UPDATE consent_epoch SET value = value + 1 WHERE id = 1",
            "SELECT id FROM verifications WHERE id = 'v1' FOR UPDATE",
        ):
            async with db.write() as other:
                await other.execute(text("SET LOCAL lock_timeout = '200ms'"))
                with pytest.raises(DBAPIError, match="lock timeout"):
                    await other.execute(text(blocked))


async def test_a_retried_calls_look_up_and_the_consent_epoch_are_one_read(db: Database) -> None:
    """The verification an organisation created under a request_id, with the consent epoch as it stands."""
    async with db.write() as session:
        await stored.add(session, values("v1", request_id="r1"), [])
    async with db.reading() as session:
        assert await stored.id_for_request_and_consent_epoch(session, "org-a", "r1") == ("v1", 0)
        assert await stored.id_for_request_and_consent_epoch(session, "org-b", "r1") == (None, 0)  # another's key
        assert await stored.id_for_request_and_consent_epoch(session, "org-a", "r2") == (None, 0)
    async with db.write() as session:
        await bump_consent_epoch(session)
        await bump_consent_epoch(session)
    async with db.reading() as session:
        assert await stored.id_for_request_and_consent_epoch(session, "org-a", "r1") == ("v1", 2)
