"""Remote connectors: a department's own connector server, reached over TLS with its certificate pinned.

Issue 13: hedui presents its client certificate (mutual TLS) and signs each query's token
(:mod:`connectors.query_token`, in the ``x-hedui-query-token`` metadata), so the department answers hedui
only, and only the query an authorization covers.

:class:`RemoteConnector` implements :class:`~connectors.base.Connector` by calling the department's
``hedui.v1.ConnectorService`` (``Describe``, ``Query``, ``Poll``) over grpc.aio. The department's
certificate PEM is the only trusted root for that connection, so a server without the matching key
is refused even if a public CA vouches for it.

Everything the department answers is input: every record is checked with the typed records of
:mod:`connectors.records`; a malformed answer raises ``DepartmentUnavailable(transient=False)`` with
the field that is wrong. gRPC errors become :class:`DepartmentUnavailable` (``UNAVAILABLE``,
``DEADLINE_EXCEEDED``, ``RESOURCE_EXHAUSTED``, ``ABORTED``: transient; anything else unknown: not
transient) or :class:`DepartmentRefused` (``PERMISSION_DENIED``, ``INVALID_ARGUMENT``,
``UNAUTHENTICATED``, ``NOT_FOUND``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

import grpc
from google.protobuf.message import Message

from connectors.base import (
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
    idempotency_keys,
)
from connectors.departments import DepartmentCatalogue
from connectors.query_token import QUERY_TOKEN_METADATA, QueryTokenSigner
from connectors.registry import category_problem
from connectors.tls import CertificateError, load_certificates, split_address, target_name_override
from connectors.wire import WireError, description_from_message, response_from_message
from hedui.v1 import connector_pb2

__all__ = ["DEFAULT_CALL_TIMEOUT", "MAX_MESSAGE_BYTES", "RemoteConnector", "connector_factory"]

log = logging.getLogger("hedui.connectors.remote")
MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024
DEFAULT_CALL_TIMEOUT: Final = 10.0
"""Seconds a call may take unless configured (option ``timeout``): a hung department is a failure by then."""
SERVICE: Final = "/hedui.v1.ConnectorService/"
CHANNEL_OPTIONS: Final = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
]
_TRANSIENT: Final = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
_REFUSED: Final = frozenset(
    {
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.NOT_FOUND,
    }
)
_TLS_FAILURE: Final = ("ssl", "tls", "handshake", "certificate", "verification check")
_MAX_DETAIL = 300

Resp = TypeVar("Resp", bound=Message)


def _clean(text: str | None) -> str:
    """A department's error text, fit for a report: printable, one line, bounded."""
    flat = " ".join((text or "").split())
    flat = "".join(c for c in flat if c.isprintable())
    return flat[:_MAX_DETAIL] + ("…" if len(flat) > _MAX_DETAIL else "")


def rpc_error(
    department: str, method: str, error: grpc.aio.AioRpcError, *, tls_name: str = ""
) -> DepartmentUnavailable | DepartmentRefused:
    """The connector exception for a failed call, with the status code and the server's message.

    ``tls_name`` is the name the server's certificate is checked against, for the message of a
    failed TLS handshake.
    """
    code = error.code()
    details = _clean(error.details())
    reason = f"{method}: {code.name}: {details}" if details else f"{method}: {code.name}"
    if code in _REFUSED:
        return DepartmentRefused(department, reason)
    lowered = details.lower()
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in lowered:
        return DepartmentUnavailable(
            department, f"{method}: the answer is larger than {MAX_MESSAGE_BYTES} bytes", transient=False
        )
    if code is grpc.StatusCode.UNAVAILABLE and any(word in lowered for word in _TLS_FAILURE):
        return DepartmentUnavailable(
            department,
            f"{method}: TLS handshake failed: the server must present the pinned certificate"
            + (f" for {tls_name}" if tls_name else "")
            + f" ({details})",
            transient=False,
        )
    return DepartmentUnavailable(department, reason, transient=code in _TRANSIENT)


