"""verifier.pipeline.plan: who is asked what, decided from the authorizations alone."""

from __future__ import annotations

import datetime as dt
import json

from harness import example_request, registered_for

from verifier.pipeline.plan import NO_MEMBER_DETAIL, Job, plan_round, still_allowed
from verifier.request import parse_request
from verifier.vocabulary import DepartmentStatus

REQUEST = parse_request(example_request())
MEMBERS = tuple(m.id_number for m in REQUEST.members)
DEPARTMENTS = ["banks", "police", "tax"]
TODAY = dt.date.today()
AT = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
JOB = Job("v1", "worker", "peer", REQUEST, ("authorizations/a1",))


def test_everyone_consenting_gives_one_query_per_department_with_every_member() -> None:
    plan = plan_round(JOB, DEPARTMENTS, [registered_for(REQUEST)], today=TODAY, at=AT, complete=True)
    assert [(q.id_numbers, s.department, s.authorization) for q, s in plan.queries] == [
        (MEMBERS, d, "a1") for d in DEPARTMENTS
    ]
    assert all(q.purpose == "ASSESSMENT" for q, _ in plan.queries)
    assert len({q.query_id for q, _ in plan.queries}) == 3
    assert [e.kind for e, _ in plan.events] == ["CONSENT_DECISION", "DEPARTMENT_QUERY_SENT"] * 3
    assert [u["status"] for u in plan.updates] == [DepartmentStatus.QUERYING] * 3
    assert plan.settled == {} and plan.reasons == () and plan.complete


def test_a_department_the_authorization_does_not_cover_is_not_queried() -> None:
    plan = plan_round(JOB, DEPARTMENTS, [registered_for(REQUEST, departments=("tax",))], today=TODAY, at=AT)
    assert [s.department for _, s in plan.queries] == ["tax"]
    assert set(plan.settled) == {"banks", "police"}
    banks = plan.settled["banks"]
    assert (banks.status, banks.detail, banks.not_queried) == (DepartmentStatus.NOT_QUERIED, NO_MEMBER_DETAIL, MEMBERS)
    assert plan.refused == {"banks": MEMBERS, "police": MEMBERS, "tax": ()}
    failed = [(e.department, e.details["reason"]) for e, _ in plan.events if e.kind == "DEPARTMENT_QUERY_FAILED"]
    assert failed == [("banks", "no member may be queried"), ("police", "no member may be queried")]
    assert any("does not cover banks" in r for r in plan.reasons)
    assert not plan.complete


def test_a_member_who_did_not_sign_is_left_out_of_every_query() -> None:
    spouse = MEMBERS[1]
    signed = [m for m in MEMBERS if m != spouse]
    plan = plan_round(JOB, DEPARTMENTS, [registered_for(REQUEST, signers=signed)], today=TODAY, at=AT)
    assert all(q.id_numbers == tuple(signed) for q, _ in plan.queries)
    assert plan.refused == {d: (spouse,) for d in DEPARTMENTS}
    assert all(json.loads(str(u["not_queried_json"])) == [spouse] for u in plan.updates)
    decisions = [e.details for e, _ in plan.events if e.kind == "CONSENT_DECISION"]
    assert decisions[0]["allowed"] == 2 and decisions[0]["refused"] == 1


def test_a_revoked_authorization_lets_nobody_be_asked() -> None:
    plan = plan_round(JOB, DEPARTMENTS, [registered_for(REQUEST, revoked=True)], today=TODAY, at=AT)
    assert plan.queries == [] and set(plan.settled) == set(DEPARTMENTS)
    assert plan.reasons and all("revoked" in r for r in plan.reasons)


def test_consent_decided_again_names_who_was_withdrawn() -> None:
    assert still_allowed(JOB, "tax", MEMBERS, [registered_for(REQUEST)], TODAY) == (MEMBERS, ())
    assert still_allowed(JOB, "tax", MEMBERS, [registered_for(REQUEST, revoked=True)], TODAY) == ((), MEMBERS)
    assert still_allowed(JOB, "tax", MEMBERS, [], TODAY) == ((), MEMBERS)
    # After its last valid day an authorization covers nobody.
    later = TODAY + dt.timedelta(days=91)
    assert still_allowed(JOB, "tax", MEMBERS, [registered_for(REQUEST)], later) == ((), MEMBERS)


def test_new_rows_queue_every_department_and_carry_what_was_planned() -> None:
    plan = plan_round(JOB, ["tax"], [registered_for(REQUEST)], today=TODAY, at=AT)
    rows = plan.new_rows("v1", ["banks", "tax"], AT - dt.timedelta(seconds=1))
    assert [r["department"] for r in rows] == ["banks", "tax"]
    assert rows[0]["status"] == DepartmentStatus.QUEUED and rows[0]["updated_at"] == AT - dt.timedelta(seconds=1)
    assert rows[1]["status"] == DepartmentStatus.QUERYING and json.loads(str(rows[1]["queried_json"])) == list(MEMBERS)
    assert rows[1]["updated_at"] == AT and rows[1]["records_json"] == "[]"
