"""Consent decisions: consent/decision.py."""

from __future__ import annotations

import dataclasses
import datetime as dt

from consent.authorization import AuthorizationPayload, AuthorizedMember, RegisteredAuthorization
from consent.decision import ConsentDecision, Refusal, decide
from consent.signers import Signer

ORG = "533401-civil-affairs"
ON = dt.date(2026, 11, 1)
ZHANG = "533401197803120118"
LI = "53340119800605022X"
MING = "533401200809110310"
ALL = ("police", "housing", "tax", "vehicles", "banks", "social_security")


def authorization(
    authorization_id: str = "a1",
    *,
    members: tuple[str, ...] = (ZHANG, LI),
    commissioned_by: str = ORG,
    departments: tuple[str, ...] = ("*",),
    valid_from: dt.date = dt.date(2026, 10, 1),
    valid_until: dt.date = dt.date(2026, 12, 31),
    revoked_at: dt.datetime | None = None,
    signers: tuple[Signer, ...] = (Signer("k1", "organisation", ORG),),
    signature_problem: str | None = None,
) -> RegisteredAuthorization:
    payload = AuthorizationPayload(
        commissioned_by=commissioned_by,
        purpose="ASSESSMENT",
        members=tuple(AuthorizedMember(m, f"member {m[-4:]}") for m in members),
        departments=departments,
        valid_from=valid_from,
        valid_until=valid_until,
        evidence={},
    )
    return RegisteredAuthorization(
        authorization_id=authorization_id,
        payload=payload,
        signed_by=("k1",),
        registered_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        revoked_at=revoked_at,
        revoke_reason="withdrawn by the applicant" if revoked_at else None,
        signers=signers,
        signature_problem=signature_problem,
    )


def only_refusal(decision: ConsentDecision) -> Refusal:
    assert len(decision.refused) == 1, decision.refused
    return decision.refused[0]


def test_covered_member_is_allowed_with_the_authorization_id() -> None:
    decision = decide([ZHANG, LI], ALL, [authorization("auth-7")], ORG, ON)
    assert decision.refused == ()
    for department in ALL:
        assert decision.allowed[department] == {ZHANG: "auth-7", LI: "auth-7"}
        assert decision.members_for(department) == (ZHANG, LI)
        assert decision.authorizations_for(department) == ("auth-7",)


def test_member_not_in_any_authorization_is_refused() -> None:
    decision = decide([ZHANG, MING], ["tax"], [authorization("a1")], ORG, ON)
    assert decision.allowed == {"tax": {ZHANG: "a1"}}
    refusal = only_refusal(decision)
    assert (refusal.id_number, refusal.department) == (MING, "tax")
    assert refusal.reason == "no authorization signed by this member"


def test_no_authorization_at_all_refuses_everyone_everywhere() -> None:
    decision = decide([ZHANG, LI], ["police", "banks"], [], ORG, ON)
    assert decision.allowed == {"police": {}, "banks": {}}
    assert {(r.id_number, r.department) for r in decision.refused} == {
        (ZHANG, "police"),
        (LI, "police"),
        (ZHANG, "banks"),
        (LI, "banks"),
    }
    assert decision.members_for("police") == ()
    assert decision.members_for("vehicles") == ()


def test_revoked_authorization_refuses() -> None:
    revoked = authorization("a1", revoked_at=dt.datetime(2026, 10, 20, tzinfo=dt.UTC))
    refusal = only_refusal(decide([ZHANG], ["police"], [revoked], ORG, ON))
    assert refusal.id_number == ZHANG
    assert "authorizations/a1" in refusal.reason
    assert "revoked" in refusal.reason


def test_expired_authorization_refuses() -> None:
    expired = authorization("a1", valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 10, 31))
    refusal = only_refusal(decide([ZHANG], ["police"], [expired], ORG, ON))
    assert "expired" in refusal.reason
    assert "2026-10-31" in refusal.reason


def test_authorization_is_valid_on_its_last_and_first_day() -> None:
    last_day = authorization("a1", valid_until=ON)
    first_day = authorization("a2", valid_from=ON, members=(MING,))
    decision = decide([ZHANG, MING], ["police"], [last_day, first_day], ORG, ON)
    assert decision.allowed == {"police": {ZHANG: "a1", MING: "a2"}}
    assert decision.refused == ()


def test_not_yet_valid_authorization_refuses() -> None:
    future = authorization("a1", valid_from=dt.date(2026, 11, 2))
    refusal = only_refusal(decide([ZHANG], ["police"], [future], ORG, ON))
    assert "valid only from 2026-11-02" in refusal.reason


