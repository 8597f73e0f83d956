"""The gRPC API (package hedui.v1) over hedui's operations (:mod:`verifier.operations`), on grpc.aio.

Errors carry google.rpc details: one ErrorInfo (reason, domain "hedui.v1") and, for
invalid input, a BadRequest with a field violation per problem (AIP-193). A database that is busy or out
of reach is ``UNAVAILABLE`` (reason ``DATABASE_BUSY``) with a RetryInfo, and the same delay in the
``grpc-retry-pushback-ms`` trailer that a gRPC client's retry policy follows; never ``UNKNOWN`` nor SQL text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from audit.log import WritesStopped
from connectors.health import HEALTH
from consent import Envelope, EnvelopeSignature, RegisteredAuthorization, china_today, scrub
from hedui.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    verification_pb2,
    verification_pb2_grpc,
)
from verifier.access import AccessControl, ServerTransport, current_client, is_loopback
from verifier.errors import Reason, ServiceError, database_failure, internal_error
from verifier.limits import server_arguments
from verifier.observability import (
    REQUEST_ID_METADATA,
    CallObserver,
    current_request_id,
    enable_reflection,
    preregister,
)
from verifier.operations import (
    AuditQueries,
    Authorizations,
    Caller,
    Reports,
    Verifications,
    VerificationView,
)
from verifier.operations.authorizations import state_of
from verifier.protojson import message_to_plain
from verifier.quotas import StreamQuota, caller_key
from verifier.request import VerificationRequest

if TYPE_CHECKING:
    from verifier.service import HeduiService

__all__ = ["OPERATOR_METADATA", "build_server"]

log = logging.getLogger("hedui.api")
OPERATOR_METADATA = "x-hedui-operator"
DOMAIN = "hedui.v1"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
]
T = TypeVar("T")


def _instant(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def caller_of(context: grpc.aio.ServicerContext[Any, Any]) -> Caller:
    """Who calls: the operator the request's metadata names (bounded), and the client its certificate proved,
    with its organisation and roles (issue 13: the interceptor, which build_server always installs, identified
    it before the call got here). A servicer called directly, without the interceptor, sees the peer only."""
    metadata = dict(context.invocation_metadata() or ())
    operator = str(metadata.get(OPERATOR_METADATA, "") or "unknown")[:200]
    client = current_client()
    if client is None:  # review S9: not through build_server's interceptor: nothing (_call refuses it, INTERNAL)
        return Caller.unidentified(operator, str(context.peer())[:200])
    return Caller(operator=operator, client=client.label, organisation=client.organisation, roles=client.roles)


@dataclasses.dataclass(frozen=True, slots=True)
class _Status(grpc.Status):
    """A status to end a call with: its code, message and trailers (the rich details, the retry pushback)."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def _packed(message: Any) -> any_pb2.Any:
    """A google.rpc detail packed for Status.details."""
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: ServiceError) -> None:
    details = [_packed(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN))]
    if error.retry_delay is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round(error.retry_delay * 1000))
        details.append(_packed(error_details_pb2.RetryInfo(retry_delay=delay)))
    if error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=scrub(v.field), description=scrub(v.description))
                for v in error.violations
            ]
        )
        details.append(_packed(bad))
    status = rpc_status.to_status(
        status_pb2.Status(code=getattr(code_pb2, error.code), message=scrub(error.message), details=details)
    )
    if error.retry_delay is not None:
        pushback = ("grpc-retry-pushback-ms", str(round(error.retry_delay * 1000)))
        status = _Status(status.code, status.details, (*status.trailing_metadata, pushback))
    request_id = current_request_id()  # the call's x-request-id, which the status's trailers would replace
    trailers = (*status.trailing_metadata, *(((REQUEST_ID_METADATA, request_id),) if request_id else ()))
    await context.abort_with_status(_Status(status.code, status.details, trailers))


