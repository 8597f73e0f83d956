"""A reference connector server: serves any :class:`~connectors.base.Connector` as ``hedui.v1.ConnectorService``.

This is the example a department's developer copies. It is a grpc.aio server with TLS from a
certificate and key, standard health checking and reflection, and one servicer,
:class:`ConnectorServicer`, that turns the three RPCs into calls of a Python connector:

- ``Describe`` → :meth:`Connector.describe` (department, data categories, limits);
- ``Query`` → :meth:`Connector.query`: refused with ``PERMISSION_DENIED`` when the request carries no
  authorization reference or (issue 13, when the server holds hedui's token key) no query token hedui signed for
  this very query (:mod:`connectors.query_token`), ``INVALID_ARGUMENT`` for an empty or oversized batch or a missing or
  malformed ``idempotency_key`` (with a ``google.rpc.BadRequest`` naming the field);
- ``Poll`` → :meth:`Connector.poll` for the ticket of an asynchronous answer (with hedui's token key: only under
  a query token hedui signed for that ticket, as a query).

Connector exceptions become status codes hedui understands (see ``proto/hedui/v1/connector.proto``):
:class:`DepartmentRefused` → ``PERMISSION_DENIED``; :class:`DepartmentUnavailable` → ``UNAVAILABLE``
when transient, else ``INTERNAL``; anything unexpected → ``INTERNAL`` without internals in the
message (the traceback goes to the server's log). Every error carries a ``google.rpc.ErrorInfo``
(domain ``hedui.connectors``) whose reason a client can match on.

The rule of ``QueryRequest.idempotency_key`` — an identity number is looked up at most once per
key, a repeated (key, identity number) answered from the first answer — is the connector's to keep;
the servicer checks the key and passes it on. The sandbox keeps it itself
(:class:`~connectors.sandbox.SandboxConnector`, in memory); ``hedui connector serve --entry-point``
serves a department's own connector behind :class:`~connectors.idempotency.OncePerKey`, which keeps
it in front of any connector (in memory: a department that must keep it across restarts keeps its
first answers in its own database).

Run it with ``hedui connector serve --department tax --sandbox FILE --cert FILE --key FILE`` (or
``--self-signed-out DIR`` for a development certificate), and check it with ``hedui connector check
--address HOST:PORT --cert FILE``. A server in another language implements the same proto.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from connectors.base import (
    Connector,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
    idempotency_keys,
)
from connectors.query_token import QUERY_TOKEN_METADATA, QueryClaims, QueryTokenVerifier
from connectors.wire import MAX_TICKET_ID_LENGTH, answer_to_message, description_to_message, ticket_to_message
from hedui.v1 import connector_pb2, connector_pb2_grpc

__all__ = ["SERVICE_NAME", "ConnectorServer", "ConnectorServicer", "start_connector_server"]

log = logging.getLogger("hedui.connector_server")

SERVICE_NAME: Final = "hedui.v1.ConnectorService"
DOMAIN: Final = "hedui.connectors"
MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024
MAX_ID_NUMBER_LENGTH: Final = 64
# Keep these in step with the client's (connectors/remote.py): same message limit, keepalive allowed.
SERVER_OPTIONS: Final = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
]

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


async def abort(context: Context, code: grpc.StatusCode, reason: str, message: str, *, field: str = "") -> None:
    """End the call with ``code``, ``message`` and an ``ErrorInfo`` carrying ``reason`` (UPPER_SNAKE_CASE).

    With ``field``, a ``google.rpc.BadRequest`` names the request's field that is wrong.
    """
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN))
    details = [info]
    if field:
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
        bad = any_pb2.Any()
        bad.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
        details.append(bad)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    await context.abort_with_status(rpc_status.to_status(status))


def _token_of(context: Context) -> str:
    """The call's query token (metadata ``x-hedui-query-token``), "" when it has none."""
    token = next((v for k, v in context.invocation_metadata() or () if k == QUERY_TOKEN_METADATA), "")
    return token if isinstance(token, str) else ""


