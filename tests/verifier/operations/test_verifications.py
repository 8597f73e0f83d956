"""verifier.operations.verifications: requests checked, verifications created once, read and listed, and
bad input refused."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import pytest
from harness import example_request, example_sandbox, registered_in
from statements import StatementCounter

from connectors import SandboxDataset, sandbox_connectors
from verifier.config import Settings
from verifier.errors import Reason, ServiceError
from verifier.operations import Caller
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database
from verifier.vocabulary import VerificationState

REQUEST = parse_request(example_request())


async def hedui(db: Database) -> tuple[HeduiService, str]:
    """A service with the sandbox departments and one registered authorization for the example household."""
    _, _, (name,) = await registered_in(db, REQUEST)
    settings = Settings(database_url=db.url, audit_subject_key=b"k" * 32, department_deadline_seconds=30.0)
    service = HeduiService(db, sandbox_connectors(SandboxDataset.from_json(example_sandbox())), settings)
    return service, name


async def refused(work: object) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await work  # type: ignore[misc]
    return caught.value


async def test_a_request_is_checked_field_by_field_under_a_known_policy(db: Database) -> None:
    service, _ = await hedui(db)
    raw: dict[str, Any] = copy.deepcopy(example_request())
    raw["area"] = "suburb"
    raw["members"][0]["id_number"] = "1234"
    with pytest.raises(ServiceError) as caught:
        service.verifications.parse_request(raw)
    error = caught.value
    assert error.reason == Reason.INVALID_REQUEST
    assert {v.field for v in error.violations} >= {"request.area", "request.members[0].id_number"}
    with pytest.raises(ServiceError) as unknown:
        service.verifications.parse_request(dict(example_request(), policy="999999"))
    assert unknown.value.violations[0].field == "request.policy"


async def test_a_verification_is_created_once_per_request_id_and_run_to_its_report(db: Database) -> None:
    service, name = await hedui(db)
    ops = service.verifications
    first, again = await asyncio.gather(
        ops.create(REQUEST, [name], request_id="r-1", caller=Caller("worker", "peer")),
        ops.create(REQUEST, [name], request_id="r-1", caller=Caller("worker", "peer")),
    )
    assert first.verification_id == again.verification_id and first.operator == "worker"
    assert {d.department for d in first.departments} == set(service.connectors)
    done = await ops.wait_for_report(first.name, timeout=60)
    assert done.state == VerificationState.COMPLETED and done.latest_report_version == 1
    assert {d.status for d in done.departments} == {"ok"}
    listed, token = await ops.list(page_size=1, page_token="")
    assert [v.verification_id for v in listed] == [first.verification_id] and token == ""
    await service.pipeline.close()


async def test_the_authorizations_a_verification_names_are_checked(db: Database) -> None:
    service, name = await hedui(db)
    ops = service.verifications
    assert (await refused(ops.create(REQUEST, []))).violations[0].field == "authorizations"
    assert (await refused(ops.create(REQUEST, [name, "a1"]))).violations[0].field == "authorizations[1]"
    missing = await refused(ops.create(REQUEST, ["authorizations/missing"]))
    assert (missing.reason, missing.violations[0].field) == (Reason.AUTHORIZATION_NOT_FOUND, "authorizations[0]")
    await service.authorizations.revoke(name, "withdrawn")
    nobody = await refused(ops.create(REQUEST, [name]))
    assert nobody.reason == Reason.CONSENT_MISSING and "revoked" in nobody.message
    assert (await refused(ops.create(REQUEST, [name], request_id="r\x00"))).violations[0].field == "request_id"


async def test_a_recheck_must_name_an_earlier_report_of_the_same_organisation(db: Database) -> None:
    service, name = await hedui(db)
    bad = parse_request(dict(example_request(), purpose="RECHECK", previous_report_id="../x"))
    unknown = parse_request(dict(example_request(), purpose="RECHECK", previous_report_id="r" * 32))
    assert (await refused(service.verifications.create(bad, [name]))).reason == Reason.INVALID_REQUEST
    error = await refused(service.verifications.create(unknown, [name]))
    assert (error.reason, error.violations[0].field) == (Reason.PREVIOUS_REPORT_NOT_FOUND, "request.previous_report_id")


async def test_bad_names_and_page_tokens_are_refused(db: Database) -> None:
    service, _ = await hedui(db)
    ops = service.verifications
    assert (await refused(ops.get("verifications/x/y"))).reason == Reason.INVALID_REQUEST
    assert (await refused(ops.get("verifications/missing"))).reason == Reason.NOT_FOUND
    for token in ("zz", "00", "7b7d"):  # not hex, not JSON, JSON without the fields
        assert (await refused(ops.list(page_size=1, page_token=token))).violations[0].field == "page_token"
    assert (await refused(ops.list(page_size=-1, page_token=""))).violations[0].field == "page_size"
    with pytest.raises(ServiceError):
        async for _ in ops.watch("nope"):
            pass


async def test_a_watcher_is_handed_the_final_state_exactly_as_stored(
    db: Database, count_statements: Callable[[Database], StatementCounter]
) -> None:
    """A new verification the pipeline carried to its report alone: the watcher's last view is the state the
    publishing transaction stored, handed over instead of read back — and it is exactly what a read gives."""
    _, _, (name,) = await registered_in(db, REQUEST)
    sandbox = copy.deepcopy(example_sandbox())
    departments = [d for d in sandbox if d != "faults"]
    sandbox["faults"] = {d: {"mode": "slow", "delay_ms": 300} for d in departments}  # the watcher waits first
    settings = Settings(database_url=db.url, audit_subject_key=b"k" * 32, department_deadline_seconds=30.0)
    service = HeduiService(db, sandbox_connectors(SandboxDataset.from_json(sandbox)), settings)
    await service.start()
    try:
        created = await service.verifications.create(REQUEST, [name])
        as_read = await service.verifications.get(created.name)  # the departments take 300 ms: nothing changed yet
        counter = count_statements(db)
        me = asyncio.current_task()
        assert me is not None
        views = [view async for view in service.verifications.watch(created.name)]
        reads = counter.count(lambda s: s.task == me.get_name())
        assert views[0].state == VerificationState.RUNNING
        # The first view is the one the creation committed, handed over (nothing changed since): what a read gives.
        assert views[0] == as_read == created
        assert views[-1].state == VerificationState.COMPLETED and views[-1].latest_report_version == 1
        # One read for each view between; none for the first (handed over from the creation) nor the last.
        assert reads == len(views) - 2, counter.summary()
        assert views[-1] == await service.verifications.get(created.name)
    finally:
        await service.close()