def _refusal(exc: Exception) -> ServiceError | None:
    """What a call that raised ``exc`` is refused with: its ServiceError, DATABASE_BUSY for a database that is
    busy or out of reach (logged without SQL or parameters), else ``None`` (a bug: gRPC reports it)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, WritesStopped):  # issue 12: the audit log cannot sign what this write would record
        return ServiceError(Reason.AUDIT_LOG_STOPPED, f"{exc}; an operator must recover the audit log (docs/audit.md)")
    busy = database_failure(exc)
    if busy is not None:
        log.warning("database busy or out of reach: %s; the call is refused with UNAVAILABLE", type(exc).__name__)
    return busy if busy is not None else internal_error(exc)  # issue 13: never UNKNOWN with the exception's text


async def _call(context: grpc.aio.ServicerContext[Any, Any], work: Awaitable[T]) -> T:
    try:
        _identified(work)
        return await work
    except Exception as exc:
        error = _refusal(exc)
        if error is None:
            raise
        await _abort(context, error)
        raise AssertionError("unreachable") from None


def _identified(work: object = None) -> None:
    """Review S9: CLIENT_NOT_IDENTIFIED (INTERNAL) unless the access interceptor admitted the call's client."""
    if current_client() is None:
        if inspect.iscoroutine(work):
            work.close()
        raise ServiceError(Reason.CLIENT_NOT_IDENTIFIED, "the call was not identified; the server refused it")


async def _unimplemented(context: grpc.aio.ServicerContext[Any, Any], what: str) -> None:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{what} is not implemented yet")


def verification_message(view: VerificationView) -> verification_pb2.Verification:
    """A verification view as its hedui.v1.Verification message."""
    message = verification_pb2.Verification(
        name=view.name,
        state=view.state,
        authorizations=list(view.authorizations),
        create_time=_instant(view.created_at),
        update_time=_instant(view.updated_at),
        latest_report=(f"{view.name}/reports/{view.latest_report_version}" if view.latest_report_version else ""),
        operator=view.operator,
        departments=[
            verification_pb2.DepartmentProgress(
                department=d.department,
                status=d.status,
                records=d.records,
                detail=d.detail,
                updated_at=_instant(d.updated_at),
                health=HEALTH.reading(d.department).status,
            )
            for d in view.departments
        ],
    )
    message.request.CopyFrom(request_message(view.request))
    return message


@functools.lru_cache(maxsize=4096)
def request_message(request: VerificationRequest) -> verification_pb2.VerificationRequest:
    """The request as its proto message (built once per request: it never changes)."""
    message = verification_pb2.VerificationRequest(
        application_date=request.application_date.isoformat(),
        area=request.area,
        purpose=request.purpose,
        commissioned_by=request.commissioned_by,
        policy=request.policy,
        members=[
            verification_pb2.Member(
                id_number=m.id_number,
                name=m.name,
                relation=m.relation,
                declared_annual_income_fen=m.declared_annual_income_fen,
                employment_category=m.employment_category,
                signed=m.signed,
            )
            for m in request.members
        ],
        deductions=[
            verification_pb2.DeclaredDeduction(
                id_number=d.id_number, kind=d.kind, amount_fen=d.amount_fen, evidence=d.evidence
            )
            for d in request.deductions
        ],
    )
    if request.previous_report_id is not None:
        message.previous_report_id = request.previous_report_id
    return message


def authorization_message(
    auth: RegisteredAuthorization, envelope: Envelope | None, certificates: Sequence[Envelope] = ()
) -> consent_pb2.Authorization:
    """A registered authorization as its message; the envelope and certificates when asked for."""
    payload = auth.payload
    message = consent_pb2.Authorization(
        name=auth.name,
        state=state_of(auth, china_today()),
        commissioned_by=payload.commissioned_by,
        purpose=payload.purpose,
        members=[
            consent_pb2.AuthorizedMember(id_number=m.id_number, name=m.name, signed=auth.signed_for(m.id_number))
            for m in payload.members
        ],
        departments=list(payload.departments),
        valid_from=payload.valid_from.isoformat(),
        valid_until=payload.valid_until.isoformat(),
        create_time=_instant(auth.registered_at),
        signed_by=list(auth.signed_by),
        signers=[
            consent_pb2.Signer(
                keyid=s.keyid,
                kind=s.kind,
                organisation=s.organisation,
                member_id_number=s.id_number,
                certified_by=s.certified_by,
            )
            for s in auth.signers
        ],
        member_key_certificates=[envelope_message(c) for c in certificates],
    )
    if auth.signature_problem is not None:
        message.signature_problem = auth.signature_problem
    if auth.revoked_at is not None:
        message.revoke_time = _instant(auth.revoked_at)
        message.revoke_reason = auth.revoke_reason or ""
    if envelope is not None:
        message.envelope.CopyFrom(envelope_message(envelope))
    return message


