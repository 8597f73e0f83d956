"""The audit log's entries scoped by area (issue 13, review S1): a supervisor lists and proves the entries of its
area's organisations only, filtered in the database (whole pages, tokens of its own); the whole-log export is a
national supervisor's; checkpoints stay every supervisor's. One service for the module on each database, over
real mutual TLS, with verifications of three organisations: 533401 and 533402 (two counties of prefecture 5334)
and 110101 (Beijing)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from harness import NATIONAL, Harness, error_details, example_request, example_sandbox, running_service, signed_envelope

from audit.verify import check_export
from consent import SigningKey
from hedui.v1 import audit_pb2, audit_pb2_grpc, consent_pb2, consent_pb2_grpc, verification_pb2, verification_pb2_grpc
from verifier.access import Role
from verifier.api import envelope_message
from verifier.protojson import plain_to_message
from verifier.request import parse_request

OWN = "533401-civil-affairs"  # the harness client's
NEIGHBOUR = "533402-civil-affairs"
BEIJING = "110101-civil-affairs"
CHILD = "533401200809110310"  # a member of the example household, which every organisation here verifies


@dataclass
class World:
    """The module's service, a verification of each organisation, and every entry as the national supervisor
    lists them (the oracle: nothing filtered)."""

    harness: Harness
    verifications: dict[str, str]  # organisation -> verification name
    everything: list[audit_pb2.AuditEvent]

    async def supervisor(self, organisation: str) -> audit_pb2_grpc.AuditServiceStub:
        """A new supervisor client of ``organisation``."""
        name = f"supervisor-{organisation[:6]}-{len(self.harness.channels)}"
        channel = await self.harness.client_channel(name, organisation, [Role.SUPERVISOR])
        return audit_pb2_grpc.AuditServiceStub(channel)

    def of(self, *prefixes: str) -> list[audit_pb2.AuditEvent]:
        """The entries (of the oracle) whose organisation starts with one of ``prefixes``."""
        return [e for e in self.everything if (o := organisation_of(e)) and o.startswith(prefixes)]


def organisation_of(event: audit_pb2.AuditEvent) -> str:
    """Whose an entry is, by docs/access.md: its client's organisation (``name@organisation``), else the one its
    details name (a key or client added for it by no client), else none."""
    if "@" in event.client:
        return event.client.split("@", 1)[1]
    named = json.loads(event.entry)["details"].get("organisation")
    return named if isinstance(named, str) else ""


async def _verify_for(harness: Harness, organisation: str) -> str:
    """A settled verification of ``organisation`` by its own case system (its key in the trust store)."""
    key = SigningKey.generate_ed25519()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await harness.service.trust_store.add(organisation, key.public_pem(), not_before=since)
    channel = await harness.client_channel(f"case-system-{organisation[:6]}", organisation, [Role.CASE_SYSTEM])
    raw = {**example_request(), "commissioned_by": organisation}
    envelope = envelope_message(signed_envelope(parse_request(raw), key))
    auth = await consent_pb2_grpc.ConsentServiceStub(channel).RegisterAuthorization(
        consent_pb2.RegisterAuthorizationRequest(envelope=envelope)
    )
    message = verification_pb2.CreateVerificationRequest(authorizations=[auth.name])
    plain_to_message(raw, message.request)
    stub = verification_pb2_grpc.VerificationServiceStub(channel)
    created = await stub.CreateVerification(message)
    async with asyncio.timeout(60):
        async for event in stub.WatchVerification(verification_pb2.WatchVerificationRequest(name=created.name)):
            v = event.verification
            if v.latest_report and v.state != verification_pb2.Verification.RUNNING:
                break
    await stub.GetReport(verification_pb2.GetReportRequest(name=f"{created.name}/reports/latest"))
    return str(created.name)


async def listed(stub: audit_pb2_grpc.AuditServiceStub, **filters: str) -> list[audit_pb2.AuditEvent]:
    """Every entry ``stub``'s caller may list with ``filters``, page by page (500 a page)."""
    events, token = [], ""
    while True:
        page = await stub.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_size=500, page_token=token, **filters))
        events += page.events
        if not (token := page.next_page_token):
            return events


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """The module's service on each database, with a settled verification of each of three organisations."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('audit-areas') / 'hedui.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    async with running_service(url, example_sandbox()) as harness:
        own = await harness.run(example_request())
        verifications = {OWN: own.name}
        for organisation in (NEIGHBOUR, BEIJING):
            verifications[organisation] = await _verify_for(harness, organisation)
        # An entry of no organisation: the refusals of a certificate no client holds.
        unknown = await harness.client_channel("nobody-knows", OWN, [], register=False)
        with pytest.raises(grpc.aio.AioRpcError):
            await audit_pb2_grpc.AuditServiceStub(unknown).GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest())
        await harness.service.refusals.flush()
        everything = await listed(harness.audit)
        yield World(harness, verifications, everything)


def within(events: list[audit_pb2.AuditEvent], world: World) -> list[int]:
    """The indices of ``events`` that the oracle holds (entries appended since, refusals, are left out)."""
    last = world.everything[-1].index
    return [e.index for e in events if e.index <= last]


@pytest.mark.integration
async def test_a_prefecture_sees_its_counties_entries_and_no_others(world: World) -> None:
    prefecture = await world.supervisor("533400-supervision")
    seen = await listed(prefecture)
    expected = world.of("5334")
    assert within(seen, world) == [e.index for e in expected]
    assert {e.client.split("@")[1] for e in expected if "@" in e.client} >= {OWN, NEIGHBOUR}  # both counties' clients
    assert not [e for e in seen if not organisation_of(e).startswith("5334")]
    # Their entries' contents are the signed ones the national supervisor reads.
    by_index = {e.index: e.entry for e in world.everything}
    assert all(by_index[e.index] == e.entry for e in seen if e.index in by_index)
    # The keys and clients added for its counties are its entries too (made by no client, of whom they name).
    kinds = {e.kind for e in seen if e.client == ""}
    assert "CLIENT_ADDED" in kinds


@pytest.mark.integration
async def test_a_county_does_not_see_its_neighbours_entries(world: World) -> None:
    county = await world.supervisor("533402-supervision")
    seen = await listed(county)
    assert within(seen, world) == [e.index for e in world.of("533402")]
    assert seen and not [e for e in seen if not organisation_of(e).startswith("533402")]
    # Its neighbour's verification named as a filter is as empty as a verification that does not exist.
    own_name = world.verifications[OWN].removeprefix("verifications/")
    assert await listed(county, verification=own_name) == []
    assert await listed(county, verification="no-such-verification") == []
    # "Is this person in the log?" answers with its own county's entries of the person only.
    person = await listed(county, subject_id_number=CHILD)
    assert person and all(e.client.endswith(f"@{NEIGHBOUR}") for e in person)


@pytest.mark.integration
async def test_national_sees_every_entry_even_of_no_organisation(world: World) -> None:
    national = await world.supervisor("000000-supervision")
    seen = await listed(national)
    assert within(seen, world) == [e.index for e in world.everything]
    assert world.of("110101") and world.of("533401") and world.of("533402")
    assert [e for e in world.everything if e.kind == "CALL_REFUSED" and e.client.startswith("unknown sha256:")]
    # A county's supervisor lists none of those refusals (of no organisation).
    county = await world.supervisor("533401-supervision")
    assert not [e for e in await listed(county, kind="CALL_REFUSED") if "@" not in e.client]
    assert [e for e in world.everything if organisation_of(e) == ""]  # the log has entries of no organisation


@pytest.mark.integration
async def test_paging_a_filtered_list_returns_whole_pages(world: World) -> None:
    prefecture = await world.supervisor("533400-supervision")
    expected = [e.index for e in world.of("5334")]
    for size in (1, 7):
        seen, token = [], ""
        while True:
            page = await prefecture.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_size=size, page_token=token))
            token = page.next_page_token
            assert len(page.events) == size or not token, "a page came back short before the last"
            seen += [e.index for e in page.events]
            if not token:
                break
        assert [i for i in seen if i <= world.everything[-1].index] == expected
    # A token is its caller's: another supervisor cannot continue it.
    first = await prefecture.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_size=1))
    other = await world.supervisor("533401-supervision")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await other.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_size=1, page_token=first.next_page_token))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.integration
async def test_an_inclusion_proof_outside_the_area_is_not_found(world: World) -> None:
    prefecture = await world.supervisor("533400-supervision")
    county = await world.supervisor("533402-supervision")
    own_entry, beijing_entry = world.of("533401")[0], world.of("110101")[0]
    nobodys = next(e for e in world.everything if e.client.startswith("unknown sha256:"))
    proof = await prefecture.GetInclusionProof(audit_pb2.GetInclusionProofRequest(index=own_entry.index))
    assert proof.entry == own_entry.entry and proof.hashes
    for stub, entry in ((prefecture, beijing_entry), (county, own_entry), (prefecture, nobodys)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetInclusionProof(audit_pb2.GetInclusionProofRequest(index=entry.index))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert error_details(caught.value)[0] == "NOT_FOUND"
        assert caught.value.details() == f"auditEvents/{entry.index} not found"
    national = await world.supervisor(NATIONAL)
    proof = await national.GetInclusionProof(audit_pb2.GetInclusionProofRequest(index=beijing_entry.index))
    assert proof.entry == beijing_entry.entry


@pytest.mark.integration
async def test_only_a_national_supervisor_exports_the_whole_log(world: World) -> None:
    for organisation in ("533401-supervision", "533400-supervision", "530000-supervision"):
        stub = await world.supervisor(organisation)
        chunks: list[bytes] = []
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            chunks += [c.data async for c in stub.ExportAuditLog(audit_pb2.ExportAuditLogRequest())]
        assert chunks == []  # not a chunk of the whole log reached a supervisor of an area
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, organisation
        assert error_details(caught.value)[0] == "WHOLE_LOG_NATIONAL_ONLY"
        # ... and the checkpoints and consistency proofs, which name no entry, are every supervisor's.
        head = await stub.GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest())
        consistency = await stub.GetConsistencyProof(
            audit_pb2.GetConsistencyProofRequest(first_size=1, second_size=head.tree_size)
        )
        assert consistency.second_size == head.tree_size
    national = await world.supervisor("000000-supervision")
    data = b"".join([c.data async for c in national.ExportAuditLog(audit_pb2.ExportAuditLogRequest())])
    result = check_export(data.splitlines(keepends=True), world.harness.service.log.verifier)
    assert result.intact and result.entries >= len(world.everything)
    # The refusals are audited like the interceptor's: one CALL_REFUSED a client and minute.
    harness = world.harness
    await harness.service.refusals.flush()
    refused = [
        json.loads(e.entry)["details"]
        for e in await listed(harness.audit, kind="CALL_REFUSED")
        if e.client.endswith("@533400-supervision")
    ]
    assert "WHOLE_LOG_NATIONAL_ONLY" in set().union(*(d["reasons"] for d in refused))
