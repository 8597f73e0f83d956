"""Every method of every hedui service, enumerated from the service descriptors, refused to whoever may not call it
(issue 13): no client certificate, a certificate of another CA, one no client holds, a revoked one, and each role
lacking it; every refusal counted in the audit log, one CALL_REFUSED entry per client and minute. One server for
the module, over real mutual TLS on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from google.protobuf.descriptor import MethodDescriptor
from harness import Harness, error_details, example_request, example_sandbox, running_service
from made_certificates import issued

from audit.events import EVENT_KINDS
from connectors.tls import certificate_authority, issue_certificate, public_key_sha256
from hedui.v1 import audit_pb2, audit_pb2_grpc, consent_pb2, consent_pb2_grpc, verification_pb2, verification_pb2_grpc
from verifier.access import CACHE_SECONDS, METHOD_ROLES, Clients, RefusedCalls, Role
from verifier.access._refusals import MAX_CLIENTS_PER_MINUTE, OTHERS
from verifier.api import AuditApi, ConsentApi, VerificationApi
from verifier.errors import ServiceError
from verifier.request import parse_request

ORG = "533401-civil-affairs"
NATIONAL = "000000-ministry-of-civil-affairs"
METHODS: list[MethodDescriptor] = [
    method
    for file in (consent_pb2.DESCRIPTOR, verification_pb2.DESCRIPTOR, audit_pb2.DESCRIPTOR)
    for service in file.services_by_name.values()
    for method in service.methods
]
IDS = [m.full_name for m in METHODS]
GET_HEAD = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].methods_by_name["GetSignedTreeHead"]


def path_of(method: MethodDescriptor) -> str:
    """The method's gRPC path, ``/hedui.v1.ConsentService/RegisterAuthorization``."""
    return f"/{method.containing_service.full_name}/{method.name}"


async def call(channel: grpc.aio.Channel, method: MethodDescriptor) -> None:
    """One call of ``method`` with an empty request; raises the call's error (a stream is read to its end)."""
    if method.server_streaming:
        stream = channel.unary_stream(path_of(method), request_serializer=bytes, response_deserializer=bytes)
        async for _ in stream(b"", timeout=10):
            pass
        return
    unary = channel.unary_unary(path_of(method), request_serializer=bytes, response_deserializer=bytes)
    await unary(b"", timeout=10)


async def refusal(channel: grpc.aio.Channel, method: MethodDescriptor) -> tuple[grpc.StatusCode, str]:
    """(code, ErrorInfo reason) of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(channel, method)
    code = caught.value.code()
    reason = error_details(caught.value)[0] if code not in (grpc.StatusCode.UNAVAILABLE,) else ""
    return code, reason


async def access_refusal(channel: grpc.aio.Channel, method: MethodDescriptor) -> str | None:
    """The ErrorInfo reason when the call was refused for who calls; ``None`` when it got past the access check."""
    try:
        await call(channel, method)
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return error_details(error)[0] or error.code().name
    return None


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    """One running service for the module (SQLite)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('access') / 'hedui.db'}"
    sandbox = example_sandbox()
    sandbox["banks"]["answer_after_seconds"] = 600  # a verification stays open for a watcher
    async with running_service(url, sandbox) as harness:
        yield harness


def test_every_method_of_every_service_has_its_roles() -> None:
    assert sorted(METHOD_ROLES) == sorted(path_of(m) for m in METHODS)
    assert len(METHODS) == 15
    assert "CALL_REFUSED" in EVENT_KINDS


@pytest.mark.integration
async def test_without_a_client_certificate_the_tls_handshake_refuses_every_method(server: Harness) -> None:
    channel = server.raw_channel()
    foreign_ca, foreign_key = certificate_authority("someone else's CA")
    foreign = server.raw_channel(issue_certificate(foreign_ca, foreign_key, "intruder"))
    for method in METHODS:
        assert (await refusal(channel, method))[0] == grpc.StatusCode.UNAVAILABLE, method.full_name
        assert (await refusal(foreign, method))[0] == grpc.StatusCode.UNAVAILABLE, method.full_name


