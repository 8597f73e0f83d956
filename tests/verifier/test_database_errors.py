"""A database busy or out of reach: DATABASE_BUSY (UNAVAILABLE with RetryInfo) from the API, exit 2 and one line from
a command, and hedui's gRPC channel retrying UNAVAILABLE — without a database (the real ones are in
test_database_unavailable.py)."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from admitted import admitted_client
from google.rpc import error_details_pb2, status_pb2
from hedui_cli import hedui_here
from sqlalchemy import exc as sa_exc

from hedui.v1 import verification_pb2, verification_pb2_grpc
from verifier import api
from verifier.cli._common import hedui_channel
from verifier.errors import DATABASE_RETRY_SECONDS, Reason, ServiceError, database_failure


def _wrapped(driver_error: BaseException, kind: type[sa_exc.DBAPIError] = sa_exc.DBAPIError) -> sa_exc.DBAPIError:
    """A driver's error as SQLAlchemy's asyncpg adapter raises it: a DBAPIError whose ``orig`` was caused by it."""
    adapted = Exception(str(driver_error))
    adapted.__cause__ = driver_error
    return kind("SELECT secret_column FROM verifications WHERE id = $1", None, adapted)


BUSY: list[tuple[str, BaseException]] = [
    ("pool timeout", sa_exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached, connection timed out")),
    ("connection refused", ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")),
    ("connection reset", ConnectionResetError(104, "Connection reset by peer")),
    (
        "connection lost",
        sa_exc.DBAPIError("SELECT 1", None, Exception("connection was closed"), connection_invalidated=True),
    ),
    ("too many connections", _wrapped(asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"))),
    ("server shutting down", _wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection"))),
    ("server starting", _wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up"))),
    ("connection failure", _wrapped(asyncpg.exceptions.ConnectionFailureError("connection failure"))),
    ("sqlite locked", sa_exc.OperationalError("INSERT …", None, sqlite3.OperationalError("database is locked"))),
    ("in a task group", ExceptionGroup("tasks", [ValueError("other"), sa_exc.TimeoutError("pool")])),
]
NOT_BUSY: list[tuple[str, BaseException]] = [
    ("a bug", RuntimeError("a bug")),
    ("a refusal", ServiceError(Reason.NOT_FOUND, "x not found")),
    ("unique violation", _wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key"), sa_exc.IntegrityError)),
    ("undefined table", _wrapped(asyncpg.exceptions.UndefinedTableError("no such relation"), sa_exc.ProgrammingError)),
    ("sqlite syntax", sa_exc.OperationalError("SELEC", None, sqlite3.OperationalError('near "SELEC": syntax error'))),
    ("not invalidated", sa_exc.DBAPIError("SELECT 1", None, Exception("division by zero"))),
    ("a timeout elsewhere", TimeoutError()),
]


@pytest.fixture(autouse=True)
def admitted(request: pytest.FixtureRequest) -> Iterator[None]:
    """Issue 13 (review S9): the servicers run for a client the access interceptor admitted, as served."""
    with admitted_client():
        yield


@pytest.mark.parametrize(("what", "error"), BUSY, ids=[w for w, _ in BUSY])
def test_a_database_out_of_reach_is_database_busy(what: str, error: BaseException) -> None:
    refusal = database_failure(error)
    assert refusal is not None, what
    assert (refusal.reason, refusal.code, refusal.retry_delay) == (Reason.DATABASE_BUSY, "UNAVAILABLE", 1.0)
    assert "SELECT" not in refusal.message and "QueuePool" not in refusal.message and "asyncpg" not in refusal.message


@pytest.mark.parametrize(("what", "error"), NOT_BUSY, ids=[w for w, _ in NOT_BUSY])
def test_other_failures_are_not_database_busy(what: str, error: BaseException) -> None:
    assert database_failure(error) is None, what


class FakeContext:
    """The parts of a grpc.aio servicer context that api.py uses; it records the status the call ended with."""

    def __init__(self) -> None:
        self.status: grpc.Status | None = None

    async def abort_with_status(self, status: grpc.Status) -> None:
        self.status = status
        raise grpc.RpcError


async def test_the_api_refuses_a_busy_database_with_unavailable_retry_info_and_pushback() -> None:
    async def work() -> int:
        raise _wrapped(asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"))

    context = FakeContext()
    with pytest.raises(grpc.RpcError):
        await api._call(context, work())  # type: ignore[arg-type]
    status = context.status
    assert status is not None and status.code == grpc.StatusCode.UNAVAILABLE
    (details_key, raw), pushback = status.trailing_metadata
    assert details_key == "grpc-status-details-bin"
    assert pushback == ("grpc-retry-pushback-ms", "1000")
    decoded = status_pb2.Status.FromString(raw)
    assert decoded.code == grpc.StatusCode.UNAVAILABLE.value[0] and decoded.message == status.details
    assert "SELECT" not in decoded.message and "too many" not in decoded.message
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert decoded.details[0].Unpack(info) and decoded.details[1].Unpack(retry)
    assert (info.reason, info.domain) == ("DATABASE_BUSY", "hedui.v1")
    assert retry.retry_delay.ToMilliseconds() == DATABASE_RETRY_SECONDS * 1000 == 1000


async def test_the_api_refuses_a_bug_with_internal_and_without_its_text() -> None:
    # Issue 13: a bug is not let through as UNKNOWN (whose message would carry the exception's text, SQL and all).
    async def work() -> int:
        raise KeyError("a bug [SQL: SELECT secret]")

    context = FakeContext()
    with pytest.raises(grpc.RpcError):
        await api._call(context, work())  # type: ignore[arg-type]
    assert context.status is not None and context.status.code == grpc.StatusCode.INTERNAL
    assert "SQL" not in context.status.details and "a bug" not in context.status.details


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


def test_a_command_whose_database_is_out_of_reach_exits_2_with_one_line(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{_refused_port()}/hedui"
    request = Path(__file__).resolve().parents[2] / "verifier" / "data" / "demo-household.json"
    done = hedui_here("verify", str(request), "--db", url, cwd=tmp_path)
    assert done.returncode == 2, done
    assert (
        done.stderr == "hedui: error: database: busy or out of reach (ConnectionRefusedError); try again in a moment\n"
    )
    assert done.stdout == ""


# --- the channel hedui's clients use --------------------------------------------------------------


class FlakyVerifications:
    """GetVerification answering ``failures`` UNAVAILABLE first (or every time), counting the attempts."""

    def __init__(self, failures: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        self.failures, self.code, self.attempts = failures, code, 0

    async def get(self, request: verification_pb2.GetVerificationRequest, context: Any) -> Any:
        self.attempts += 1
        if self.attempts <= self.failures:
            await context.abort(self.code, "busy", trailing_metadata=(("grpc-retry-pushback-ms", "10"),))
        return verification_pb2.Verification(name=request.name)


async def _serve(servicer: FlakyVerifications) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(
        servicer.get,
        request_deserializer=verification_pb2.GetVerificationRequest.FromString,
        response_serializer=verification_pb2.Verification.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("hedui.v1.VerificationService", {"GetVerification": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.mark.parametrize(
    ("failures", "code", "attempts", "answered"),
    [
        (2, grpc.StatusCode.UNAVAILABLE, 3, True),  # two refusals, then the answer
        (10, grpc.StatusCode.UNAVAILABLE, 4, False),  # gives up after 4 attempts: the caller sees UNAVAILABLE
        (1, grpc.StatusCode.NOT_FOUND, 1, False),  # only UNAVAILABLE is retried
    ],
)
async def test_hedui_channel_retries_unavailable_a_few_times(
    failures: int, code: grpc.StatusCode, attempts: int, answered: bool
) -> None:
    servicer = FlakyVerifications(failures, code)
    server, port = await _serve(servicer)
    try:
        async with hedui_channel(f"127.0.0.1:{port}") as channel:
            stub = verification_pb2_grpc.VerificationServiceStub(channel)
            request = verification_pb2.GetVerificationRequest(name="verifications/v-1")
            if answered:
                assert (await stub.GetVerification(request, timeout=30)).name == "verifications/v-1"
            else:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await stub.GetVerification(request, timeout=30)
                assert caught.value.code() == code
        assert servicer.attempts == attempts
    finally:
        await server.stop(None)
