"""A caller's readable organisations as a query's condition (verifier/storage/areas.py, issue 13): the database
picks the same organisations as :func:`verifier.organisations.covers`, on both databases, so a page and its token
never name a row the caller may not read."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from audit import AuditEvent, AuditLog
from audit.log import audit_entries
from verifier.operations import Caller
from verifier.operations.audit_queries import entries_within, sees_entry
from verifier.organisations import Role, covers
from verifier.storage.areas import readable
from verifier.storage.db import Database
from verifier.storage.models import VerificationRow

ORGANISATIONS = [
    "533401-civil-affairs",
    "533401",
    "533402-civil-affairs",
    "533501-civil-affairs",
    "520101-civil-affairs",
    "civil-affairs",
    "5334011-x",  # seven digits: no code
    "5334ab-x",  # letters: no code
    "533401x",  # no '-' after the code: no code
    "53%401-x",  # LIKE's wildcard in an id is only a character
]
SUPERVISORS = ["533401-supervision", "533400-supervision", "530000-supervision", "000000-ministry", "civil-affairs"]


async def test_the_database_reads_what_covers_reads(db: Database) -> None:
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    async with db.write() as session:
        await session.execute(
            insert(VerificationRow),
            [
                {
                    "id": f"v{i}",
                    "request_json": "{}",
                    "authorizations_json": "[]",
                    "commissioned_by": organisation,
                    "state": "RUNNING",
                    "operator": "o",
                    "client": "c",
                    "created_at": at,
                    "updated_at": at,
                }
                for i, organisation in enumerate(ORGANISATIONS)
            ],
        )
    for supervisor in SUPERVISORS:
        for roles in ({Role.SUPERVISOR}, {Role.CASE_SYSTEM}):
            scope = Caller(organisation=supervisor, roles=frozenset(roles)).scope
            assert scope is not None
            async with db.sessions() as session:
                picked = set(
                    await session.scalars(
                        select(VerificationRow.commissioned_by).where(readable(VerificationRow.commissioned_by, scope))
                    )
                )
            if Role.SUPERVISOR in roles:
                expected = {o for o in ORGANISATIONS if covers(supervisor, o)}
            else:
                expected = {o for o in ORGANISATIONS if o == supervisor}
            assert picked == expected, (supervisor, roles)
    # By hand: a prefecture's supervisor reads its counties, nothing that only looks like one.
    prefecture = Caller(organisation="533400-supervision", roles=frozenset({Role.SUPERVISOR})).scope
    assert prefecture is not None
    assert {o for o in ORGANISATIONS if prefecture.reads(o)} == {
        "533401-civil-affairs",
        "533401",
        "533402-civil-affairs",
    }


AUDIT_ORGANISATIONS = [*ORGANISATIONS, "539901-x", "540001-x", "990101-x", "999999", ""]
AUDIT_SUPERVISORS = [*SUPERVISORS, "539900-supervision", "990000-supervision", "999999"]


async def test_the_audit_log_reads_what_sees_entry_reads(db: Database) -> None:
    # Review S1: the entries' organisation column filtered by the area (a range the index answers, then the exact
    # test) picks what the Python rule picks, on both databases; nines at the end of a prefix have no next prefix.
    log = AuditLog(b"k" * 32)
    async with db.write() as session:
        for organisation in AUDIT_ORGANISATIONS:
            client = f"c@{organisation}" if organisation else "unknown sha256:00"
            await log.append(session, AuditEvent(kind="CALL_REFUSED", client=client))
    for supervisor in AUDIT_SUPERVISORS:
        scope = Caller(organisation=supervisor, roles=frozenset({Role.SUPERVISOR})).scope
        condition = entries_within(scope)
        query = select(audit_entries.c.organisation)
        async with db.sessions() as session:
            picked = set(await session.scalars(query if condition is None else query.where(condition)))
        assert picked == {o for o in AUDIT_ORGANISATIONS if sees_entry(scope, o)}, supervisor
    # By hand: the country reads every entry, those of no organisation too; a province its own codes only.
    national = Caller(organisation="000000-ministry", roles=frozenset({Role.SUPERVISOR})).scope
    assert {o for o in AUDIT_ORGANISATIONS if sees_entry(national, o)} == set(AUDIT_ORGANISATIONS)
    province = Caller(organisation="990000-supervision", roles=frozenset({Role.SUPERVISOR})).scope
    assert {o for o in AUDIT_ORGANISATIONS if sees_entry(province, o)} == {"990101-x", "999999"}
    county = Caller(organisation="999999", roles=frozenset({Role.SUPERVISOR})).scope
    assert {o for o in AUDIT_ORGANISATIONS if sees_entry(county, o)} == {"999999"}
