"""verifier.pipeline.consent: stored authorizations read back and judged now; the gate decides again."""

from __future__ import annotations

import datetime as dt

from harness import example_request, example_sandbox, registered_in

from connectors import DepartmentAnswer, DepartmentQuery, SandboxDataset, sandbox_connectors
from consent import SigningKey
from verifier.pipeline.answers import ANSWER_DISCARDED, Outcome, Settled
from verifier.pipeline.consent import AuthorizationReader, ConsentGate
from verifier.pipeline.plan import Job, Scope
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database
from verifier.vocabulary import DepartmentStatus

REQUEST = parse_request(example_request())
MEMBERS = tuple(m.id_number for m in REQUEST.members)


async def registered(db: Database, count: int = 1) -> tuple[HeduiService, SigningKey, list[str]]:
    return await registered_in(db, REQUEST, count)  # type: ignore[no-any-return]


async def test_authorizations_are_read_in_the_order_asked_and_missing_ones_left_out(db: Database) -> None:
    _, _, (first, second) = await registered(db, 2)
    reader = AuthorizationReader(db)
    found = await reader.by_names([second, "authorizations/missing", first.removeprefix("authorizations/")])
    assert [a.name for a in found] == [second, first]
    assert all(a.signature_problem is None and a.signers for a in found)
    async with db.write() as session:  # share-locked in a writer's transaction
        assert [a.name for a in await reader.by_names([first], session)] == [first]


async def test_a_revoked_trusted_key_takes_the_signatures_with_it(db: Database) -> None:
    service, key, (name,) = await registered(db)
    await service.trust_store.revoke(key.keyid, reason="stolen", at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    (auth,) = await AuthorizationReader(db).by_names([name])
    assert auth.signature_problem is not None and not auth.signed_for(MEMBERS[0])


async def test_the_gate_sees_a_revocation_at_once(db: Database) -> None:
    service, _, (name,) = await registered(db)
    gate = ConsentGate(AuthorizationReader(db))
    job = Job("v1", "worker", "peer", REQUEST, (name,))
    assert await gate.allowed_now(job, "tax", MEMBERS) == (MEMBERS, ())
    await service.authorizations.revoke(name, "applicant withdrew consent")
    assert await gate.allowed_now(job, "tax", MEMBERS) == ((), MEMBERS)


async def test_an_answer_is_discarded_in_the_storing_transaction_after_a_revocation(db: Database) -> None:
    service, _, (name,) = await registered(db)
    gate = ConsentGate(AuthorizationReader(db))
    job = Job("v1", "worker", "peer", REQUEST, (name,))
    tax = sandbox_connectors(SandboxDataset.from_json(example_sandbox()))["tax"]
    answer = await tax.query(DepartmentQuery("q1", MEMBERS, "a1", "ASSESSMENT", "v1.tax.1"))
    assert isinstance(answer, DepartmentAnswer)
    scope = Scope("worker", "peer", "v1", name, "tax")
    ok = Settled("tax", MEMBERS, Outcome(DepartmentStatus.OK, answer=answer), scope)
    down = Settled("tax", MEMBERS, Outcome(DepartmentStatus.UNAVAILABLE, "down"), scope)
    async with db.write() as session:
        assert await gate.before_store(session, job, [ok]) == [ok]
    await service.authorizations.revoke(name, "applicant withdrew consent")
    async with db.write() as session:
        discarded, kept_down = await gate.before_store(session, job, [ok, down])
        assert kept_down is down  # nothing of it is kept anyway
    assert (discarded.outcome.status, discarded.outcome.detail) == (DepartmentStatus.NOT_QUERIED, ANSWER_DISCARDED)
    assert discarded.not_queried == MEMBERS
