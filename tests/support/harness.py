"""Test support: example data, the throw-away PostgreSQL cluster, a running hedui service with clients."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import rfc9162
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import select
from suites import TEST_SUITE, org_key

from audit.checkpoint import open_checkpoint
from audit.log import EntryMac, audit_entries, audit_leaves
from connectors import Connector, DepartmentAnswer, DepartmentQuery, SandboxDataset, Ticket, sandbox_connectors
from connectors.tls import certificate_authority, issue_certificate
from consent import AUTHORIZATION_PAYLOAD_TYPE, AuthorizedMember, SigningKey, authorization_payload, sign_envelope
from consent.envelope import Envelope
from hedui.v1 import (
    audit_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    verification_pb2,
    verification_pb2_grpc,
)
from verifier.access import Role, ServerTransport
from verifier.access._transport import SERVER_NAMES, mutual_tls
from verifier.api import OPERATOR_METADATA, build_server, envelope_message
from verifier.config import Settings
from verifier.errors import ServiceError
from verifier.pipeline.plan import Plan
from verifier.protojson import plain_to_message
from verifier.request import VerificationRequest, parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO.parent / "shared" / "spec"
EXAMPLES = SPEC / "examples"
NATIONAL = "000000-ministry-of-civil-affairs"  # issue 13 (S1): the organisation whose supervisor reads every area
PG_BIN = Path(os.environ.get("HEDUI_PG_BIN", "/usr/lib/postgresql/15/bin"))
UNDER_CI = os.environ.get("CI", "").lower() == "true"


SANDBOX_FILE = EXAMPLES / "sandbox-small.json"
if not SANDBOX_FILE.exists():
    SANDBOX_FILE = REPO / "connectors" / "data" / "demo-sandbox.json"
REQUEST_FILE = EXAMPLES / "household-zhang.json"
if not REQUEST_FILE.exists():
    REQUEST_FILE = REPO / "verifier" / "data" / "demo-household.json"


def example_request() -> dict[str, Any]:
    """The spec's example household (interfaces.md), or the packaged copy of it."""
    path = EXAMPLES / "household-zhang.json"
    if not path.exists():
        path = REPO / "verifier" / "data" / "demo-household.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def example_sandbox() -> dict[str, Any]:
    path = EXAMPLES / "sandbox-small.json"
    if not path.exists():
        path = REPO / "connectors" / "data" / "demo-sandbox.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --- PostgreSQL ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_postgres(args: Sequence[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@dataclass
class PostgresCluster:
    port: int
    directory: Path

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"hedui_{uuid.uuid4().hex[:12]}"
        subprocess.run(
            _as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name]),
            check=True,
            capture_output=True,
        )
        return self.url(name)


# --- a running service ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TestPki:
    """The test run's client CA and the server's certificate (made once per process), issuing client certificates."""

    ca: bytes
    ca_key: bytes
    server: bytes
    server_key: bytes

    def transport(self) -> ServerTransport:
        """The server's side: mutual TLS, clients of this CA."""
        return ServerTransport(
            mutual_tls(self.server, self.server_key, self.ca), description="test CA", client_ca=self.ca
        )

    def client(self, name: str) -> tuple[bytes, bytes]:
        """A new client certificate and key of this CA."""
        return issue_certificate(self.ca, self.ca_key, name)

    def channel(
        self, port: int, pair: tuple[bytes, bytes] | None = None, *, root: bytes | None = None
    ) -> grpc.aio.Channel:
        """A TLS channel to the server on ``port`` presenting ``pair`` (certificate, key); none: no certificate."""
        certificate, key = pair if pair is not None else (None, None)
        credentials = grpc.ssl_channel_credentials(root or self.ca, key, certificate)
        return grpc.aio.secure_channel(
            f"127.0.0.1:{port}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
        )


_PKI: list[TestPki] = []


def test_pki() -> TestPki:
    """The process's test PKI (made on first use)."""
    if not _PKI:
        ca, ca_key = certificate_authority("hedui test client CA")
        server, server_key = issue_certificate(ca, ca_key, "localhost", server_names=SERVER_NAMES)
        _PKI.append(TestPki(ca, ca_key, server, server_key))
    return _PKI[0]


