"""A database whose pool is dry, or that has stopped, through a real gRPC server on loopback: every call is refused
UNAVAILABLE with reason DATABASE_BUSY and a RetryInfo, never UNKNOWN and never with SQL text; the service answers
again once the database does."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from harness import (
    example_request,
    example_sandbox,
    signed_envelope,
)
from own_cluster import OwnCluster, own_cluster

from connectors import SandboxDataset, sandbox_connectors
from consent import SigningKey
from hedui.v1 import audit_pb2, audit_pb2_grpc, consent_pb2, consent_pb2_grpc, verification_pb2, verification_pb2_grpc
from verifier.api import build_server, envelope_message
from verifier.cli._common import hedui_channel
from verifier.config import Settings
from verifier.protojson import plain_to_message
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database

pytestmark = pytest.mark.integration

ORG = "533401-civil-affairs"
# Words of SQL, of the pool and of the drivers that a refusal's message must never carry.
LEAKS = ("select", "insert", "from ", "queuepool", "sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "[sql")


def _busy(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, float, str]:
    """(code, ErrorInfo reason, RetryInfo delay in seconds, pushback trailer) of a refusal; the message checked."""
    message = (error.details() or "").lower()
    assert not any(word in message for word in LEAKS), message
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the refusal carries no google.rpc.Status"
    reason, delay = "", -1.0
    for item in status.details:
        if item.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            item.Unpack(info)
            reason = info.reason
        elif item.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            item.Unpack(retry)
            delay = retry.retry_delay.ToMilliseconds() / 1000
    pushback = dict(error.trailing_metadata() or ()).get("grpc-retry-pushback-ms", "")
    return error.code(), reason, delay, str(pushback)


class Service:
    """A hedui service over ``db`` with sandbox departments, its gRPC server on loopback and a plain channel."""

    def __init__(self, db: Database, url: str) -> None:
        settings = Settings(database_url=url, audit_subject_key=b"k" * 32, audit_integrate_seconds=3600.0)
        self.service = HeduiService(db, sandbox_connectors(SandboxDataset.from_json(example_sandbox())), settings)
        self.key = SigningKey.generate_ed25519()
        self.port = 0

    async def start(self) -> Callable[[], Awaitable[None]]:
        """Start the service and its server; the organisation's key trusted."""
        await self.service.start()
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        await self.service.trust_store.add(ORG, self.key.public_pem(), not_before=since)
        _, self.port, stop = await build_server(self.service, "127.0.0.1:0")
        return stop


@contextlib.asynccontextmanager
async def served(db: Database, url: str) -> AsyncIterator[tuple[Service, grpc.aio.Channel]]:
    """The service running, a channel without retries (each refusal is seen), everything closed afterwards."""
    running = Service(db, url)
    stop = await running.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield running, channel
    finally:
        await channel.close()
        await stop()
        await running.service.close()


def _calls(channel: grpc.aio.Channel, envelope: Any, authorization: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    """One call of each kind that needs the database: reads, writes, a stream."""
    verifications = verification_pb2_grpc.VerificationServiceStub(channel)
    audit = audit_pb2_grpc.AuditServiceStub(channel)
    consent_stub = consent_pb2_grpc.ConsentServiceStub(channel)
    create = verification_pb2.CreateVerificationRequest(authorizations=[authorization], request_id="busy-1")
    plain_to_message(example_request(), create.request)

    async def watch() -> list[Any]:
        stream = verifications.WatchVerification(verification_pb2.WatchVerificationRequest(name="verifications/v0"))
        return [event async for event in stream]

    return {
        "GetVerification": lambda: verifications.GetVerification(
            verification_pb2.GetVerificationRequest(name="verifications/v0"), timeout=30
        ),
        "ListVerifications": lambda: verifications.ListVerifications(
            verification_pb2.ListVerificationsRequest(), timeout=30
        ),
        "ListAuditEvents": lambda: audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(), timeout=30),
        "RegisterAuthorization": lambda: consent_stub.RegisterAuthorization(
            consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(envelope), request_id="busy-2"),
            timeout=30,
        ),
        "CreateVerification": lambda: verifications.CreateVerification(create, timeout=30),
        "WatchVerification": watch,
    }


