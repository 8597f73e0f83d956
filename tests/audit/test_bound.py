"""audit.bound: a stored report or answer against the digest its entry recorded (issue 12, item 4)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import insert

from audit import AuditEvent, AuditLog
from audit.bound import (
    ANSWERED,
    Recorded,
    StoredAnswer,
    answer_digest,
    answer_problem,
    canonical_digest,
    recorded_for,
    report_problem,
)
from audit.log import audit_entries
from audit.verify import _decoded
from verifier.report.build import report_digest
from verifier.storage.db import Database

REPORT = Path(__file__).parents[1] / "verifier" / "report" / "data" / "household-zhang.report.json"
AT = dt.datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ANSWER = StoredAnswer("v1", "tax", "ok", "", '[{"kind": "tax_income"}]', "[]", AT)


def test_the_canonical_digest_is_the_report_digest_the_service_records() -> None:
    body = json.loads(REPORT.read_text(encoding="utf-8"))
    assert canonical_digest(body) == report_digest(body)


def test_the_answer_digest_is_sha256_of_its_columns_as_canonical_json() -> None:
    by_hand = (
        '{"answered_at":"2026-12-01T01:30:00.123456+00:00","department":"tax","detail":"",'
        '"not_queried_json":"[]","records_json":"[{\\"kind\\": \\"tax_income\\"}]","status":"ok","verification":"v1"}'
    )
    assert answer_digest(ANSWER) == hashlib.sha256(by_hand.encode()).hexdigest()


def created(report_id: str, **details: object) -> Recorded:
    return Recorded("REPORT_CREATED", "", {"report_id": report_id, "version": 1} | details)


def test_a_report_is_what_its_entry_recorded_or_is_named() -> None:
    digest = "ab" * 32
    assert report_problem("r1", digest, [created("r0"), created("r1", report_sha256=digest)]) is None
    assert report_problem("r1", digest, [created("r0", report_sha256=digest)]) == (
        "no REPORT_CREATED entry of the log records it"
    )
    assert "is not the" in str(report_problem("r1", "cd" * 32, [created("r1", report_sha256=digest)]))
    # A report of a database from before reports were bound (no digest recorded): refused, said so.
    assert "records no digest" in str(report_problem("r1", digest, [created("r1")]))


def test_an_answer_is_what_its_newest_outcome_entry_recorded() -> None:
    received = Recorded(ANSWERED, "tax", {"answer_sha256": answer_digest(ANSWER)})
    assert answer_problem(ANSWER, received) is None
    edited = StoredAnswer("v1", "tax", "ok", "", "[]", "[]", AT)
    assert "(edited)" in str(answer_problem(edited, received))
    assert "stored as 'unavailable'" in str(
        answer_problem(StoredAnswer("v1", "tax", "unavailable", "", "[]", "[]", None), received)
    )
    failed = Recorded("DEPARTMENT_QUERY_FAILED", "tax", {"reason": "down"})
    assert "no DEPARTMENT_ANSWER_RECEIVED" in str(answer_problem(ANSWER, failed))
    assert "no DEPARTMENT_ANSWER_RECEIVED" in str(answer_problem(ANSWER, None))
    assert answer_problem(StoredAnswer("v1", "tax", "querying", "", "[]", "[]", None), None) is None


def test_an_answer_recorded_before_answer_sha256_is_checked_by_its_records_digest() -> None:
    legacy = Recorded(
        ANSWERED, "tax", {"records": 1, "sha256": hashlib.sha256(ANSWER.records_json.encode()).hexdigest()}
    )
    assert answer_problem(ANSWER, legacy) is None
    assert "its records differ" in str(answer_problem(StoredAnswer("v1", "tax", "ok", "", "[]", "[]", AT), legacy))


async def test_only_entries_hedui_appended_are_taken(db: Database) -> None:
    log = AuditLog(b"k" * 32)
    genuine = AuditEvent(kind="REPORT_CREATED", verification="v1", details={"report_id": "r1", "report_sha256": "a"})
    async with db.write() as session:
        await log.append(session, genuine)
        forged = json.dumps(
            {"kind": "REPORT_CREATED", "verification": "v1", "details": {"report_id": "r1", "report_sha256": "b"}}
        ).encode()
        for mac in (b"\0" * 32, None):  # a wrong MAC; no MAC and no leaf (as if written before MACs)
            await session.execute(
                insert(audit_entries).values(
                    recorded_at=dt.datetime.now(dt.UTC),
                    kind="REPORT_CREATED",
                    operator="",
                    client="",
                    verification="v1",
                    authorization="",
                    department="",
                    subjects="[]",
                    entry=forged,
                    mac=mac,
                )
            )
    async with db.sessions() as session:
        found = await recorded_for(session, log.entry_mac, "v1", ("REPORT_CREATED",))
        other_key = await recorded_for(session, AuditLog(b"o" * 32).entry_mac, "v1", ("REPORT_CREATED",))
    assert [r.details["report_sha256"] for r in found] == ["a"]
    assert other_key == []


@pytest.mark.parametrize(
    ("entry", "canonical"),
    [
        (b'{"a":"\xe4\xb8\xad","b":[1,true,null]}', True),  # no escape: orjson's path
        (b'{"a":"line\\nbreak \\"q\\" \\\\","b":"\\u0001"}', True),  # escapes: json's path, as json writes them
        (b'{"a":"\\u4e2d"}', False),  # json writes the character itself
        (b'{"b":1,"a":2}', False),  # keys out of order
        (b'{"a": 1}', False),  # a space
        (b'{"a":1.0}', True),  # canonical; a float is refused by entry_problem, not here
        (b"[1]", False),  # not an object
        (b'{"a":NaN}', True),  # json's encoding of NaN (orjson refuses it): refused by entry_problem later
    ],
)
def test_the_canonical_check_is_json_s_encoding_on_either_path(entry: bytes, canonical: bool) -> None:
    body = _decoded(entry)
    assert (body is not None) == canonical
    if canonical:
        assert json.dumps(body) == json.dumps(json.loads(entry))