test_pki.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name
TestPki.__test__ = False  # type: ignore[attr-defined]


def signed_envelope(
    request: VerificationRequest, key: SigningKey, signers: Sequence[str] | None = None, **overrides: Any
) -> Envelope:
    """An authorization envelope for ``request`` signed by ``key``: the members in ``signers`` (default: those
    who signed) consent for 90 days from today; ``overrides`` change payload fields."""
    today = dt.date.today()
    members = [
        AuthorizedMember(m.id_number, m.name)
        for m in request.members
        if (m.id_number in signers if signers is not None else m.signed)
    ]
    fields: dict[str, Any] = {
        "commissioned_by": request.commissioned_by,
        "purpose": request.purpose,
        "members": members,
        "valid_from": today,
        "valid_until": today + dt.timedelta(days=90),
    }
    fields.update(overrides)
    return sign_envelope(authorization_payload(**fields), AUTHORIZATION_PAYLOAD_TYPE, (key,))


async def seed_verification(
    db: Database,
    job: Any,
    results: dict[str, dict[str, Any]],
    *,
    leased_to: str | None = None,
    answered_under: EntryMac | None = None,
) -> None:
    """Store a running verification of ``job`` with one result row per department (``queued`` unless the
    department's values say otherwise), as the pipeline's stages find it: a query being asked or pending
    has its durable step (``v1.tax.1``; a queued one has none: it gets one when its plan is recorded),
    leased to ``leased_to`` if given (else due for anyone). An answered (``ok``) row gets the
    DEPARTMENT_ANSWER_RECEIVED entry the pipeline appends with it, MACed under ``answered_under`` (the log's
    entry key: the service builds a report only from answers its log recorded)."""
    from sqlalchemy import update

    from audit import AuditEvent, AuditLog
    from audit.bound import StoredAnswer, answer_digest
    from verifier.storage import verifications, work
    from verifier.storage.models import WorkStepRow

    at = dt.datetime.now(dt.UTC)
    values = {
        "id": job.verification_id,
        "request_id": None,
        "request_json": json.dumps(job.request.to_plain(), ensure_ascii=False),
        "authorizations_json": json.dumps(list(job.authorization_names)),
        "commissioned_by": job.request.commissioned_by,
        "state": "RUNNING",
        "operator": job.operator,
        "client": job.client,
        "created_at": at,
        "updated_at": at,
        "latest_report_version": 0,
    }
    queued = Plan().new_rows(job.verification_id, list(results), at)  # every department queued, as a new one is
    rows = [row | results[str(row["department"])] for row in queued]
    async with db.write() as session:
        await verifications.add(session, values, rows)
        if answered_under is not None:
            stored = await verifications.results_for_report(session, job.verification_id)
            answers = [StoredAnswer.of(job.verification_id, row) for row in stored if row.status == "ok"]
            log = AuditLog(b"s" * 32)
            log.entry_mac = answered_under
            events = [
                AuditEvent(
                    kind="DEPARTMENT_ANSWER_RECEIVED",
                    verification=job.verification_id,
                    department=a.department,
                    details={"answer_sha256": answer_digest(a)},
                )
                for a in answers
            ]
            await log.append_many(session, [(event, ()) for event in events])
        await work.adopt(session)
        if leased_to is not None:
            until = at + dt.timedelta(seconds=300)
            await session.execute(
                update(WorkStepRow)
                .where(WorkStepRow.verification_id == job.verification_id)
                .values(leased_by=leased_to, lease_until=until)
            )


class RecordingConnector:
    """A real connector that also remembers which identity numbers it was asked about, and its polls."""

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self.asked: list[str] = []
        self.polls: list[str] = []  # ticket ids, one per poll

    def describe(self) -> Any:
        return self.inner.describe()

    async def start(self) -> None:
        start = getattr(self.inner, "start", None)
        if start is not None:
            await start()

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        self.asked.extend(query.id_numbers)
        return await self.inner.query(query)

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        self.polls.append(ticket.ticket_id)
        return await self.inner.poll(ticket)