async def _every_call_is_refused_busy(calls: dict[str, Callable[[], Awaitable[Any]]]) -> None:
    for method, call in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call()
        assert _busy(caught.value) == (grpc.StatusCode.UNAVAILABLE, "DATABASE_BUSY", 1.0, "1000"), method


async def _registered(running: Service) -> tuple[Any, str]:
    """A second envelope (not yet registered) and the name of a registered authorization, both for the example."""
    request = parse_request(example_request())
    first = signed_envelope(request, running.key)
    registered = await running.service.authorizations.register(first)
    second = signed_envelope(request, running.key, valid_until=dt.date.today() + dt.timedelta(days=30))
    return second, registered.name


async def test_a_dry_pool_is_unavailable_with_retry_info_then_answers_again(db_url: str) -> None:
    db = Database(db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    async with served(db, db_url) as (running, channel):
        envelope, authorization = await _registered(running)
        calls = _calls(channel, envelope, authorization)
        held = await db.engine.connect()  # the pool's only connection, held by the test
        try:
            await _every_call_is_refused_busy(calls)
        finally:
            await held.close()
        with pytest.raises(grpc.aio.AioRpcError) as caught:  # the database answers again: a real NOT_FOUND
            await calls["GetVerification"]()
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert (await calls["RegisterAuthorization"]()).name.startswith("authorizations/")
        # Last: its verification then runs in the background on the pool's one connection.
        assert (await calls["CreateVerification"]()).name.startswith("verifications/")


class Refusals(logging.Handler):
    """Sets ``seen`` when the API logs a refusal for a busy database."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "database busy" in record.getMessage():
            self.seen.set()


async def test_hedui_channel_retries_until_the_pool_has_a_connection(db_url: str) -> None:
    db = Database(db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    refusals, logger = Refusals(), logging.getLogger("hedui.api")
    async with served(db, db_url) as (running, _):
        held = await db.engine.connect()
        logger.addHandler(refusals)
        async with hedui_channel(f"127.0.0.1:{running.port}") as channel:
            stub = verification_pb2_grpc.VerificationServiceStub(channel)
            call = asyncio.ensure_future(
                stub.GetVerification(verification_pb2.GetVerificationRequest(name="verifications/v0"), timeout=60)
            )
            try:
                async with asyncio.timeout(30):  # the server refused the first attempt
                    await refusals.seen.wait()
            finally:
                logger.removeHandler(refusals)
                await held.close()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
        # A retry reached the database: NOT_FOUND (not retried), not the UNAVAILABLE of the first attempt.
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# --- PostgreSQL stopped -------------------------------------------------------------------------------


@pytest.fixture(name="own_cluster")
def own_cluster_fixture() -> Iterator[OwnCluster]:
    """A throw-away PostgreSQL cluster of this test alone (tests/support/own_cluster.py), to stop and start."""
    with own_cluster() as cluster:
        yield cluster


@pytest.mark.postgres
async def test_postgresql_stopped_is_unavailable_with_retry_info_then_answers_again(own_cluster: OwnCluster) -> None:
    url = own_cluster.cluster.create_database()
    async with served(Database(url), url) as (running, channel):
        envelope, authorization = await _registered(running)
        calls = _calls(channel, envelope, authorization)
        own_cluster.stop()
        try:
            await _every_call_is_refused_busy(calls)
        finally:
            own_cluster.start()
        with pytest.raises(grpc.aio.AioRpcError) as caught:  # the pool reconnects: a real NOT_FOUND
            await calls["GetVerification"]()
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert (await calls["CreateVerification"]()).name.startswith("verifications/")
