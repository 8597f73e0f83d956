"""hedui's logs: one JSON line per call with its request id; text on a terminal; no personal data anywhere."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from harness import Harness, example_request

from hedui.v1 import consent_pb2
from verifier.observability import JsonFormatter, TextFormatter, configure_logging
from verifier.observability._calls import _loggable
from verifier.request import parse_request

APPLICANT = "533401197803120118"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every record of the test as hedui's JSON lines (as `hedui serve` writes them to stderr)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def _calls(stream: io.StringIO) -> list[dict[str, Any]]:
    """The call lines among the JSON lines (each line must be JSON)."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "hedui.call"]


@pytest.mark.integration
async def test_one_json_line_per_call_with_the_clients_request_id(harness: Harness, json_lines: io.StringIO) -> None:
    harness.metadata = (*harness.metadata, ("x-request-id", "case-2026-0042"))
    request = example_request()
    authorization = await harness.register(harness.envelope(parse_request(request)))
    created = await harness.create(request, [authorization.name])
    await harness.settle(created.name)
    async with asyncio.timeout(30):  # the watch's line is written when the server has ended the stream
        while len(mine := [c for c in _calls(json_lines) if c.get("request_id") == "case-2026-0042"]) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    methods = ["RegisterAuthorization", "CreateVerification", "WatchVerification"]
    assert [c["grpc_method"] for c in mine] == methods
    for line in mine:
        assert line["level"] == "INFO" and line["grpc_code"] == "OK"
        assert line["grpc_service"].startswith("hedui.v1.")
        assert line["client"].startswith("ipv4:127.0.0.1:") and line["duration_ms"] >= 0
        assert line["time"].endswith("+00:00")


@pytest.mark.integration
async def test_a_call_without_a_request_id_gets_one_in_its_trailers_and_its_line(
    harness: Harness, json_lines: io.StringIO
) -> None:
    reply = harness.consent.ListAuthorizations(consent_pb2.ListAuthorizationsRequest(), metadata=harness.metadata)
    await reply
    trailers = dict(await reply.trailing_metadata() or ())
    made = trailers["x-request-id"]
    assert len(made) == 32 and int(made, 16) >= 0  # a fresh uuid4, hex
    assert [line["request_id"] for line in _calls(json_lines) if line["grpc_method"] == "ListAuthorizations"] == [made]


@pytest.mark.integration
async def test_a_request_id_that_is_not_plain_is_replaced(harness: Harness, json_lines: io.StringIO) -> None:
    metadata = (*harness.metadata, ("x-request-id", "a b; c" + "x" * 200))
    reply = harness.consent.ListAuthorizations(consent_pb2.ListAuthorizationsRequest(), metadata=metadata)
    await reply
    made = dict(await reply.trailing_metadata() or ())["x-request-id"]
    assert "a b" not in made and len(made) == 32


@pytest.mark.integration
async def test_an_identity_number_in_a_request_id_is_logged_masked(harness: Harness, json_lines: io.StringIO) -> None:
    """A case system using the applicant's identity number as its request id: the caller gets its id back in
    the trailers, the log line shows it masked (first 6, last 4)."""
    request_id = "case-533401197803120118-1"
    metadata = (*harness.metadata, ("x-request-id", request_id))
    reply = harness.consent.ListAuthorizations(consent_pb2.ListAuthorizationsRequest(), metadata=metadata)
    await reply
    assert dict(await reply.trailing_metadata() or ())["x-request-id"] == request_id
    logged = [line["request_id"] for line in _calls(json_lines) if line["grpc_method"] == "ListAuthorizations"]
    assert logged == ["case-533401********0118-1"]
    assert "533401197803120118" not in json_lines.getvalue()
    # A generated (hex) id whose digits happen to run long is not an identity number: logged as it is.
    assert _loggable("6a01469ae000a3290000000000000185") == "6a01469ae000a3290000000000000185"
    assert _loggable("533401197803120118") == "533401********0118"


def test_the_terminal_gets_text_and_a_pipe_gets_json() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        for stream, formatter in ((Terminal(), TextFormatter), (io.StringIO(), JsonFormatter)):
            configure_logging("auto", "INFO", stream)
            assert [type(h.formatter) for h in root.handlers] == [formatter]
            logging.getLogger("hedui.test").info("verification %s stored", "v-1")
            line = stream.getvalue().splitlines()[-1]
            if formatter is TextFormatter:
                assert line.endswith("INFO    hedui.test verification v-1 stored")
            else:
                assert json.loads(line)["message"] == "verification v-1 stored"
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_the_watch_catches_a_full_identity_number_and_a_name(_personal_data_watch: Any) -> None:  # noqa: PT019
    log = logging.getLogger("hedui.test")
    log.warning("asked about %s", "533401********0118")  # masked: fine
    assert _personal_data_watch.leaks == []
    log.warning("asked about %s", APPLICANT)
    log.warning("asked about %s", "张建国")
    leaks = list(_personal_data_watch.leaks)
    _personal_data_watch.leaks.clear()  # this test's own leaks are on purpose
    assert leaks == ["hedui.test: 533401********0118 in full", "hedui.test: a test person's name (张…)"]
