"""A household that moved (issue 13): a recheck may name a previous report of another organisation, comparing
with its figures and classification only, when the caller's own authorization covers the report's applicant;
otherwise the report is not found, exactly as one that does not exist. Over real mutual TLS, on both databases."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import grpc
import pytest
from harness import Harness, error_details, example_request, signed_envelope

from consent import SigningKey
from hedui.v1 import consent_pb2, consent_pb2_grpc, verification_pb2, verification_pb2_grpc
from verifier.access import Role
from verifier.api import envelope_message
from verifier.assessment.recheck import CurrentMember, PreviousFlag, PreviousMember, PreviousReport, compare
from verifier.protojson import message_to_plain, plain_to_message
from verifier.request import parse_request

OWN = "533401-civil-affairs"  # the harness client's: where the household lived
MOVED_TO = "110101-civil-affairs"
APPLICANT = "533401197803120118"
CHILD = "533401200809110310"


class Elsewhere:
    """A case system of another organisation, with its own trust-store key."""

    def __init__(self, harness: Harness, organisation: str, channel: grpc.aio.Channel, key: SigningKey) -> None:
        self.harness, self.organisation, self.key = harness, organisation, key
        self.verifications = verification_pb2_grpc.VerificationServiceStub(channel)
        self.consent = consent_pb2_grpc.ConsentServiceStub(channel)

    @classmethod
    async def of(cls, harness: Harness, organisation: str) -> Elsewhere:
        key = SigningKey.generate_ed25519()
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        await harness.service.trust_store.add(organisation, key.public_pem(), not_before=since)
        channel = await harness.client_channel(f"case-system-{organisation[:6]}", organisation, [Role.CASE_SYSTEM])
        return cls(harness, organisation, channel, key)

    async def create(self, raw: dict[str, Any]) -> verification_pb2.Verification:
        """Register an authorization of its own for ``raw``'s household, then create the verification."""
        envelope = envelope_message(signed_envelope(parse_request(raw), self.key))
        auth = await self.consent.RegisterAuthorization(consent_pb2.RegisterAuthorizationRequest(envelope=envelope))
        message = verification_pb2.CreateVerificationRequest(authorizations=[auth.name])
        plain_to_message(raw, message.request)
        return await self.verifications.CreateVerification(message)

    async def report(self, name: str) -> dict[str, Any]:
        """The latest report of its verification ``name``, once it is settled."""
        async for event in self.verifications.WatchVerification(verification_pb2.WatchVerificationRequest(name=name)):
            v = event.verification
            if v.latest_report and v.state != verification_pb2.Verification.RUNNING:
                break
        got = await self.verifications.GetReport(verification_pb2.GetReportRequest(name=f"{name}/reports/latest"))
        return message_to_plain(got)


