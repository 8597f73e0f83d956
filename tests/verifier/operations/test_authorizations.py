"""verifier.operations.authorizations: registering, reading, listing and revoking, and refusing bad input."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from harness import example_request, registered_in, signed_envelope

from consent import SigningKey
from verifier.errors import Reason, ServiceError
from verifier.operations.authorizations import AuthorizationState, state_of
from verifier.request import parse_request
from verifier.storage.db import Database

REQUEST = parse_request(example_request())
CHILD = REQUEST.members[2].id_number


async def refused(work: object) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await work  # type: ignore[misc]
    return caught.value


async def test_registering_again_returns_the_stored_authorization(db: Database) -> None:
    service, key, (name,) = await registered_in(db, REQUEST)
    ops = service.authorizations
    envelope = await ops.stored_envelope(name.removeprefix("authorizations/"))
    assert (await ops.register(envelope)).name == name  # the same envelope: the same authorization
    fresh = signed_envelope(REQUEST, key, valid_until=dt.date.today() + dt.timedelta(days=5))
    first = await ops.register(fresh, request_id="r-1")
    assert (await ops.register(fresh, request_id="r-1")).name == first.name  # a retry
    # Issue 13: the same request_id for other content is not a retry (it used to return the first silently).
    reused = await refused(ops.register(signed_envelope(REQUEST, key), request_id="r-1"))
    assert (reused.reason, reused.code, reused.violations[0].field) == (
        Reason.REQUEST_ID_REUSED,
        "ALREADY_EXISTS",
        "request_id",
    )
    assert await ops.stored_certificates(first.authorization_id) == []


async def test_an_envelope_with_a_bad_signature_or_payload_is_refused(db: Database) -> None:
    service, key, _ = await registered_in(db, REQUEST)
    stranger = signed_envelope(REQUEST, SigningKey.generate_ed25519())
    assert (await refused(service.authorizations.register(stranger))).reason == Reason.BAD_SIGNATURE
    tampered = dataclasses.replace(signed_envelope(REQUEST, key), payload=b'{"x": 1}')
    assert (await refused(service.authorizations.register(tampered))).reason == Reason.BAD_SIGNATURE
    expired = signed_envelope(REQUEST, key, valid_until=dt.date.today() - dt.timedelta(days=1))
    error = await refused(service.authorizations.register(expired))
    assert error.reason == Reason.BAD_AUTHORIZATION and error.code == "INVALID_ARGUMENT"
    assert error.violations[0].field.startswith("envelope.payload.")
    long_id = await refused(service.authorizations.register(signed_envelope(REQUEST, key), request_id="x" * 201))
    assert long_id.violations[0].field == "request_id"


async def test_bad_names_and_missing_authorizations_are_refused(db: Database) -> None:
    service, _, _ = await registered_in(db, REQUEST)
    ops = service.authorizations
    for name in ("a1", "authorizations/", "authorizations/../x", "verifications/a1"):
        error = await refused(ops.get(name))
        assert (error.reason, error.violations[0].field) == (Reason.INVALID_REQUEST, "name")
    assert (await refused(ops.get("authorizations/missing"))).reason == Reason.NOT_FOUND
    assert (await refused(ops.revoke("authorizations/missing", "why"))).code == "NOT_FOUND"
    assert (await refused(ops.stored_envelope("missing"))).reason == Reason.NOT_FOUND


async def test_a_revocation_needs_a_reason_and_keeps_the_first_one(db: Database) -> None:
    service, _, (name,) = await registered_in(db, REQUEST)
    withdrawn: list[str] = []
    ops = service.authorizations
    ops._withdraw = withdrawn.append  # see which queries are called back
    for reason in ("", "   ", "x" * 501):
        assert (await refused(ops.revoke(name, reason))).violations[0].field == "reason"
    first = await ops.revoke(name, f"applicant {CHILD} withdrew")
    again = await ops.revoke(name, "second thoughts")
    assert first.revoke_reason == again.revoke_reason == f"applicant {CHILD[:6]}********{CHILD[-4:]} withdrew"
    assert withdrawn == [name, name]
    assert state_of(again, dt.date.today()) == AuthorizationState.REVOKED


async def test_a_members_authorizations_come_a_page_at_a_time(db: Database) -> None:
    service, _, names = await registered_in(db, REQUEST, count=3)
    ops = service.authorizations
    page, token = await ops.list(CHILD.lower(), page_size=2)
    rest, last = await ops.list(CHILD, page_size=2, page_token=token)
    assert [a.name for a in (*page, *rest)] == names and last == ""
    assert token and token != "2"  # issue 13: the offset is sealed (verifier/page_tokens.py), not sent bare
    assert await ops.list("110101199003070011") == ([], "")
    bad = await refused(ops.list(CHILD, page_size=-1, page_token="x"))
    assert [v.field for v in bad.violations] == ["page_size", "page_token"]


async def test_an_authorizations_state_follows_its_dates_and_revocation(db: Database) -> None:
    service, _, (name,) = await registered_in(db, REQUEST)
    auth = await service.authorizations.get(name)
    assert state_of(auth, dt.date.today()) == AuthorizationState.ACTIVE
    assert state_of(auth, auth.payload.valid_until) == AuthorizationState.ACTIVE
    assert state_of(auth, auth.payload.valid_until + dt.timedelta(days=1)) == AuthorizationState.EXPIRED