@dataclass
class Harness:
    """A hedui service with its gRPC server on loopback, and clients for it."""

    service: HeduiService
    port: int
    channel: grpc.aio.Channel
    key: SigningKey
    connectors: dict[str, RecordingConnector]
    metadata: tuple[tuple[str, str], ...] = ((OPERATOR_METADATA, "test-worker"),)
    stops: list[Any] = field(default_factory=list)
    pki: TestPki | None = None
    channels: list[grpc.aio.Channel] = field(default_factory=list)
    client_pair: tuple[bytes, bytes] | None = None  # the harness client's certificate and key
    national: grpc.aio.Channel | None = None  # issue 13 (S1): a national supervisor's, which reads the whole log

    async def client_channel(
        self, name: str, organisation: str, roles: Sequence[Role | str], *, register: bool = True
    ) -> grpc.aio.Channel:
        """Issue 13: a channel presenting a new client certificate of the test CA, registered as a client of
        ``organisation`` with ``roles`` (unless ``register`` is false: a certificate no client holds)."""
        assert self.pki is not None
        pair = self.pki.client(name)
        if register:
            await self.service.clients.add(pair[0], organisation, [str(r) for r in roles], name=name)
        channel = self.pki.channel(self.port, pair)
        self.channels.append(channel)
        return channel

    def raw_channel(self, pair: tuple[bytes, bytes] | None = None) -> grpc.aio.Channel:
        """Issue 13: a TLS channel presenting ``pair`` (none: no client certificate), closed with the harness."""
        assert self.pki is not None
        channel = self.pki.channel(self.port, pair)
        self.channels.append(channel)
        return channel

    @property
    def consent(self) -> consent_pb2_grpc.ConsentServiceStub:
        return consent_pb2_grpc.ConsentServiceStub(self.channel)

    @property
    def verifications(self) -> verification_pb2_grpc.VerificationServiceStub:
        return verification_pb2_grpc.VerificationServiceStub(self.channel)

    @property
    def audit(self) -> audit_pb2_grpc.AuditServiceStub:
        """The audit log as a national supervisor reads it: every entry (a county's client sees its county's)."""
        return audit_pb2_grpc.AuditServiceStub(self.national or self.channel)

    def envelope(
        self, request: VerificationRequest, signers: Sequence[str] | None = None, **overrides: Any
    ) -> Envelope:
        return signed_envelope(request, self.key, signers, **overrides)

    async def register(self, envelope: Envelope) -> consent_pb2.Authorization:
        return await self.consent.RegisterAuthorization(  # type: ignore[no-any-return]
            consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(envelope)), metadata=self.metadata
        )

    async def create(
        self, request: dict[str, Any], authorizations: Sequence[str], request_id: str = ""
    ) -> verification_pb2.Verification:
        message = verification_pb2.CreateVerificationRequest(authorizations=list(authorizations), request_id=request_id)
        plain_to_message({k: v for k, v in request.items()}, message.request)
        return await self.verifications.CreateVerification(message, metadata=self.metadata)  # type: ignore[no-any-return]

    async def settle(self, name: str, timeout: float = 20.0) -> verification_pb2.Verification:
        """Watch until the first report exists and nothing is still being asked."""
        async with asyncio.timeout(timeout):
            async for event in self.verifications.WatchVerification(
                verification_pb2.WatchVerificationRequest(name=name), metadata=self.metadata
            ):
                v = event.verification
                if v.latest_report and v.state != verification_pb2.Verification.RUNNING:
                    return v  # type: ignore[no-any-return]
        raise AssertionError("watch ended without a report")

    async def run(self, request: dict[str, Any], signers: Sequence[str] | None = None) -> verification_pb2.Verification:
        auth = await self.register(self.envelope(parse_request(request), signers))
        created = await self.create(request, [auth.name])
        return await self.settle(created.name)


