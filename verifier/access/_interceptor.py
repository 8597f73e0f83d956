"""The one server interceptor that decides who may call what (issue 13).

Every call of every hedui method passes here before its servicer: the client certificate the TLS layer verified
is looked up by its public key's SHA-256 (:class:`~verifier.access.Clients`); a certificate no client holds, or
one revoked, is ``UNAUTHENTICATED``; a client none of whose roles may call the method
(:data:`~verifier.access._methods.METHOD_ROLES`) is ``PERMISSION_DENIED``; each with its ErrorInfo reason, and each
counted for the audit log (:class:`~verifier.access._refusals.RefusedCalls`). A call let through runs with its
client in :func:`current_client`, which the servicers read (``verifier.api.caller_of``). Health and reflection
stay open; any other service a server might carry is refused (nothing is open by omission).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import grpc

from connectors.tls import CertificateError, load_certificates, public_key_sha256
from verifier.access._certificates import client_certificate_problem
from verifier.access._clients import Client, Clients
from verifier.access._methods import METHOD_ROLES, OPEN_SERVICES
from verifier.access._refusals import RefusedCalls
from verifier.access._transport import DEVELOPMENT_CLIENT
from verifier.errors import DATABASE_RETRY_SECONDS, Reason, ServiceError, database_failure
from verifier.interceptors import WrapsEachMethod
from verifier.operations import count_scope_refusals
from verifier.organisations import Role

__all__ = ["AccessControl", "current_client"]

Context = grpc.aio.ServicerContext[Any, Any]
Abort = Callable[[Context, ServiceError], Awaitable[None]]
log = logging.getLogger("hedui.access")
_client: contextvars.ContextVar[Client | None] = contextvars.ContextVar("hedui_client", default=None)
_OPERATOR: Final = "x-hedui-operator"
_FAR_FUTURE: Final = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def current_client() -> Client | None:
    """The client of the gRPC call this code runs for (``None`` outside an admitted call)."""
    return _client.get()


class _Unavailable(Exception):
    """Who calls could not be checked: the call ends with ``error`` (not a refusal of the client: not counted)."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(error.message)
        self.error = error


_ACCESS_UNAVAILABLE: Final = ServiceError(
    Reason.ACCESS_CHECK_UNAVAILABLE,
    "the server could not check who calls; try again in a moment",
    retry_delay=DATABASE_RETRY_SECONDS,
)


class _FailureLog:
    """One log line a minute for the access checks that failed, with how many did (review S4: not a traceback
    per call)."""

    def __init__(self, every: float = 60.0) -> None:
        """At most one line per ``every`` seconds."""
        self._every = every
        self._last = -every
        self._count = 0

    def note(self, exc: BaseException, busy: bool) -> None:
        """Count a failed check; log when the last line is ``every`` seconds old (the exception's type only)."""
        self._count += 1
        now = time.monotonic()
        if now - self._last < self._every:
            return
        what = "the database is busy or out of reach" if busy else "the clients could not be read"
        log.error(
            "access check failed (%s: %s), %d call(s) refused since the last line",
            what,
            type(exc).__name__,
            self._count,
        )
        self._last, self._count = now, 0


class _Refused(Exception):
    """A call refused: the error to end it with, and who to count it against."""

    def __init__(self, error: ServiceError, who: str) -> None:
        super().__init__(error.message)
        self.error, self.who = error, who


def _operator(context: Context) -> str:
    """The operator the call's metadata names (as the client vouches for it)."""
    metadata = dict(context.invocation_metadata() or ())
    return str(metadata.get(_OPERATOR, "") or "")[:200]


def _peer_host(context: Context) -> str:
    """The caller's address without its port (a refused caller without a certificate is counted by host)."""
    peer = str(context.peer())
    host = peer.rpartition(":")[0] if peer.count(":") >= 2 else peer
    return f"anonymous {host}"[:200]