class ConnectorServicer(connector_pb2_grpc.ConnectorServiceServicer):
    """``hedui.v1.ConnectorService`` over one Python connector.

    A department copies this class and passes its own connector (an object with ``describe``,
    ``query`` and ``poll``). The connector decides what it answers; the servicer checks the
    request, converts the records to protobuf and the exceptions to status codes.
    """

    def __init__(self, connector: Connector, tokens: QueryTokenVerifier | None = None) -> None:
        """Serve ``connector``; with ``tokens`` (issue 13), a query is answered only under a query token that
        hedui's key signed for it (:mod:`connectors.query_token`)."""
        self.connector = connector
        self.tokens = tokens

    async def Describe(  # noqa: N802 - gRPC method name
        self, request: connector_pb2.DescribeRequest, context: Context
    ) -> connector_pb2.ConnectorDescription:
        """The connector's description on the wire; one that breaks the contract is INTERNAL."""
        try:
            return description_to_message(self.connector.describe())
        except ValueError as exc:
            # hedui would refuse it anyway; say what is wrong where the department's developer looks.
            log.error("the connector's description breaks the contract: %s", exc)
            await abort(context, grpc.StatusCode.INTERNAL, "BAD_DESCRIPTION", str(exc))
        raise AssertionError("unreachable: abort raises")

    async def Query(  # noqa: N802 - gRPC method name
        self, request: connector_pb2.QueryRequest, context: Context
    ) -> connector_pb2.QueryResponse:
        """Ask the connector; its answer or ticket on the wire, its errors as the status codes hedui understands."""
        if not request.authorization_reference.strip():
            # Every query is made under the applicants' signed authorization: never answer without one.
            await abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                "NO_AUTHORIZATION_REFERENCE",
                "the query carries no authorization reference",
            )
        if self.tokens is not None:
            await self._check_token(request, context)
        limit = self.connector.describe().max_batch_size
        if not request.id_numbers:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "EMPTY_BATCH", "no identity numbers")
        if len(request.id_numbers) > limit:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "BATCH_TOO_LARGE",
                f"{len(request.id_numbers)} identity numbers; this department takes at most {limit} per query",
            )
        if any(not n or len(n) > MAX_ID_NUMBER_LENGTH for n in request.id_numbers):
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "BAD_ID_NUMBER",
                f"identity numbers must be 1 to {MAX_ID_NUMBER_LENGTH} characters",
            )
        try:
            idempotency_keys(request.idempotency_key, limit)
        except ValueError as exc:
            problem = f"idempotency_key: {exc}"
            invalid = grpc.StatusCode.INVALID_ARGUMENT
            await abort(context, invalid, "BAD_IDEMPOTENCY_KEY", problem, field="idempotency_key")
        # An identity number the department does not know is not an error: the answer has no records for it.
        query = DepartmentQuery(
            query_id=request.query_id,
            id_numbers=tuple(request.id_numbers),
            authorization_reference=request.authorization_reference,
            purpose=request.purpose,
            idempotency_key=request.idempotency_key,
        )
        return self._response(await self._run(context, self.connector.query(query)))

    async def _check_token(self, request: connector_pb2.QueryRequest, context: Context) -> None:
        """Refuse (PERMISSION_DENIED, BAD_QUERY_TOKEN) a query whose token hedui did not sign for this very query:
        this department, authorization reference, idempotency key, purpose and people."""
        assert self.tokens is not None
        department = self.connector.describe().department
        expected = QueryClaims.of(
            department,
            request.authorization_reference,
            request.idempotency_key,
            request.purpose,
            list(request.id_numbers),
            0,
        )
        problem = self.tokens.problem(_token_of(context), expected)
        if problem is not None:
            await abort(context, grpc.StatusCode.PERMISSION_DENIED, "BAD_QUERY_TOKEN", problem)

    async def Poll(  # noqa: N802 - gRPC method name
        self, request: connector_pb2.PollRequest, context: Context
    ) -> connector_pb2.QueryResponse:
        """Poll a ticket of the connector."""
        if not request.ticket_id or len(request.ticket_id) > MAX_TICKET_ID_LENGTH:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "BAD_TICKET",
                f"ticket_id must be 1 to {MAX_TICKET_ID_LENGTH} characters",
            )
        department = self.connector.describe().department
        if self.tokens is not None:  # review S7: a ticket is polled by hedui only, under a token for that ticket
            problem = self.tokens.problem(_token_of(context), QueryClaims.of_poll(department, request.ticket_id, 0))
            if problem is not None:
                await abort(context, grpc.StatusCode.PERMISSION_DENIED, "BAD_QUERY_TOKEN", problem)
        ticket = Ticket(department=department, ticket_id=request.ticket_id, ready_after=dt.datetime.now(dt.UTC))
        return self._response(await self._run(context, self.connector.poll(ticket)))

    @staticmethod
    def _response(result: DepartmentAnswer | Ticket) -> connector_pb2.QueryResponse:
        if isinstance(result, Ticket):
            return ticket_to_message(result)
        return answer_to_message(result)

    async def _run(self, context: Context, work: Awaitable[T]) -> T:
        """Await the connector; its exceptions become status codes. Cancellation propagates untouched."""
        try:
            return await work
        except DepartmentRefused as exc:
            await abort(context, grpc.StatusCode.PERMISSION_DENIED, "DEPARTMENT_REFUSED", exc.reason)
        except DepartmentUnavailable as exc:
            code = grpc.StatusCode.UNAVAILABLE if exc.transient else grpc.StatusCode.INTERNAL
            await abort(context, code, "DEPARTMENT_UNAVAILABLE", exc.reason)
        except Exception:
            log.exception("the connector failed")
            await abort(context, grpc.StatusCode.INTERNAL, "CONNECTOR_ERROR", "the connector failed")
        raise AssertionError("unreachable: abort raises")


@dataclass
class ConnectorServer:
    """A running connector server: the port it listens on, and how to stop it."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer

    async def stop(self, grace: float = 2.0) -> None:
        """Say NOT_SERVING, let calls in flight finish for ``grace`` seconds, stop."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start_connector_server(
    connector: Connector,
    listen: str,
    certificate_chain: bytes,
    private_key: bytes,
    *,
    client_ca: bytes | None = None,
    query_token_keys: Sequence[bytes] = (),
) -> ConnectorServer:
    """Serve ``connector`` on ``listen`` (``HOST:PORT``; port 0 picks a free one) over TLS.

    ``certificate_chain`` and ``private_key`` are PEM. hedui pins the certificate the department
    hands over (this one if self-signed, else the department's CA), so keep the key private.
    Issue 13: with ``client_ca`` (PEM) the TLS handshake requires a client certificate that CA signed (hedui's);
    with ``query_token_keys`` (hedui's Ed25519 public keys, PEM) every query needs its query token.
    ``hedui connector serve`` gives both unless told ``--no-client-auth``.
    """
    server = grpc.aio.server(options=SERVER_OPTIONS)
    tokens = QueryTokenVerifier(query_token_keys) if query_token_keys else None
    connector_pb2_grpc.add_ConnectorServiceServicer_to_server(  # type: ignore[no-untyped-call]
        ConnectorServicer(connector, tokens), server
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    credentials = grpc.ssl_server_credentials(
        [(private_key, certificate_chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
    try:
        port = server.add_secure_port(listen, credentials)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {listen}: {exc}") from None
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    await server.start()
    for name in (SERVICE_NAME, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return ConnectorServer(server, port, health_servicer)
