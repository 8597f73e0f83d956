"""Issue 13 (input): what one caller may cost — watch streams per caller and in all, one audit entry for a
minute of reads of one report, and the server's own limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import grpc
import pytest
from harness import error_details, example_request, example_sandbox, running_service

from hedui.v1 import audit_pb2, verification_pb2
from verifier.api import SERVER_OPTIONS
from verifier.errors import Reason, ServiceError
from verifier.limits import MAX_CONCURRENT_RPCS, SERVER_LIMITS, server_arguments
from verifier.operations import Caller
from verifier.quotas import MAX_WATCHES_PER_CALLER, ReadWindows, StreamQuota, caller_key
from verifier.request import parse_request


def test_streams_are_bounded_per_caller_and_in_all() -> None:
    quota = StreamQuota(per_caller=2, total=3)
    with quota.held("a"), quota.held("a"):
        with pytest.raises(ServiceError) as caught, quota.held("a"):
            pass
        assert caught.value.reason == Reason.TOO_MANY_STREAMS and caught.value.code == "RESOURCE_EXHAUSTED"
        with quota.held("b"), pytest.raises(ServiceError), quota.held("c"):  # three open: the total is reached
            pass
        assert quota.open_streams() == 2 and quota.open_streams("a") == 2
    assert quota.open_streams() == 0 and quota.open_streams("a") == 0
    with quota.held("a"):  # a stream closed is a stream freed
        assert quota.open_streams("a") == 1


def test_reads_of_one_report_within_a_window_are_one_entry_with_a_count() -> None:
    now = [100.0]
    windows = ReadWindows(window=60.0, clock=lambda: now[0])
    assert windows.reads_to_record("client-1", "r1") == 1  # the first read is recorded at once
    now[0] += 10
    assert [windows.reads_to_record("client-1", "r1") for _ in range(3)] == [0, 0, 0]
    assert windows.reads_to_record("client-2", "r1") == 1  # another caller: its own entry
    assert windows.reads_to_record("client-1", "r2") == 1  # another report: its own entry
    now[0] += 51  # 61 s after the recorded read: the window closed
    assert windows.reads_to_record("client-1", "r1") == 4  # the three counted and this one
    assert windows.reads_to_record("client-1", "r1") == 0


def test_the_caller_key_is_the_client() -> None:
    assert caller_key(Caller("worker-1", "ipv4:10.0.0.1:5000")) == caller_key(Caller("worker-2", "ipv4:10.0.0.1:5000"))
    assert caller_key(Caller("w", "a")) != caller_key(Caller("w", "b"))


def test_the_server_gets_the_limits_without_losing_build_server_s_options() -> None:
    arguments = server_arguments(SERVER_OPTIONS, ())
    options = dict(arguments["options"])
    assert options["grpc.max_receive_message_length"] == 4 * 1024 * 1024 and options["grpc.keepalive_time_ms"]
    assert all(options[name] == value for name, value in SERVER_LIMITS)
    assert arguments["maximum_concurrent_rpcs"] == MAX_CONCURRENT_RPCS
    overridden = dict(server_arguments([("grpc.max_concurrent_streams", 7)], ())["options"])
    assert overridden["grpc.max_concurrent_streams"] == 7


@pytest.mark.integration
async def test_a_caller_s_watch_streams_beyond_its_share_are_refused(db_url: str) -> None:
    sandbox = example_sandbox()
    sandbox["banks"]["answer_after_seconds"] = 120  # the verification stays open: watchers stay
    async with running_service(db_url, sandbox, deadline=3.0, poll=0.5) as h:
        auth = await h.register(h.envelope(parse_request(example_request())))
        created = await h.create(example_request(), [auth.name])
        request = verification_pb2.WatchVerificationRequest(name=created.name)
        first_events: list[asyncio.Event] = [asyncio.Event() for _ in range(MAX_WATCHES_PER_CALLER)]

        async def watch(seen: asyncio.Event) -> None:
            async for _ in h.verifications.WatchVerification(request, metadata=h.metadata):
                seen.set()

        watchers = [asyncio.ensure_future(watch(e)) for e in first_events]
        try:
            async with asyncio.timeout(60):
                await asyncio.gather(*(e.wait() for e in first_events))  # every stream is open and holds its place
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _ in h.verifications.WatchVerification(request, metadata=h.metadata):
                    pass
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error_details(caught.value)[0] == "TOO_MANY_STREAMS"
            watchers[0].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchers[0]
            seen = asyncio.Event()
            async with asyncio.timeout(60):
                while True:  # the server frees the place once it sees the stream cancelled
                    again = asyncio.ensure_future(watch(seen))
                    done, _ = await asyncio.wait({again}, timeout=1.0)
                    if not done:
                        watchers.append(again)
                        break
                    assert isinstance(again.exception(), grpc.aio.AioRpcError)
            async with asyncio.timeout(60):
                await seen.wait()
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)


def _read_entries(events: Any) -> list[dict[str, Any]]:
    return [json.loads(e.entry) for e in events if e.kind == "REPORT_READ"]


@pytest.mark.integration
async def test_a_minute_of_reads_of_one_report_is_one_entry_then_one_with_the_count(db_url: str) -> None:
    async with running_service(db_url, example_sandbox()) as h:
        v = await h.run(example_request())
        now = [0.0]
        h.service.reports.read_windows = ReadWindows(clock=lambda: now[0])
        get = verification_pb2.GetReportRequest(name=f"{v.name}/reports/latest")
        for _ in range(4):
            await h.verifications.GetReport(get, metadata=h.metadata)
        listed = await h.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_size=500, kind="REPORT_READ"))
        assert len(_read_entries(listed.events)) == 1
        now[0] += 61
        await h.verifications.GetReport(get, metadata=h.metadata)
        listed = await h.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_size=500, kind="REPORT_READ"))
        entries = _read_entries(listed.events)
        assert len(entries) == 2
        assert "reads" not in json.dumps(entries[0]) and '"reads": 4' in json.dumps(entries[1])
