"""PostgreSQL under load through the real gRPC API: 200 concurrent CreateVerification with instant sandbox
departments all complete with a report in which every department answered, and none is refused UNKNOWN.

The server runs with the default pool (10 connections + 20 overflow, 5 s timeout); the client is hedui's own
channel, which retries a call refused UNAVAILABLE (DATABASE_BUSY) as every case system is told to, over mutual
TLS, four case systems' client certificates sharing the load.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

import grpc
import pytest
from harness import PostgresCluster, example_request, example_sandbox, running_service

from hedui.v1 import verification_pb2, verification_pb2_grpc
from verifier.access import ClientTransport, Role
from verifier.cli._common import hedui_channel
from verifier.protojson import message_to_plain, plain_to_message
from verifier.request import parse_request

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow]

CONCURRENT = 200
CLIENTS = 4
# Generous for a loaded two-core machine; a verification without a report by then is counted, not waited for.
SETTLE_SECONDS = 300.0
DEPARTMENTS = ("banks", "housing", "police", "social_security", "tax", "vehicles")


async def _settled(stub: Any, name: str, metadata: Any) -> verification_pb2.Verification:
    """Watch until the first report exists and nothing is still being asked."""
    async for event in stub.WatchVerification(verification_pb2.WatchVerificationRequest(name=name), metadata=metadata):
        v = event.verification
        if v.latest_report and v.state != verification_pb2.Verification.RUNNING:
            return v
    raise AssertionError(f"{name}: the watch ended without a report")


async def _state_now(stub: Any, name: str, metadata: Any) -> str:
    """The verification's state and report version as GetVerification shows it now (for a failure's message)."""
    if not name:
        return "not created"
    try:
        now = await stub.GetVerification(
            verification_pb2.GetVerificationRequest(name=name), metadata=metadata, timeout=30
        )
    except grpc.aio.AioRpcError as error:
        return f"GetVerification {error.code().name}"
    return f"now {verification_pb2.Verification.State.Name(now.state)}, report {now.latest_report or 'none'}"


async def test_200_concurrent_verifications_all_complete_and_none_is_unknown(postgres: PostgresCluster) -> None:
    async with running_service(postgres.create_database(), example_sandbox()) as h:
        request = example_request()
        authorization = await h.register(h.envelope(parse_request(request)))
        failures: collections.Counter[str] = collections.Counter()
        # Four case systems' client certificates over mutual TLS (issue 13), each on hedui's retrying channel, fifty
        # verifications each: within a client's 64 watch streams and a connection's 100 concurrent streams.
        assert h.pki is not None
        stubs = []
        async with contextlib.AsyncExitStack() as channels:
            for n in range(CLIENTS):
                certificate, key = h.pki.client(f"load-test-{n}")
                roles = [Role.CASE_SYSTEM.value]
                await h.service.clients.add(certificate, "533401-civil-affairs", roles, name=f"load-test-{n}")
                transport = ClientTransport(h.pki.ca, certificate, key, server_name="localhost")
                channel = await channels.enter_async_context(hedui_channel(f"127.0.0.1:{h.port}", transport))
                stubs.append(verification_pb2_grpc.VerificationServiceStub(channel))

            loop = asyncio.get_running_loop()

            async def one(i: int) -> dict[str, Any] | None:
                message = verification_pb2.CreateVerificationRequest(
                    authorizations=[authorization.name], request_id=f"load-{i}"
                )
                plain_to_message(request, message.request)
                stub = stubs[i % CLIENTS]
                name, started = "", loop.time()
                try:
                    created = await stub.CreateVerification(message, metadata=h.metadata, timeout=120)
                    name = created.name
                    async with asyncio.timeout(SETTLE_SECONDS):
                        settled = await _settled(stub, created.name, h.metadata)
                    report = await stub.GetReport(
                        verification_pb2.GetReportRequest(name=f"{created.name}/reports/latest"),
                        metadata=h.metadata,
                        timeout=120,
                    )
                except (grpc.aio.AioRpcError, TimeoutError) as error:
                    # Say what ended the wait, after how long, and what the verification shows now: a watch the
                    # server cut is not a verification that never finished.
                    waited = f"after {loop.time() - started:.0f} s"
                    if isinstance(error, TimeoutError):
                        what = f"no report within {SETTLE_SECONDS:g} s"
                    else:
                        what = f"{error.code().name}: {error.details()} {waited}"
                    failures[f"{what}; {await _state_now(stub, name, h.metadata)}"] += 1
                    return None
                assert settled.state == verification_pb2.Verification.COMPLETED, (created.name, settled.state)
                return message_to_plain(report)

            async with asyncio.timeout(SETTLE_SECONDS + 120):
                reports = await asyncio.gather(*(one(i) for i in range(CONCURRENT)))
        assert not failures, dict(failures)
        assert len({r["verification_id"] for r in reports if r is not None}) == CONCURRENT
        for report in reports:
            assert report is not None
            # Instant departments: each one answered (none "no answer within the deadline").
            assert {s["department"]: s["status"] for s in report["sources"]} == dict.fromkeys(DEPARTMENTS, "ok")
            assert report["version"] == 1
            assert report["assessment"]["classification"] == "DIBAO_AFTER_DEDUCTIONS"