class AccessControl(WrapsEachMethod):
    """Admit a call when its client may call the method; refuse, count and audit it otherwise."""

    def __init__(
        self,
        clients: Clients,
        refusals: RefusedCalls,
        abort: Abort,
        *,
        plaintext_organisation: str | None = None,
        client_ca: bytes | None = None,
    ) -> None:
        """``abort`` ends a call with a ServiceError's rich status; ``plaintext_organisation``: no TLS, every caller
        is the development client of that organisation with every role; ``client_ca``: the CA (PEM) a client's
        certificate must be issued by directly (review S5)."""
        super().__init__()
        self._clients = clients
        self._issuers = tuple(load_certificates(client_ca)) if client_ca else ()
        self._refusals = refusals
        self._abort = abort
        self._plaintext = (
            None
            if plaintext_organisation is None
            else Client(
                "plaintext", DEVELOPMENT_CLIENT, plaintext_organisation, frozenset(Role), _FAR_FUTURE, _FAR_FUTURE
            )
        )
        self._keys: dict[bytes, tuple[str, str | None]] = {}  # PEM -> (key hash, what makes it no client's)
        self._failures = _FailureLog()

    async def _admitted(self, method: str, context: Context) -> Client:
        """The client of this call if it may call ``method``; :class:`_Refused` otherwise."""
        client = self._plaintext or await self._certified(context)
        if client.revoked_at is not None:
            raise _Refused(ServiceError(Reason.CLIENT_REVOKED, f"client {client.name} was revoked"), client.label)
        allowed = METHOD_ROLES.get(method, frozenset())
        if not client.roles & allowed:
            names = ", ".join(sorted(allowed)) or "no role"
            error = ServiceError(Reason.ROLE_MISSING, f"{method.rpartition('/')[2]} needs the role {names}")
            raise _Refused(error, client.label)
        return client

    async def _certified(self, context: Context) -> Client:
        """The client the verified certificate's key belongs to (revoked ones too)."""
        pems = list(context.auth_context().get("x509_pem_cert") or ())
        if not pems:
            missing = ServiceError(Reason.CLIENT_CERTIFICATE_MISSING, "the call came without a client certificate")
            raise _Refused(missing, _peer_host(context))
        key, problem = self._checked(pems[0])
        if problem is not None:
            refused = ServiceError(Reason.CLIENT_CERTIFICATE_REFUSED, f"the client certificate {problem}")
            raise _Refused(refused, f"refused sha256:{key[:16]}")
        client = await self._identify(key)
        if client is None:
            unknown = ServiceError(Reason.CLIENT_UNKNOWN, f"no client holds the certificate key sha256:{key[:16]}…")
            raise _Refused(unknown, f"unknown sha256:{key[:16]}")
        return client

    def _checked(self, pem: bytes) -> tuple[str, str | None]:
        """(key hash, what makes it no client's certificate or ``None``) of a verified certificate, once per PEM."""
        known = self._keys.get(pem)
        if known is not None:
            return known
        try:
            key = public_key_sha256(pem)
            known = (key, client_certificate_problem(load_certificates(pem)[0], self._issuers))
        except CertificateError:
            raise _Refused(ServiceError(Reason.CLIENT_UNKNOWN, "unreadable client certificate"), "unreadable") from None
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[pem] = known
        return known

    async def _identify(self, key: str) -> Client | None:
        """:meth:`Clients.identify`, failing closed: a database out of reach is DATABASE_BUSY, anything else
        ACCESS_CHECK_UNAVAILABLE (no SQL, no traceback; one log line a minute), both to retry in a second."""
        try:
            return await self._clients.identify(key)
        except Exception as exc:
            busy = database_failure(exc)
            self._failures.note(exc, busy is not None)
            raise _Unavailable(busy or _ACCESS_UNAVAILABLE) from None

    async def _admit(self, method: str, context: Context) -> Client:
        """The client of this call if it may call ``method``; the call ended (refused, counted) otherwise."""
        try:
            return await self._admitted(method, context)
        except _Refused as refused:
            await self._refuse(context, method, refused)
        except _Unavailable as unavailable:
            await self._abort(context, unavailable.error)
        raise AssertionError("unreachable: abort raises")

    async def _refuse(self, context: Context, method: str, refused: _Refused) -> None:
        """Count the refusal for the audit log, then end the call with it."""
        error = refused.error
        # Review N4: the operator a caller names is kept only for a client that proved who it is (a role missing);
        # an unknown, refused or revoked certificate's metadata is anyone's words (an identity number, even).
        operator = _operator(context) if error.reason == Reason.ROLE_MISSING else ""
        self._refusals.refused(refused.who, operator, method, error.code, error.reason)
        await self._abort(context, error)

    def _let_in(self, method: str, context: Context, client: Client) -> None:
        """Run the call as ``client``; the operations' refusals of other organisations' resources are counted
        against it as this interceptor's are (review S3)."""
        _client.set(client)
        operator = _operator(context)

        def count(error: ServiceError) -> None:
            self._refusals.refused(client.label, operator, method, error.code, error.reason)

        count_scope_refusals(count)

    def _unary(self, method: str, behavior: Any) -> Any:
        """A unary-response behaviour behind the check."""

        async def call(request: Any, context: Context) -> Any:
            client = await self._admit(method, context)
            self._let_in(method, context, client)
            return await behavior(request, context)

        return call

    def _streaming(self, method: str, behavior: Any) -> Any:
        """A streaming-response behaviour behind the check."""

        async def call(request: Any, context: Context) -> AsyncIterator[Any]:
            client = await self._admit(method, context)
            self._let_in(method, context, client)
            responses = behavior(request, context)
            if inspect.isawaitable(responses):
                await responses
                return
            try:
                async with contextlib.aclosing(responses):  # closed here, in this call's task, however it ends
                    async for response in responses:
                        await self._still_admitted(method, client)  # review M2: a revoked client gets no more
                        yield response
            except _Refused as refused:
                await self._refuse(context, method, refused)
            except _Unavailable as unavailable:
                await self._abort(context, unavailable.error)

        return call

    async def _still_admitted(self, method: str, client: Client) -> None:
        """:class:`_Refused` when ``client`` was revoked (or removed) since its call was admitted."""
        if client is self._plaintext:
            return
        current = await self._identify(client.key_sha256)
        if current is None or current.revoked_at is not None:
            error = ServiceError(Reason.CLIENT_REVOKED, f"client {client.name} was revoked")
            raise _Refused(error, client.label)

    def _guarded(self, method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        """The handler with its behaviour behind the check."""
        options = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(self._unary(method, handler.unary_unary), **options)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(self._unary(method, handler.stream_unary), **options)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._streaming(method, handler.unary_stream), **options)
        return grpc.stream_stream_rpc_method_handler(self._streaming(method, handler.stream_stream), **options)

    def passes(self, method: str) -> bool:
        """Health and reflection are served as they are (docs/access.md)."""
        return method.lstrip("/").rpartition("/")[0] in OPEN_SERVICES

    def wrap(self, method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        """The method's handler behind the check."""
        return self._guarded(method, handler)