def test_authorization_given_to_another_organisation_refuses() -> None:
    other = authorization("a1", commissioned_by="533402-civil-affairs")
    refusal = only_refusal(decide([ZHANG], ["police"], [other], ORG, ON))
    assert "533402-civil-affairs" in refusal.reason
    assert ORG in refusal.reason


def test_department_outside_the_scope_refuses_only_there() -> None:
    scoped = authorization("a1", members=(ZHANG,), departments=("police", "tax"))
    decision = decide([ZHANG], ["police", "banks", "tax"], [scoped], ORG, ON)
    assert decision.allowed == {"police": {ZHANG: "a1"}, "banks": {}, "tax": {ZHANG: "a1"}}
    refusal = only_refusal(decision)
    assert (refusal.id_number, refusal.department) == (ZHANG, "banks")
    assert "does not cover banks" in refusal.reason


def test_a_valid_authorization_wins_over_invalid_ones() -> None:
    revoked = authorization("old", revoked_at=dt.datetime(2026, 10, 2, tzinfo=dt.UTC))
    fresh = authorization("new")
    decision = decide([ZHANG], ["police"], [revoked, fresh], ORG, ON)
    assert decision.allowed == {"police": {ZHANG: "new"}}
    assert decision.refused == ()


def test_reasons_of_every_failing_authorization_are_given() -> None:
    revoked = authorization("r", revoked_at=dt.datetime(2026, 10, 2, tzinfo=dt.UTC))
    elsewhere = authorization("e", commissioned_by="533402-civil-affairs")
    unrelated = authorization("u", members=(MING,))
    refusal = only_refusal(decide([ZHANG], ["police"], [revoked, unrelated, elsewhere], ORG, ON))
    assert "authorizations/r was revoked" in refusal.reason
    assert "authorizations/e was given to 533402-civil-affairs" in refusal.reason
    assert "authorizations/u" not in refusal.reason


def test_each_member_is_allowed_under_their_own_authorization() -> None:
    first = authorization("a1", members=(ZHANG,))
    second = authorization("a2", members=(LI, MING))
    decision = decide([ZHANG, LI, MING], ["banks"], [first, second], ORG, ON)
    assert decision.allowed["banks"] == {ZHANG: "a1", LI: "a2", MING: "a2"}
    assert decision.authorizations_for("banks") == ("a1", "a2")


def test_decision_does_not_depend_on_the_registration_time() -> None:
    auth = authorization("a1")
    later = dataclasses.replace(auth, registered_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert decide([ZHANG], ["tax"], [later], ORG, ON) == decide([ZHANG], ["tax"], [auth], ORG, ON)


# --- who signed: the organisation for everyone, a member for themselves ---------------------------


def test_an_authorization_without_holding_signatures_covers_nobody() -> None:
    unsigned = authorization("a1", signers=())
    decision = decide([ZHANG, LI], ["police"], [unsigned], ORG, ON)
    assert decision.allowed == {"police": {}}
    assert all("neither their signature nor the organisation's" in r.reason for r in decision.refused)


def test_a_member_signature_covers_that_member_only() -> None:
    own = authorization("a1", signers=(Signer("m1", "member", ORG, ZHANG, "k1"),))
    decision = decide([ZHANG, LI], ["police", "banks"], [own], ORG, ON)
    assert decision.allowed == {"police": {ZHANG: "a1"}, "banks": {ZHANG: "a1"}}
    assert {(r.id_number, r.department) for r in decision.refused} == {(LI, "police"), (LI, "banks")}
    assert all("authorizations/a1 names this member" in r.reason for r in decision.refused)


def test_two_member_signatures_cover_both() -> None:
    both = authorization(
        "a1", signers=(Signer("m1", "member", ORG, ZHANG, "k1"), Signer("m2", "member", ORG, LI, "k1"))
    )
    assert decide([ZHANG, LI], ["tax"], [both], ORG, ON).allowed == {"tax": {ZHANG: "a1", LI: "a1"}}


def test_an_authorization_whose_signature_no_longer_holds_refuses_everyone() -> None:
    broken = authorization(
        "a1", signature_problem="key 'k1' of 533401-civil-affairs was revoked at 2026-10-01T00:00:00Z"
    )
    decision = decide([ZHANG, LI], ["tax"], [broken], ORG, ON)
    assert decision.allowed == {"tax": {}}
    assert all("no longer validly signed" in r.reason and "revoked" in r.reason for r in decision.refused)


def test_member_signed_authorization_and_organisation_signed_one_combine() -> None:
    own = authorization("own", members=(ZHANG, LI), signers=(Signer("m2", "member", ORG, LI, "k1"),))
    paper = authorization("paper", members=(ZHANG,))
    decision = decide([ZHANG, LI], ["banks"], [own, paper], ORG, ON)
    assert decision.allowed == {"banks": {ZHANG: "paper", LI: "own"}}