def recheck(report_id: str, organisation: str, members: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The example household's recheck, commissioned by ``organisation``, naming ``report_id``."""
    raw = example_request()
    return {
        **raw,
        "purpose": "RECHECK",
        "previous_report_id": report_id,
        "commissioned_by": organisation,
        "members": members if members is not None else raw["members"],
    }


@pytest.mark.integration
async def test_a_household_that_moved_is_rechecked_against_the_other_organisations_figures(harness: Harness) -> None:
    before = await harness.run(example_request())
    previous = message_to_plain(
        await harness.verifications.GetReport(
            verification_pb2.GetReportRequest(name=f"{before.name}/reports/latest"), metadata=harness.metadata
        )
    )
    elsewhere = await Elsewhere.of(harness, MOVED_TO)
    # The applicant and spouse moved; the child stayed behind (not in the new household, nor its authorization).
    moved = [m for m in example_request()["members"] if m["id_number"] != CHILD]
    created = await elsewhere.create(recheck(previous["report_id"], MOVED_TO, moved))
    report = await elsewhere.report(created.name)
    changes = report["changes"]
    # The comparison: the previous report's classification and figures, by hand from that report.
    a = previous["assessment"]
    assert changes["previous_report_id"] == previous["report_id"]
    assert changes["classification_before"] == a["classification"]
    assert changes["household_size_before"] == a["household_size"] == 3
    assert changes["annual_income_before_fen"] == a["annual_income_fen"]
    assert changes["per_capita_monthly_income_before_fen"] == a["per_capita_monthly_income_fen"]
    assert changes["household_size_after"] == 2
    # Nothing else of the other organisation's record: not its verification, not its version, not who else was in
    # the household then (the child is neither named nor listed as left), not its warnings' words.
    text = json.dumps(report, ensure_ascii=False)
    assert before.name.removeprefix("verifications/") not in text
    assert CHILD not in text and "张小明" not in text
    assert changes["previous_verification_id"] == "" and changes["previous_version"] == 0
    assert changes["members_removed"] == []
    assert {m["id_number"] for m in changes["member_changes"]} == {m["id_number"] for m in moved}
    assert all(w["message_zh"] == "" for w in changes["warning_changes"] if w["change"] == "cleared")
    # The other organisation's report itself stays out of reach.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await elsewhere.verifications.GetReport(verification_pb2.GetReportRequest(name=f"{before.name}/reports/latest"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    # The audit log names both organisations.
    await harness.service.log.integrate(harness.service.db.write)
    async with harness.service.db.sessions() as session:
        entries = await harness.service.audit.entries(session, after_index=-1, limit=100_000)
    entry = next(e for e in entries if e.kind == "VERIFICATION_CREATED" and e.verification in created.name)
    details = json.loads(entry.entry)["details"]
    assert entry.client == f"case-system-110101@{MOVED_TO}" and details["commissioned_by"] == MOVED_TO
    assert (details["previous_report"], details["previous_report_commissioned_by"]) == (previous["report_id"], OWN)


@pytest.mark.integration
async def test_a_report_of_a_household_the_caller_holds_no_authorization_for_is_not_found(harness: Harness) -> None:
    before = await harness.run(example_request())
    report_id = message_to_plain(
        await harness.verifications.GetReport(
            verification_pb2.GetReportRequest(name=f"{before.name}/reports/latest"), metadata=harness.metadata
        )
    )["report_id"]
    elsewhere = await Elsewhere.of(harness, MOVED_TO)
    # The spouse applies with the child: members in common with the report, but its applicant is not among them.
    members = [
        dict(m, relation="applicant") if m["relation"] == "spouse" else m
        for m in example_request()["members"]
        if m["id_number"] != APPLICANT
    ]
    answers = []
    for named in (report_id, "0" * 32):  # the real report, then one that never was
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await elsewhere.create(recheck(named, MOVED_TO, members))
        said = repr((error_details(caught.value), caught.value.details())).replace(named, "<the id named>")
        answers.append((caught.value.code(), said))
    assert answers[0][0] == grpc.StatusCode.FAILED_PRECONDITION and "PREVIOUS_REPORT_NOT_FOUND" in answers[0][1]
    assert answers[0] == answers[1]  # the same answer, word for word, as for a report that never was
    # And counted as a refusal for another organisation's resource.
    await harness.service.refusals.flush()
    await harness.service.log.integrate(harness.service.db.write)
    async with harness.service.db.sessions() as session:
        entries = await harness.service.audit.entries(session, after_index=-1, limit=100_000)
    counted = [
        json.loads(e.entry)["details"]
        for e in entries
        if e.kind == "CALL_REFUSED" and e.client == f"case-system-110101@{MOVED_TO}"
    ]
    assert sum(d["count"] for d in counted) == 1 and counted[0]["reasons"] == ["PREVIOUS_REPORT_NOT_FOUND"]


def test_another_organisations_report_is_seen_as_its_figures_and_the_new_households_people_only() -> None:
    spouse = "53340119800605022X"
    report = PreviousReport(
        report_id="p-1",
        verification_id="v-of-533401",
        version=2,
        application_date=dt.date(2026, 5, 1),
        classification="DIBAO",
        household_size=3,
        annual_income_fen=720_000,
        income_by_category={"wages": 120_000},
        deductions_fen=0,
        per_capita_monthly_income_fen=20_000,
        standard_fen=85_000,
        financial_assets_fen=10_000,
        residential_properties=1,
        members=(
            PreviousMember(APPLICANT, "张建国", True, 720_000, {"wages": 120_000}),
            PreviousMember(spouse, "李秀英", True, 0, {}),
            PreviousMember(CHILD, "张小明", True, 0, {}),
        ),
        flags=(
            PreviousFlag("UNDECLARED_INCOME", "HIGH", APPLICANT, "tax", "张建国 工资 1,200.00 元未申报"),
            PreviousFlag("UNDECLARED_MEMBER", "HIGH", CHILD, "public_security", "张小明 在户籍上"),
            PreviousFlag("INCOME_ABOVE_STANDARD", "HIGH", None, "computed", "月人均 200.00 元"),
        ),
        commissioned_by=OWN,
        applicant=APPLICANT,
    )
    assert report.seen_by(OWN, {APPLICANT}) is report  # its own organisation's: all of it
    seen = report.seen_by(MOVED_TO, {APPLICANT, spouse})
    # The figures and classification stay (the household then counted three, the child among them)...
    assert (seen.classification, seen.household_size, seen.annual_income_fen) == ("DIBAO", 3, 720_000)
    assert (seen.per_capita_monthly_income_fen, seen.financial_assets_fen) == (20_000, 10_000)
    # ... not its verification, version, the child (a member or a warning), nor any warning's words.
    assert (seen.verification_id, seen.version) == ("", 0)
    assert [m.id_number for m in seen.members] == [APPLICANT, spouse]
    assert [(f.code, f.id_number, f.message_zh) for f in seen.flags] == [
        ("UNDECLARED_INCOME", APPLICANT, ""),
        ("INCOME_ABOVE_STANDARD", None, ""),
    ]
    # The comparison made with it names nobody who is not in the new household.
    changes = compare(
        seen,
        classification="MARGINAL",
        members=[
            CurrentMember(APPLICANT, "张建国", True, 720_000, 120_000),
            CurrentMember(spouse, "李秀英", True, 0, 0),
        ],
        household_size=2,
        income_by_category={"wages": 120_000},
        annual_income_fen=720_000,
        deductions_fen=0,
        per_capita_monthly_income_fen=30_000,
        financial_assets_fen=10_000,
        residential_properties=1,
        flags=[],
    )
    assert changes.members_removed == () and CHILD not in repr(changes)
    assert (changes.household_size_before, changes.household_size_after) == (3, 2)
    assert changes.warnings_cleared == ("INCOME_ABOVE_STANDARD", "UNDECLARED_INCOME")
    assert all(w.message_zh == "" for w in changes.warning_changes)


@pytest.mark.integration
async def test_a_member_no_authorization_of_the_caller_covers_is_not_read_from_the_other_report(
    harness: Harness,
) -> None:
    # Review 13: the caller's authorization covers the applicant and the spouse; its request names the child too,
    # whom no authorization of its covers (its departments are not queried). The other organisation's report must
    # say nothing of the child then: not whether the child was in that household, nor the child's figures or
    # warnings -- the child is as new to the comparison as a stranger would be.
    spouse = "53340119800605022X"
    before = await harness.run(example_request())
    previous = message_to_plain(
        await harness.verifications.GetReport(
            verification_pb2.GetReportRequest(name=f"{before.name}/reports/latest"), metadata=harness.metadata
        )
    )
    assert CHILD in {m["id_number"] for m in previous["members"]}
    elsewhere = await Elsewhere.of(harness, MOVED_TO)
    raw = recheck(previous["report_id"], MOVED_TO)  # all three members, the child among them
    envelope = envelope_message(signed_envelope(parse_request(raw), elsewhere.key, signers=[APPLICANT, spouse]))
    auth = await elsewhere.consent.RegisterAuthorization(consent_pb2.RegisterAuthorizationRequest(envelope=envelope))
    message = verification_pb2.CreateVerificationRequest(authorizations=[auth.name])
    plain_to_message(raw, message.request)
    created = await elsewhere.verifications.CreateVerification(message)
    changes = (await elsewhere.report(created.name))["changes"]
    child = [m for m in changes["member_changes"] if m["id_number"] == CHILD]
    assert [c["change"] for c in child] == ["joined"], child
    assert child[0].get("counted_annual_income_before_fen", 0) == 0 and not child[0].get("counted_before", False)
    assert not [w for w in changes["warning_changes"] if w.get("id_number") == CHILD and w["change"] == "cleared"]


@pytest.mark.integration
async def test_naming_a_member_the_caller_holds_no_consent_for_does_not_tell_whether_they_were_in_the_household(
    harness: Harness,
) -> None:
    # Review 13: the caller's authorization covers the previous report's applicant and a grandparent (never in
    # that household); its recheck names the grandparent, with or without the child (whom it holds no consent
    # for). Whether the child was in the other organisation's household must not change the answer.
    grandparent = "533401194501010411"
    before = await harness.run(example_request())
    report_id = message_to_plain(
        await harness.verifications.GetReport(
            verification_pb2.GetReportRequest(name=f"{before.name}/reports/latest"), metadata=harness.metadata
        )
    )["report_id"]
    elsewhere = await Elsewhere.of(harness, MOVED_TO)
    applicant = next(m for m in example_request()["members"] if m["id_number"] == APPLICANT)
    child = next(m for m in example_request()["members"] if m["id_number"] == CHILD)
    granny = {**applicant, "id_number": grandparent, "name": "张奶奶", "declared_annual_income_fen": 0}
    consented = parse_request(
        {**recheck(report_id, MOVED_TO, [dict(applicant, relation="child"), granny]), "deductions": []}
    )
    envelope = envelope_message(signed_envelope(consented, elsewhere.key))
    auth = await elsewhere.consent.RegisterAuthorization(consent_pb2.RegisterAuthorizationRequest(envelope=envelope))
    answers = []
    for members in ([granny], [granny, dict(child, relation="other")]):
        message = verification_pb2.CreateVerificationRequest(authorizations=[auth.name])
        plain_to_message({**recheck(report_id, MOVED_TO, members), "deductions": []}, message.request)
        try:
            await elsewhere.verifications.CreateVerification(message)
            answers.append(("created",))
        except grpc.aio.AioRpcError as exc:
            answers.append((exc.code(), error_details(exc)[0], exc.details()))
    assert answers[0] == answers[1], answers
    assert answers[0][:2] == (grpc.StatusCode.FAILED_PRECONDITION, "PREVIOUS_REPORT_MISMATCH")