@contextlib.asynccontextmanager
async def running_service(
    url: str,
    sandbox: dict[str, Any],
    *,
    deadline: float = 5.0,
    poll: float = 0.1,
    key: SigningKey | None = None,
    organisation: str = "533401-civil-affairs",
    trust: bool = True,
    witness_dirs: Sequence[Path] = (),
    connectors: dict[str, Connector] | None = None,
    key_dir: Path | None = None,
) -> AsyncIterator[Harness]:
    """``connectors`` replace the sandbox connectors of their departments (e.g. a RemoteConnector for tax);
    ``key_dir``: the master keys in files there (what a ``hedui`` command run beside it reads), else in memory."""
    settings = Settings(
        database_url=url,
        department_deadline_seconds=deadline,
        poll_interval_seconds=poll,
        audit_subject_key=b"k" * 32,
        witness_dirs=tuple(witness_dirs),
        crypto_suite=TEST_SUITE,  # issue 17: HEDUI_TEST_SUITE=sm
        key_dir=key_dir,
    )
    chosen = {**sandbox_connectors(SandboxDataset.from_json(sandbox)), **(connectors or {})}
    recording = {d: RecordingConnector(c) for d, c in chosen.items()}
    service = HeduiService(Database(url), recording, settings)
    await service.start()
    key = key or org_key()  # issue 17: SM2 under HEDUI_TEST_SUITE=sm
    if trust:
        with contextlib.suppress(Exception):
            await service.trust_store.add(
                organisation, key.public_pem(), not_before=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
            )
    # Issue 13: mutual TLS, the harness's client a client of ``organisation`` with every role.
    pki = test_pki()
    _, port, stop = await build_server(service, "127.0.0.1:0", pki.transport())
    pair = pki.client("test-case-system")
    roles = [r.value for r in Role]
    try:
        await service.clients.add(pair[0], organisation, roles, name="test-case-system")
    except ServiceError:  # a service started again over the same database: its first harness's client is there
        await service.clients.add(pair[0], organisation, roles, name=f"test-case-system-{uuid.uuid4().hex[:8]}")
    channel = pki.channel(port, pair)
    harness = Harness(service, port, channel, key, recording, pki=pki, client_pair=pair)
    for name in ("test-national-supervisor", f"test-national-supervisor-{uuid.uuid4().hex[:8]}"):
        with contextlib.suppress(ServiceError):  # started again over the same database: its first one is there
            harness.national = harness.national or await harness.client_channel(name, NATIONAL, [Role.SUPERVISOR])
    finished = False
    try:
        yield harness
        finished = True
    finally:
        await channel.close()
        for extra in harness.channels:
            await extra.close()
        await stop()
        try:
            if finished:
                await prove_every_entry(service)
        finally:
            await service.close()