@pytest.mark.integration
async def test_a_certificate_no_client_holds_or_a_revoked_one_is_unauthenticated(server: Harness) -> None:
    unknown = await server.client_channel("not-registered", ORG, [], register=False)
    revoked = await server.client_channel("revoked-system", ORG, list(Role))
    await server.service.clients.revoke("revoked-system", "decommissioned")
    for method in METHODS:
        assert await refusal(unknown, method) == (grpc.StatusCode.UNAUTHENTICATED, "CLIENT_UNKNOWN"), method.name
        assert await refusal(revoked, method) == (grpc.StatusCode.UNAUTHENTICATED, "CLIENT_REVOKED"), method.name


@pytest.mark.integration
@pytest.mark.parametrize("role", list(Role))
async def test_each_role_lacking_a_method_is_permission_denied(server: Harness, role: Role) -> None:
    # A national supervisor: a supervisor of less exports no whole log (test_audit_areas.py), whatever its role.
    organisation = NATIONAL if role is Role.SUPERVISOR else ORG
    channel = await server.client_channel(f"only-{role.value.replace('_', '-')}", organisation, [role])
    for method in METHODS:
        allowed = role in METHOD_ROLES[path_of(method)]
        if allowed:  # it may fail for its empty request, never for who calls
            assert await access_refusal(channel, method) is None, method.name
        else:
            assert await refusal(channel, method) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_MISSING"), method.name


@pytest.mark.integration
async def test_refusals_are_audited_once_per_client_and_minute_with_a_count(server: Harness) -> None:
    channel = await server.client_channel("counted-admin", ORG, [Role.ADMIN])
    denied = [m for m in METHODS if Role.ADMIN not in METHOD_ROLES[path_of(m)]]
    for _ in range(3):
        for method in denied:
            await refusal(channel, method)
    # Its own unknown certificate: under xdist the module's other tests may run in another process.
    unknown_channel = await server.client_channel("counted-unknown", ORG, [], register=False)
    await refusal(unknown_channel, GET_HEAD)
    await server.service.refusals.flush()
    await server.service.log.integrate(server.service.db.write)
    async with server.service.db.sessions() as session:
        entries = await server.service.audit.entries(session, after_index=-1, limit=10_000)
    counted = [e for e in entries if e.kind == "CALL_REFUSED" and e.client == f"counted-admin@{ORG}"]
    assert 1 <= len(counted) <= 2  # one per minute: two if the calls straddled a minute
    details = [json.loads(e.entry)["details"] for e in counted]
    assert sum(d["count"] for d in details) == 3 * len(denied)
    assert len({d["minute"] for d in details}) == len(counted)
    assert set().union(*(d["methods"] for d in details)) == {path_of(m) for m in denied}
    assert all(d["reasons"] == ["ROLE_MISSING"] and d["codes"] == ["PERMISSION_DENIED"] for d in details)
    unknown = [e for e in entries if e.kind == "CALL_REFUSED" and e.client.startswith("unknown sha256:")]
    assert unknown, "the unknown certificate's refusals are counted under its key"


@pytest.mark.integration
async def test_a_revocation_by_another_process_counts_within_the_cache_time(server: Harness) -> None:
    """``hedui clients revoke`` beside a running server: its own Clients over the same database."""
    channel = await server.client_channel("revoked-elsewhere", ORG, [Role.SUPERVISOR])
    stub = audit_pb2_grpc.AuditServiceStub(channel)
    await stub.GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest())  # known, and now in the server's memory
    elsewhere = Clients(server.service.db, server.service.audit)
    await elsewhere.revoke("revoked-elsewhere", "key leaked")
    give_up = time.monotonic() + CACHE_SECONDS + 10  # generous: the machine may be loaded
    while (refused := await access_refusal(channel, GET_HEAD)) is None:
        assert time.monotonic() < give_up, "the revocation did not count"
        await asyncio.sleep(0.2)
    assert refused == "CLIENT_REVOKED"