def envelope_message(envelope: Envelope) -> consent_pb2.Envelope:
    """An envelope as its message."""
    return consent_pb2.Envelope(
        payload=envelope.payload,
        payload_type=envelope.payload_type,
        signatures=[consent_pb2.EnvelopeSignature(keyid=s.keyid, sig=s.sig) for s in envelope.signatures],
    )


def envelope_of(message: consent_pb2.Envelope) -> Envelope:
    """An envelope message as the consent package's envelope."""
    return Envelope(
        payload=message.payload,
        payload_type=message.payload_type,
        signatures=tuple(EnvelopeSignature(s.keyid, s.sig) for s in message.signatures),
    )


class ConsentApi(consent_pb2_grpc.ConsentServiceServicer):
    """hedui.v1.ConsentService over the authorizations operations."""

    def __init__(self, authorizations: Authorizations) -> None:
        """Serve ``authorizations``."""
        self._authorizations = authorizations

    async def RegisterAuthorization(  # noqa: N802 - gRPC method names
        self, request: consent_pb2.RegisterAuthorizationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> consent_pb2.Authorization:
        """Check and store a signed authorization."""
        envelope = envelope_of(request.envelope)
        certificates = [envelope_of(c) for c in request.member_key_certificates]
        auth, stored, stored_certificates = await _call(  # issue 13: the reply shows what is stored, never a replay
            context,
            self._authorizations.register_with_copy(
                envelope, certificates=certificates, request_id=request.request_id, caller=caller_of(context)
            ),
        )
        return authorization_message(auth, stored, stored_certificates)

    async def GetAuthorization(  # noqa: N802
        self, request: consent_pb2.GetAuthorizationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> consent_pb2.Authorization:
        """One authorization with its envelope and certificates."""
        auth = await _call(context, self._authorizations.get(request.name, caller_of(context)))
        envelope = await _call(context, self._authorizations.stored_envelope(auth.authorization_id))
        certificates = await _call(context, self._authorizations.stored_certificates(auth.authorization_id))
        return authorization_message(auth, envelope, certificates)

    async def RevokeAuthorization(  # noqa: N802
        self, request: consent_pb2.RevokeAuthorizationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> consent_pb2.Authorization:
        """Revoke an authorization."""
        auth = await _call(context, self._authorizations.revoke(request.name, request.reason, caller_of(context)))
        return authorization_message(auth, None)

    async def ListAuthorizations(  # noqa: N802
        self, request: consent_pb2.ListAuthorizationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> consent_pb2.ListAuthorizationsResponse:
        """A member's authorizations, a page at a time."""
        found, token = await _call(
            context,
            self._authorizations.list(
                request.member_id_number,
                page_size=request.page_size,
                page_token=request.page_token,
                caller=caller_of(context),
            ),
        )
        return consent_pb2.ListAuthorizationsResponse(
            authorizations=[authorization_message(a, None) for a in found], next_page_token=token
        )


class VerificationApi(verification_pb2_grpc.VerificationServiceServicer):
    """hedui.v1.VerificationService over the verifications and reports operations."""

    def __init__(self, verifications: Verifications, reports: Reports) -> None:
        self._verifications = verifications
        self._reports = reports
        self._watches = StreamQuota()  # issue 13: WatchVerification streams per caller and in all

    async def CreateVerification(  # noqa: N802
        self, request: verification_pb2.CreateVerificationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verification_pb2.Verification:
        """Start a verification; returns at once."""

        async def create() -> VerificationView:
            """Parse the request, then create the verification (both refuse with a ServiceError)."""
            parsed = self._verifications.parse_request(message_to_plain(request.request))
            return await self._verifications.create(
                parsed, list(request.authorizations), request_id=request.request_id, caller=caller_of(context)
            )

        return verification_message(await _call(context, create()))

    async def GetVerification(  # noqa: N802
        self, request: verification_pb2.GetVerificationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verification_pb2.Verification:
        """A verification's state and its departments' progress."""
        return verification_message(await _call(context, self._verifications.get(request.name, caller_of(context))))

    async def WatchVerification(  # noqa: N802
        self, request: verification_pb2.WatchVerificationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[verification_pb2.VerificationEvent]:
        """A snapshot now and on every change until the verification ends."""
        try:
            _identified()
            with self._watches.held(caller_key(caller_of(context))):
                async for view in self._verifications.watch(request.name, caller_of(context)):
                    yield verification_pb2.VerificationEvent(verification=verification_message(view))
        except Exception as exc:
            error = _refusal(exc)
            if error is None:
                raise
            await _abort(context, error)

    async def GetReport(  # noqa: N802
        self, request: verification_pb2.GetReportRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        """A report version, with its HTML or PDF view when asked for."""
        html = request.view == verification_pb2.HTML
        views = {"pdf": True} if request.view == verification_pb2.PDF else {}
        return await _call(context, self._reports.message(request.name, caller_of(context), html=html, **views))

    async def ListVerifications(  # noqa: N802
        self, request: verification_pb2.ListVerificationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verification_pb2.ListVerificationsResponse:
        """Verifications, newest first, a page at a time."""
        views, token = await _call(
            context,
            self._verifications.list(
                page_size=request.page_size,
                page_token=request.page_token,
                commissioned_by=request.commissioned_by,
                caller=caller_of(context),
            ),
        )
        return verification_pb2.ListVerificationsResponse(
            verifications=[verification_message(v) for v in views], next_page_token=token
        )

    async def CreateRecheckBatch(  # noqa: N802
        self, request: verification_pb2.CreateRecheckBatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verification_pb2.CreateRecheckBatchResponse:
        """Not implemented yet."""
        await _unimplemented(context, "CreateRecheckBatch")
        raise AssertionError("unreachable")


class AuditApi(audit_pb2_grpc.AuditServiceServicer):
    """hedui.v1.AuditService over the audit queries."""

    def __init__(self, audit_queries: AuditQueries) -> None:
        self._audit = audit_queries

    async def ListAuditEvents(  # noqa: N802
        self, request: audit_pb2.ListAuditEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> audit_pb2.ListAuditEventsResponse:
        """Audit entries in log order, filtered."""
        page, token = await _call(
            context,
            self._audit.list_events(
                page_size=request.page_size,
                page_token=request.page_token,
                verification=request.verification.removeprefix("verifications/"),
                kind=request.kind,
                subject_id_number=request.subject_id_number,
                operator=request.operator,
                department=request.department,
                since=request.since,
                until=request.until,
                caller=caller_of(context),
            ),
        )
        return audit_pb2.ListAuditEventsResponse(
            events=[
                audit_pb2.AuditEvent(
                    index=e.index,
                    kind=e.kind,
                    time=_instant(e.recorded_at),
                    operator=e.operator,
                    client=e.client,
                    verification=e.verification,
                    authorization=e.authorization,
                    department=e.department,
                    subjects=list(e.subjects),
                    entry=e.entry,
                )
                for e in page
            ],
            next_page_token=token,
        )

    async def GetSignedTreeHead(  # noqa: N802
        self, request: audit_pb2.GetSignedTreeHeadRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> audit_pb2.SignedTreeHead:
        """The newest signed tree head."""
        head = await _call(context, self._audit.signed_tree_head())
        return audit_pb2.SignedTreeHead(tree_size=head.tree_size, root_hash=head.root_hash, checkpoint=head.checkpoint)

    async def GetInclusionProof(  # noqa: N802
        self, request: audit_pb2.GetInclusionProofRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> audit_pb2.InclusionProof:
        """An entry's inclusion proof."""
        proof, head, entry = await _call(
            context, self._audit.inclusion_proof(request.index, request.tree_size, caller_of(context))
        )
        return audit_pb2.InclusionProof(
            index=request.index, tree_size=head.tree_size, hashes=proof, entry=entry, checkpoint=head.checkpoint
        )

    async def GetConsistencyProof(  # noqa: N802
        self, request: audit_pb2.GetConsistencyProofRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> audit_pb2.ConsistencyProof:
        """A consistency proof between two signed tree sizes."""
        proof, first, second = await _call(
            context, self._audit.consistency_proof(request.first_size, request.second_size)
        )
        return audit_pb2.ConsistencyProof(
            first_size=request.first_size,
            second_size=second.tree_size,
            hashes=proof,
            first_checkpoint=first.checkpoint if first is not None else "",  # issue 12: any size a supervisor holds
            second_checkpoint=second.checkpoint,
        )

    async def ExportAuditLog(  # noqa: N802
        self, request: audit_pb2.ExportAuditLogRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[audit_pb2.ExportAuditLogChunk]:
        """The log as the export file, in chunks."""
        try:
            _identified()
            async for data in self._audit.export(caller_of(context)):
                yield audit_pb2.ExportAuditLogChunk(data=data)
        except Exception as exc:
            error = _refusal(exc)
            if error is None:
                raise
            await _abort(context, error)


SERVICE_NAMES = (
    consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name,
    verification_pb2.DESCRIPTOR.services_by_name["VerificationService"].full_name,
    audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
)


WRITE_SERVICES = SERVICE_NAMES[:2]
"""The services whose calls write (and so append audit entries): NOT_SERVING while the audit log cannot sign."""


def _plaintext(address: str) -> ServerTransport:
    """No TLS: allowed on loopback only, and said loudly."""
    if not is_loopback(address):
        raise OSError(f"cannot listen on {address} without TLS: plaintext is for loopback only (docs/access.md)")
    log.warning("PLAINTEXT gRPC server on %s: every caller is the development client (tests, benches)", address)
    return ServerTransport(None, description="plaintext")


def _report_writes(service: HeduiService, health_servicer: health.aio.HealthServicer) -> None:
    """Issue 12: the write services' health follows the audit log's write gate."""
    tasks: set[asyncio.Task[None]] = set()

    def changed(reason: str | None) -> None:
        serving = reason is None and service.readiness.latest.ready
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in WRITE_SERVICES:
            task = asyncio.ensure_future(health_servicer.set(name, status))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    service.audit.gate.listen(changed)


async def build_server(
    service: HeduiService, address: str, transport: ServerTransport | None = None
) -> tuple[grpc.aio.Server, int, Callable[[], Awaitable[None]]]:
    """An aio server with hedui's services, health checking and reflection; returns (server, port, stop).

    ``transport`` (issue 13, :func:`verifier.access.server_transport`): mutual TLS, or the development CA; none is
    plaintext, on loopback only, every caller the development client (what tests and benches that build a server
    themselves use; ``hedui serve`` always passes the configured one).
    """
    transport = transport or _plaintext(address)
    if transport.development_certificate is not None:
        await service.clients.ensure_development(
            transport.development_certificate, service.settings.tls.development_organisation
        )
    access = AccessControl(
        service.clients,
        service.refusals,
        _abort,
        plaintext_organisation=service.settings.tls.development_organisation if transport.plaintext else None,
        client_ca=transport.client_ca,
    )
    server = grpc.aio.server(**server_arguments(SERVER_OPTIONS, (CallObserver(), access)))  # verifier/limits.py
    consent_pb2_grpc.add_ConsentServiceServicer_to_server(ConsentApi(service.authorizations), server)
    verification_pb2_grpc.add_VerificationServiceServicer_to_server(
        VerificationApi(service.verifications, service.reports), server
    )
    audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditApi(service.audit_queries), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    served = (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    enable_reflection(served, server)
    preregister(served)
    if transport.credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, transport.credentials)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    await server.start()
    service.refusals.start()
    # SERVING when ready; the write services also need the audit log's write gate open.
    stop_watching = await service.readiness.watch(
        health_servicer, (*SERVICE_NAMES, ""), held=lambda: () if service.audit.gate.open else WRITE_SERVICES
    )
    _report_writes(service, health_servicer)

    async def stop() -> None:
        """Report NOT_SERVING, then stop with a short grace period."""
        await stop_watching()
        await health_servicer.enter_graceful_shutdown()
        await server.stop(grace=2.0)
        await service.refusals.close()  # the refusals counted since the last minute are recorded

    return server, port, stop