def error_details(error: grpc.aio.AioRpcError) -> tuple[str, list[tuple[str, str]]]:
    """(ErrorInfo reason, [(field, description)]) of a rich gRPC error (google.rpc.Status details)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "error carries no google.rpc.Status"
    reason, violations = "", []
    for item in status.details:
        if item.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            item.Unpack(info)
            reason = info.reason
        elif item.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            item.Unpack(bad)
            violations = [(v.field, v.description) for v in bad.field_violations]
    return reason, violations


async def prove_every_entry(service: HeduiService) -> int:
    """Every entry the service logged is in its newest signed tree: checked with ``rfc9162``, not ``audit/``.

    Runs at the end of every test that uses a running service. The RFC's Merkle Tree Hash of all the tree's
    entries, read in one statement, must be the signed root (so each entry is in it); the service's own
    inclusion proofs are checked for the first, the last and up to :data:`PROOFS_CHECKED` spread between (a
    proof read for each of thousands of entries made this teardown a statement-bound half minute).
    """
    await service.log.integrate(service.db.write)
    async with service.db.sessions() as session:
        head = await service.log.latest_head(session)
        if head is None:
            return 0
        checkpoint = open_checkpoint(head.checkpoint, service.log.signer.verifier(), service.log.origin)
        assert (checkpoint.size, checkpoint.root_hash) == (head.tree_size, head.root_hash)
        entries = list(
            (
                await session.execute(
                    select(audit_entries.c.entry)
                    .join(audit_leaves, audit_leaves.c.entry_seq == audit_entries.c.seq)
                    .where(audit_leaves.c.leaf_index < head.tree_size)
                    .order_by(audit_leaves.c.leaf_index)
                )
            ).scalars()
        )
        assert len(entries) == head.tree_size
        assert rfc9162.tree_hash(entries) == head.root_hash
        step = max(1, head.tree_size // PROOFS_CHECKED)
        for index in sorted({*range(0, head.tree_size, step), head.tree_size - 1}):
            proof, _ = await service.log.inclusion_proof(session, index, head.tree_size)
            leaf = hashlib.sha256(b"\x00" + entries[index]).digest()
            assert rfc9162.verify_inclusion(leaf, index, head.tree_size, proof, head.root_hash), index
    return head.tree_size


PROOFS_CHECKED = 16


# --- unit-test helpers for the pipeline and the operations ------------------------------------------


def registered_for(
    request: VerificationRequest,
    *,
    signers: Sequence[str] | None = None,
    departments: tuple[str, ...] | None = None,
    authorization_id: str = "a1",
    revoked: bool = False,
) -> Any:
    """A RegisteredAuthorization as the service would load it: the members in ``signers`` (default: those
    who signed) consent to ``departments`` (default: all) for the request's organisation and purpose."""
    from consent import TrustedKey, registered_authorization

    key = SigningKey.generate_ed25519()
    today = dt.date.today()
    members = [
        AuthorizedMember(m.id_number, m.name)
        for m in request.members
        if (m.id_number in signers if signers is not None else m.signed)
    ]
    extra: dict[str, Any] = {} if departments is None else {"departments": departments}
    payload = authorization_payload(
        commissioned_by=request.commissioned_by,
        purpose=request.purpose,
        members=members,
        valid_from=today,
        valid_until=today + dt.timedelta(days=90),
        **extra,
    )
    envelope = sign_envelope(payload, AUTHORIZATION_PAYLOAD_TYPE, (key,))
    now = dt.datetime.now(dt.UTC)
    trust = {key.keyid: TrustedKey(key.keyid, request.commissioned_by, key.public_pem(), now - dt.timedelta(hours=1))}
    return registered_authorization(
        authorization_id, envelope, (), trust, now, revoked_at=now if revoked else None, revoke_reason=None
    )


async def registered_in(
    db: Database, request: VerificationRequest, count: int = 1
) -> tuple[HeduiService, Any, list[str]]:
    """A service without departments over ``db`` (migrated), a key its trust store holds, and ``count``
    authorizations for ``request`` registered through it (their names)."""
    service = HeduiService(db, {}, Settings(database_url=db.url, audit_subject_key=b"k" * 32))
    key = SigningKey.generate_ed25519()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await service.trust_store.add(request.commissioned_by, key.public_pem(), not_before=since)
    names = []
    for days in range(count):
        envelope = signed_envelope(request, key, valid_until=dt.date.today() + dt.timedelta(days=30 + days))
        names.append((await service.authorizations.register(envelope)).name)
    return service, key, names


@contextlib.asynccontextmanager
async def sandbox_service(
    settings: Settings, connectors: dict[str, Connector] | None = None
) -> AsyncIterator[tuple[HeduiService, VerificationRequest, str]]:
    """A started service over ``settings.database_url`` with the example sandbox's departments (``connectors``
    instead, if given), the example request and one authorization for it registered through the service (its
    name), as a case system does before creating a verification; closed at the end."""
    departments = (
        connectors if connectors is not None else sandbox_connectors(SandboxDataset.from_json(example_sandbox()))
    )
    service = HeduiService(Database(settings.database_url), departments, settings)
    await service.start()
    try:
        request = parse_request(example_request())
        key = SigningKey.generate_ed25519()
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        await service.trust_store.add(request.commissioned_by, key.public_pem(), not_before=since)
        envelope = signed_envelope(request, key, valid_until=dt.date.today() + dt.timedelta(days=30))
        yield service, request, (await service.authorizations.register(envelope)).name
    finally:
        await service.close()


async def department_statuses(session: Any, verification_id: str) -> dict[str, str]:
    """Each department's status in one verification, as stored."""
    from verifier.storage import verifications

    return {r.department: r.status for r in await verifications.results(session, verification_id)}