async def drain(stream: grpc.aio.UnaryStreamCall[Any, verification_pb2.VerificationEvent]) -> None:
    """Read a watch to its end: the events still running, the end an error."""
    while (event := await stream.read()) is not grpc.aio.EOF:
        assert event.verification.state == verification_pb2.Verification.RUNNING
    raise AssertionError("the stream ended without the revocation")


@pytest.mark.integration
async def test_a_client_revoked_while_it_watches_loses_its_stream(server: Harness) -> None:
    # Review M2: the client is checked again before each message, not only at the start: the next change (the
    # banks' deadline passing, 5 s on) is no event for it but the end of its stream.
    raw = example_request()
    auth = await server.register(server.envelope(parse_request(raw)))
    created = await server.create(raw, [auth.name])
    channel = await server.client_channel("revoked-watcher", ORG, [Role.CASE_SYSTEM])
    stream = verification_pb2_grpc.VerificationServiceStub(channel).WatchVerification(
        verification_pb2.WatchVerificationRequest(name=created.name), timeout=60
    )
    first = await stream.read()
    assert first.verification.name == created.name
    await server.service.clients.revoke("revoked-watcher", "compromised while watching")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(drain(stream), 60)  # generous: the machine may be loaded
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_details(caught.value)[0] == "CLIENT_REVOKED"


async def _renamed(path: str, table: str, to: str) -> None:
    """Rename ``table`` of the running server's SQLite database, from a thread: sqlite3 waits for the lock
    blocking its thread, and on the event loop's it would stop the server's own coroutines (in this process)
    from committing the write transaction it waits for -- "database is locked" after the timeout, under load."""

    def rename() -> None:
        with contextlib.closing(sqlite3.connect(path, timeout=60)) as connection:
            connection.execute(f"ALTER TABLE {table} RENAME TO {to}")
            connection.commit()

    await asyncio.to_thread(rename)