class RemoteConnector:
    """A department connector server, reached over TLS with the department's certificate pinned.

    ``pinned_certificate`` is the department's certificate PEM (its server's self-signed certificate
    or its private CA): the only root trusted for this connection. When the address is not one of
    the certificate's names (e.g. an IP address for a certificate issued to ``tax.example``), the
    certificate's first DNS name is checked instead, or ``server_name`` when given.

    ``Describe`` is fetched once, by :meth:`start` (called by :meth:`connect` and by the first query or
    poll) and cached. Until then :meth:`describe` gives a provisional description with the library's
    default limits. ``department`` may be ``None`` only with :meth:`connect`, which learns it from the
    server. Every call has a deadline of ``timeout`` seconds (default :data:`DEFAULT_CALL_TIMEOUT`; a
    caller's shorter ``asyncio`` timeout cancels the call too); a call past it is a transient
    ``DEADLINE_EXCEEDED``, which counts towards opening the department's circuit breaker.

    ``catalogue`` holds the departments hedui declares (default: the six of interfaces.md): the server
    must serve one of them, and its answers may hold only the record kinds that department declares.

    The description is checked (:func:`~connectors.wire.description_problems`: a declared department,
    whole-number limits of at least 1, an identity rate of at least 0); a server describing itself
    otherwise gets no query.
    """

    def __init__(
        self,
        address: str,
        pinned_certificate: bytes,
        *,
        department: str | None = None,
        server_name: str | None = None,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        catalogue: DepartmentCatalogue | None = None,
        client_certificate: bytes | None = None,
        client_key: bytes | None = None,
        query_tokens: QueryTokenSigner | None = None,
    ) -> None:
        split_address(address)
        if (client_certificate is None) != (client_key is None):
            raise ValueError("client_certificate and client_key go together")
        load_certificates(pinned_certificate)
        self.catalogue = catalogue if catalogue is not None else DepartmentCatalogue()
        if department is not None and department not in self.catalogue:
            raise ValueError(f"unknown department {department!r}")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.address = address
        self.department = department
        self.timeout = timeout
        self._pinned = pinned_certificate
        # Issue 13: hedui's client certificate (mutual TLS) and the key that signs each query's token.
        self._client = (client_key, client_certificate) if client_certificate is not None else None
        self._tokens = query_tokens
        self._server_name = server_name or target_name_override(address, pinned_certificate)
        self._channel: grpc.aio.Channel | None = None
        self._description: ConnectorDescription | None = None
        self._describing = asyncio.Lock()

    @classmethod
    async def connect(
        cls,
        address: str,
        pinned_certificate: bytes,
        *,
        department: str | None = None,
        server_name: str | None = None,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        catalogue: DepartmentCatalogue | None = None,
        client_certificate: bytes | None = None,
        client_key: bytes | None = None,
        query_tokens: QueryTokenSigner | None = None,
    ) -> RemoteConnector:
        """A connector whose description has been fetched; raises like :meth:`start`."""
        connector = cls(
            address,
            pinned_certificate,
            department=department,
            server_name=server_name,
            timeout=timeout,
            catalogue=catalogue,
            client_certificate=client_certificate,
            client_key=client_key,
            query_tokens=query_tokens,
        )
        try:
            await connector.start()
        except BaseException:
            await connector.close()
            raise
        return connector

    def __repr__(self) -> str:
        return f"RemoteConnector({self.department or '?'} at {self.address})"

    # --- the Connector protocol ---------------------------------------------------------------------

    def describe(self) -> ConnectorDescription:
        """The server's description once fetched; before that, a provisional one with the default limits."""
        if self._description is not None:
            return self._description
        if self.department is None:
            raise RuntimeError("the department is not known before start()")
        return ConnectorDescription(department=self.department, data_categories=())

    async def start(self) -> None:
        """Fetch and check the server's description once (later calls return at once).

        Raises :class:`DepartmentUnavailable` if the server cannot be reached, answers a malformed
        description or serves another department than the one configured.
        """
        if self._description is not None:
            return
        async with self._describing:
            if self._description is not None:
                return
            expected = self.department or "connector"
            message = await self._call("Describe", connector_pb2.DescribeRequest(), connector_pb2.ConnectorDescription)
            try:
                description = description_from_message(message, self.catalogue)
            except WireError as exc:
                raise DepartmentUnavailable(expected, f"malformed description: {exc}", transient=False) from None
            problem = category_problem(self.catalogue[description.department], description)
            if problem is not None:
                raise DepartmentUnavailable(
                    expected, f"malformed description: data_categories: {problem}", transient=False
                )
            if self.department is not None and description.department != self.department:
                raise DepartmentUnavailable(
                    expected,
                    f"the server at {self.address} serves {description.department}, not {self.department}",
                    transient=False,
                )
            self.department = description.department
            self._description = description

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        """Ask the server (fetching its description first); its answer is checked like any department input.

        The query's ``idempotency_key`` goes with it (``QueryRequest.idempotency_key``); a malformed
        one is refused here, before anything is sent.
        """
        try:
            idempotency_keys(query.idempotency_key)
        except ValueError as exc:
            raise DepartmentRefused(self.department or "connector", f"idempotency_key: {exc}") from None
        await self.start()
        return await self.query_with_token(query, self.token_for(query))

    def token_for(self, query: DepartmentQuery) -> str:
        """Issue 13: the query token hedui signs for ``query`` ("" without a token key)."""
        if self._tokens is None:
            return ""
        return self._tokens.token(
            self._known_department(),
            query.authorization_reference,
            query.idempotency_key,
            query.purpose,
            query.id_numbers,
        )

    async def query_with_token(self, query: DepartmentQuery, token: str) -> DepartmentAnswer | Ticket:
        """Send ``query`` under ``token`` (none: ""), as it is: what :meth:`query` does, and what the conformance
        kit uses to check a server refuses a query without its token."""
        await self.start()
        request = connector_pb2.QueryRequest(
            id_numbers=list(query.id_numbers),
            authorization_reference=query.authorization_reference,
            purpose=query.purpose,
            query_id=query.query_id,
            idempotency_key=query.idempotency_key,
        )
        metadata = ((QUERY_TOKEN_METADATA, token),) if token else ()
        return self._result(await self._call("Query", request, connector_pb2.QueryResponse, metadata))

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        """Poll one of this department's tickets on the server."""
        await self.start()
        department = self._known_department()
        if ticket.department != department:
            raise DepartmentRefused(department, f"the ticket is {ticket.department}'s")
        request = connector_pb2.PollRequest(ticket_id=ticket.ticket_id)
        token = "" if self._tokens is None else self._tokens.poll_token(department, ticket.ticket_id)
        metadata = ((QUERY_TOKEN_METADATA, token),) if token else ()
        return self._result(await self._call("Poll", request, connector_pb2.QueryResponse, metadata))

    async def close(self) -> None:
        """Close the channel; a later call opens a new one."""
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    # --- the wire --------------------------------------------------------------------------------------

    def _known_department(self) -> str:
        assert self.department is not None, "start() sets the department"
        return self.department

    def _open_channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            key, chain = self._client if self._client is not None else (None, None)
            credentials = grpc.ssl_channel_credentials(
                root_certificates=self._pinned, private_key=key, certificate_chain=chain
            )
            options: list[tuple[str, Any]] = list(CHANNEL_OPTIONS)
            if self._server_name:
                options.append(("grpc.ssl_target_name_override", self._server_name))
            self._channel = grpc.aio.secure_channel(self.address, credentials, options=options)
        return self._channel

    async def _call(
        self, method: str, request: Message, response_type: type[Resp], metadata: tuple[tuple[str, str], ...] = ()
    ) -> Resp:
        call = self._open_channel().unary_unary(
            SERVICE + method,
            request_serializer=_serialize,
            response_deserializer=response_type.FromString,
        )
        try:
            response: Resp = await call(request, timeout=self.timeout, metadata=metadata or None)
        except grpc.aio.AioRpcError as error:
            tls_name = self._server_name or split_address(self.address)[0]
            raise rpc_error(self.department or "connector", method, error, tls_name=tls_name) from None
        return response

    def _result(self, message: connector_pb2.QueryResponse) -> DepartmentAnswer | Ticket:
        department = self._known_department()
        try:
            return response_from_message(message, department, self.catalogue[department])
        except WireError as exc:
            raise DepartmentUnavailable(department, f"malformed answer: {exc}", transient=False) from None


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def connector_factory(
    department: str, options: Mapping[str, Any], *, catalogue: DepartmentCatalogue | None = None
) -> RemoteConnector:
    """Entry-point factory for remote connectors (group ``hedui.connectors``).

    Options: ``address`` (``HOST:PORT``), ``certificate`` (path of the department's pinned PEM),
    optionally ``server_name`` and ``timeout`` (seconds per call, default :data:`DEFAULT_CALL_TIMEOUT`), and
    (issue 13) ``client_certificate`` and ``client_key`` (hedui's client certificate for the department's mutual
    TLS) and ``query_token_key`` (the Ed25519 private key PEM that signs each query's token).
    ``catalogue``: the departments hedui declares (:func:`connectors.registry.make_connector` passes it).
    """
    address = options.get("address")
    certificate = options.get("certificate")
    if not isinstance(address, str) or not address:
        raise ValueError("remote connector: option 'address' (HOST:PORT) is required")
    if not isinstance(certificate, str | Path) or not str(certificate):
        raise ValueError("remote connector: option 'certificate' (the department's PEM file) is required")
    try:
        pem = Path(certificate).read_bytes()
    except OSError as exc:
        raise ValueError(f"remote connector: certificate {certificate}: {exc.strerror}") from None
    try:
        load_certificates(pem)
    except CertificateError as exc:
        raise ValueError(f"remote connector: certificate {certificate}: {exc}") from None
    client_certificate, client_key, tokens = _client_identity(options)
    if client_certificate is None or tokens is None:  # review S8: said loudly at every start
        missing = " and ".join(
            name
            for name, value in (("client_certificate", client_certificate), ("query_token_key", tokens))
            if value is None
        )
        log.warning(
            "REMOTE CONNECTOR WITHOUT %s: %s at %s cannot prove it is hedui%s; a department's server should "
            "require both (docs/connectors.md, 'Mutual TLS and query tokens')",
            missing.upper(), department or "a department", address,
            "" if tokens is not None else " nor that a query is covered by an authorization",
        )  # fmt: skip
    server_name = options.get("server_name")
    timeout = options.get("timeout", DEFAULT_CALL_TIMEOUT)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout < float("inf"):
        raise ValueError("remote connector: option 'timeout' must be a positive number of seconds")
    return RemoteConnector(
        address,
        pem,
        department=department,
        server_name=str(server_name) if server_name else None,
        timeout=float(timeout),
        catalogue=catalogue,
        client_certificate=client_certificate,
        client_key=client_key,
        query_tokens=tokens,
    )


def _option_file(options: Mapping[str, Any], name: str) -> bytes | None:
    """The bytes of the file an option names (``None`` when the option is not given)."""
    path = options.get(name)
    if path is None:
        return None
    if not isinstance(path, str | Path) or not str(path):
        raise ValueError(f"remote connector: option {name!r} must be a file path")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"remote connector: {name} {path}: {exc.strerror}") from None


def _client_identity(options: Mapping[str, Any]) -> tuple[bytes | None, bytes | None, QueryTokenSigner | None]:
    """Issue 13: hedui's client certificate and key (options ``client_certificate``, ``client_key``) and the key
    that signs its query tokens (``query_token_key``), each a file path; none given: neither is sent."""
    certificate, key = _option_file(options, "client_certificate"), _option_file(options, "client_key")
    if (certificate is None) != (key is None):
        raise ValueError("remote connector: options 'client_certificate' and 'client_key' go together")
    token_key = _option_file(options, "query_token_key")
    try:
        tokens = QueryTokenSigner(token_key) if token_key is not None else None
    except ValueError as exc:
        raise ValueError(f"remote connector: query_token_key: {exc}") from None
    return certificate, key, tokens
