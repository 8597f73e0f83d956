"""Durable work (issue 11): a ``hedui serve`` process SIGKILLed with department queries on the wire loses nothing,
asks no department twice and reports nothing twice.

Every process is real: ``hedui serve`` replicas on one database (a throw-away PostgreSQL database, or SQLite),
the six departments as ``hedui connector serve`` processes over pinned TLS, slowed so that queries are on the
wire when the kill comes, each writing a query log of the identity numbers it actually looked up
(tests/support/replicas.py). Each verification is of its own household, so every identity number is asked
about by one verification only: each (department, member) must be looked up exactly once, under the key
``{verification_id}.{department}.1``.

What each drill asserts, after the kill and the wait (tests/support/replicas.py, ``Findings``):

- 0 lost: every verification COMPLETED with a report on the process left (or restarted), every department ok
  with the records the departments hold for its household (the example household's, moved to its own
  identity numbers: police 3, housing 1, tax 2, vehicles 1, banks 1, social security 1);
- 0 duplicate queries: no (key, subject) twice in any department's query log, none missing, none under
  another key; exactly one ``DEPARTMENT_QUERY_SENT`` per key in the audit log;
- 0 duplicate reports: exactly one ``REPORT_CREATED`` per verification, version 1 (and one stored report);
- ``hedui audit verify`` exits 0.

The waits poll the database with generous deadlines: 90 s for the rest to finish after the kill, given up
earlier only when none has finished for 45 s (15 leases); a leased step outlives its dead holder by
``work_lease_seconds`` (3 s here), so a passing drill takes seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import PostgresCluster
from replicas import CrashDrill, DepartmentServer, Findings, department_servers

pytestmark = pytest.mark.integration

DELAY_SECONDS = 1.0  # every department's answer: long enough that queries are on the wire at the kill
LEASES: dict[str, object] = {"work_lease_seconds": 3.0, "work_claim_interval_seconds": 0.2}
HOUSEHOLDS = 500  # the drills' 200 + 200 + 50 + 50, each with the example household's records
WAIT_SECONDS = 90.0  # for every verification to complete after the kill: generous, only a failure waits it out


@pytest.fixture(scope="module")
def departments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DepartmentServer]]:
    """The six departments, shared by the drills of this module (each drill's households are its own)."""
    directory = tmp_path_factory.mktemp("departments")
    with department_servers(directory, delay_seconds=DELAY_SECONDS, households=HOUSEHOLDS) as servers:
        yield servers


def assert_nothing_lost_or_asked_twice(findings: Findings) -> None:
    """Fail with the drill's counts and its problems (lost, duplicate queries by key, duplicate reports)."""
    print(findings.summary())
    if findings.problems():
        pytest.fail(findings.summary(), pytrace=False)


def sqlite_url(directory: Path) -> str:
    """A new SQLite database file in ``directory``."""
    return f"sqlite:///{directory / 'hedui.db'}"


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_replica_killed_for_good_loses_nothing_and_no_department_is_asked_twice(
    postgres: PostgresCluster, departments: dict[str, DepartmentServer], tmp_path: Path
) -> None:
    """Issue 11: two replicas on PostgreSQL, 200 verifications, one SIGKILLed and never restarted."""
    async with CrashDrill(tmp_path, postgres.create_database(), departments, LEASES) as drill:
        doomed = await drill.start("doomed")
        survivor = await drill.start("survivor")
        await drill.submit(200, via=[doomed, survivor])
        await drill.kill_when_in_flight(doomed)
        await drill.wait_until_done(WAIT_SECONDS)
        findings = await drill.findings(survivor)
    assert_nothing_lost_or_asked_twice(findings)


@pytest.mark.slow
async def test_a_single_sqlite_process_killed_and_restarted_loses_nothing_and_asks_nothing_twice(
    departments: dict[str, DepartmentServer], tmp_path: Path
) -> None:
    """Issue 11: one process on SQLite, 200 verifications, SIGKILLed and started again on the same database."""
    async with CrashDrill(tmp_path, sqlite_url(tmp_path), departments, LEASES) as drill:
        first = await drill.start("first")
        await drill.submit(200, via=[first])
        await drill.kill_when_in_flight(first)
        restarted = await drill.start("restarted")
        await drill.wait_until_done(WAIT_SECONDS)
        findings = await drill.findings(restarted)
    assert_nothing_lost_or_asked_twice(findings)


async def test_fifty_in_flight_through_a_kill_and_a_restart_none_lost_asked_twice_or_reported_twice(
    db_url: str, departments: dict[str, DepartmentServer], tmp_path: Path
) -> None:
    """Issue 11: 50 verifications in flight, the server SIGKILLed and restarted, on SQLite and PostgreSQL."""
    async with CrashDrill(tmp_path, db_url, departments, LEASES) as drill:
        first = await drill.start("first")
        await drill.submit(50, via=[first])
        await drill.kill_when_in_flight(first)
        restarted = await drill.start("restarted")
        await drill.wait_until_done(WAIT_SECONDS)
        findings = await drill.findings(restarted)
    assert_nothing_lost_or_asked_twice(findings)