@pytest.mark.integration
async def test_clients_that_cannot_be_read_fail_closed_as_unavailable_without_sql(
    server: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # Review S4: the clients table unreadable (renamed under the running server) is no UNKNOWN with SQL text.
    channel = await server.client_channel("never-cached", ORG, [], register=False)  # not in the server's memory
    path = server.service.db.url.removeprefix("sqlite+aiosqlite:///").removeprefix("sqlite:///")
    await _renamed(path, "clients", "clients_hidden")
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(5):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call(channel, GET_HEAD)
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
                assert error_details(caught.value)[0] == "ACCESS_CHECK_UNAVAILABLE"
                message = caught.value.details() or ""
                assert "SELECT" not in message and "clients" not in message and "Traceback" not in message
                assert dict(caught.value.trailing_metadata() or ()).get("grpc-retry-pushback-ms") == "1000"
    finally:
        await _renamed(path, "clients_hidden", "clients")
    lines = [r for r in caplog.records if "access check failed" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None  # one line, no traceback
    assert not [r for r in caplog.records if r.exc_info]
    assert await access_refusal(channel, GET_HEAD) == "CLIENT_UNKNOWN"  # readable again: an unknown key once more


@pytest.mark.integration
async def test_a_flood_of_fresh_keys_costs_the_log_a_bounded_number_of_entries(server: Harness) -> None:
    # Review S5: the first MAX_CLIENTS_PER_MINUTE clients refused in a minute get an entry each, the rest one.
    refusals = RefusedCalls(server.service.standalone_events)
    flood = MAX_CLIENTS_PER_MINUTE + 150
    for i in range(flood):
        for _ in range(2):
            refusals.refused(f"flood sha256:{i:016x}", "", "/m", "UNAUTHENTICATED", "CLIENT_UNKNOWN")
    await refusals.flush()
    await server.service.log.integrate(server.service.db.write)
    async with server.service.db.sessions() as session:
        entries = await server.service.audit.entries(session, after_index=-1, limit=100_000)
    written = [
        {"client": e.client, **json.loads(e.entry)["details"]}
        for e in entries
        if e.kind == "CALL_REFUSED" and (e.client.startswith("flood ") or e.client == OTHERS)
    ]
    minutes = {e["minute"] for e in written}
    assert 1 <= len(minutes) <= 2  # a minute may turn during the loop: each minute is capped
    for minute in minutes:
        own = [e for e in written if e["minute"] == minute and e["client"] != OTHERS]
        assert len(own) <= MAX_CLIENTS_PER_MINUTE
    others = [e for e in written if e["client"] == OTHERS]
    assert len(written) <= len(minutes) * (MAX_CLIENTS_PER_MINUTE + 1)
    assert others and sum(e["clients"] for e in others) >= flood - len(minutes) * MAX_CLIENTS_PER_MINUTE
    assert sum(e["count"] for e in written) == 2 * flood  # every refusal counted


@pytest.mark.integration
async def test_a_ca_certificate_of_the_client_ca_is_refused_and_cannot_be_added(server: Harness) -> None:
    # Review S5: a CA:TRUE certificate for clientAuth that the client CA issued passes the handshake, not hedui.
    assert server.pki is not None
    minting = issued((server.pki.ca, server.pki.ca_key), ca=True, usages=[ExtendedKeyUsageOID.CLIENT_AUTH])
    channel = server.raw_channel(minting)
    assert await refusal(channel, GET_HEAD) == (grpc.StatusCode.UNAUTHENTICATED, "CLIENT_CERTIFICATE_REFUSED")
    ca = (server.pki.ca, server.pki.ca_key)
    client_auth = [ExtendedKeyUsageOID.CLIENT_AUTH]
    for pem, said in (
        (minting[0], "is a CA certificate"),
        (issued(ca, usages=[ExtendedKeyUsageOID.SERVER_AUTH])[0], "clientAuth"),
        (issued(ca, usages=client_auth, days=(-9, -1))[0], "expired"),
        (issued(ca, usages=client_auth, days=(1, 9))[0], "not valid before"),
    ):
        with pytest.raises(ServiceError) as caught:
            await server.service.clients.add(pem, ORG, ["case_system"], name="never-added")
        assert caught.value.violations[0].field == "certificate" and said in caught.value.message
    # Review N6: a name that reads as another client's key hash is no name.
    with pytest.raises(ServiceError) as caught:
        await server.service.clients.add(server.pki.client("hex")[0], ORG, ["case_system"], name="ab" * 32)
    assert caught.value.violations[0].field == "name"


@pytest.mark.integration
async def test_a_servicer_reached_without_the_access_check_refuses_as_internal(server: Harness) -> None:
    # Review S9: no client identified is never the unscoped in-process caller: INTERNAL, a fixed message.
    bare = grpc.aio.server()
    service = server.service
    consent_pb2_grpc.add_ConsentServiceServicer_to_server(ConsentApi(service.authorizations), bare)  # type: ignore[no-untyped-call]
    verification_pb2_grpc.add_VerificationServiceServicer_to_server(  # type: ignore[no-untyped-call]
        VerificationApi(service.verifications, service.reports), bare
    )
    audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditApi(service.audit_queries), bare)  # type: ignore[no-untyped-call]
    port = bare.add_insecure_port("127.0.0.1:0")
    await bare.start()
    try:
        internal = set()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for method in METHODS:
                if method.name == "CreateRecheckBatch":  # not implemented: it reads nothing
                    continue
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call(channel, method)
                code, reason = caught.value.code(), error_details(caught.value)[0]
                if code == grpc.StatusCode.INVALID_ARGUMENT:  # its empty request is refused before anything is read
                    continue
                assert (code, reason) == (grpc.StatusCode.INTERNAL, "CLIENT_NOT_IDENTIFIED"), method.name
                assert caught.value.details() == "the call was not identified; the server refused it"
                internal.add(method.name)
        # What reads or writes anything of anyone (its empty request being no hindrance) is refused for who calls.
        assert {"ListVerifications", "ListAuditEvents", "ExportAuditLog", "GetSignedTreeHead"} <= internal
    finally:
        await bare.stop(0)


@pytest.mark.integration
async def test_an_unauthenticated_callers_operator_is_not_recorded(server: Harness) -> None:
    # Review N4: whatever an unknown certificate puts in x-hedui-operator does not reach the log.
    channel = await server.client_channel("unknown-with-operator", ORG, [], register=False)
    stub = audit_pb2_grpc.AuditServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetSignedTreeHead(
            audit_pb2.GetSignedTreeHeadRequest(), metadata=(("x-hedui-operator", "533401197803120118"),)
        )
    await server.service.refusals.flush()
    await server.service.log.integrate(server.service.db.write)
    async with server.service.db.sessions() as session:
        entries = await server.service.audit.entries(session, after_index=-1, limit=100_000)
    refused = [e for e in entries if e.kind == "CALL_REFUSED" and e.client.startswith("unknown sha256:")]
    assert refused and all(e.operator == "" for e in refused)
    assert not [e for e in entries if b"533401197803120118" in e.entry]


@pytest.mark.integration
async def test_every_methods_refusal_of_an_unknown_revoked_or_refused_certificate_is_audited(server: Harness) -> None:
    # Issue 13, "Done when": the refusal is audited — for every method, whoever the certificate says it is.
    assert server.pki is not None
    unknown_pair = server.pki.client("audited-unknown")
    unknown = server.raw_channel(unknown_pair)
    revoked = await server.client_channel("audited-revoked", ORG, list(Role))
    await server.service.clients.revoke("audited-revoked", "decommissioned")
    minting = issued((server.pki.ca, server.pki.ca_key), ca=True, usages=[ExtendedKeyUsageOID.CLIENT_AUTH])
    refused_channel = server.raw_channel(minting)
    for method in METHODS:
        for channel in (unknown, revoked, refused_channel):
            assert (await refusal(channel, method))[0] == grpc.StatusCode.UNAUTHENTICATED, method.name
    await server.service.refusals.flush()
    await server.service.log.integrate(server.service.db.write)
    async with server.service.db.sessions() as session:
        entries = await server.service.audit.entries(session, after_index=-1, limit=100_000)
    expected = {
        f"unknown sha256:{public_key_sha256(unknown_pair[0])[:16]}": "CLIENT_UNKNOWN",
        f"audited-revoked@{ORG}": "CLIENT_REVOKED",
        f"refused sha256:{public_key_sha256(minting[0])[:16]}": "CLIENT_CERTIFICATE_REFUSED",
    }
    for client, reason in expected.items():
        details = [json.loads(e.entry)["details"] for e in entries if e.kind == "CALL_REFUSED" and e.client == client]
        assert 1 <= len(details) <= 2, client  # one a minute: two if the calls straddled a minute
        assert sum(d["count"] for d in details) == len(METHODS), client
        assert set().union(*(d["methods"] for d in details)) == {path_of(m) for m in METHODS}, client
        assert set().union(*(d["reasons"] for d in details)) == {reason}, client


@pytest.mark.integration
async def test_a_client_whose_label_would_not_fit_the_audit_log_cannot_be_added(server: Harness) -> None:
    # Review 13: the log names a client name@organisation in a column of 200 characters; a longer label (a 64-letter
    # name of a 190-character organisation) left its calls unaudited (its CALL_REFUSED entry never appeared).
    assert server.pki is not None
    pair = server.pki.client("long-label")
    with pytest.raises(ServiceError) as caught:
        await server.service.clients.add(pair[0], "533401-" + "x" * 190, [Role.CASE_SYSTEM], name="n" * 64)
    assert caught.value.reason == "INVALID_REQUEST" and "200" in repr(caught.value.violations)
