"""The service core: authorizations, verifications and reports, behind both the gRPC API and the CLI.

Everything is checked before anything is written; each state change commits with
its audit event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from audit import EVENT_KINDS, AuditEvent, AuditLog, StoredEntry
from audit.checkpoint import NoteSigner
from audit.group import GroupCommit
from audit.log import EntryFilter
from audit.tree import ProofUnavailable, SignedTreeHead, TransparencyLog
from audit.verify import LogCheckFailed, export_stored_log
from audit.witness import FileWitness
from connectors.base import Connector
from connectors.resilience import ResilientConnector, SharedBatches
from consent import (
    AuthorizationError,
    Envelope,
    EnvelopeSignature,
    RegisteredAuthorization,
    SignatureError,
    TrustedKey,
    check_authorization,
    china_today,
    decide,
    envelope_from_json,
    envelope_to_json,
    keyids_to_look_up,
    registered_authorization,
)
from consent.envelope import key_id_for
from verifier.errors import ServiceError
from verifier.fanout import Changes, FanOut, Job
from verifier.policy import PolicyBook
from verifier.reports import load_previous_report
from verifier.request import FieldViolation, RequestError, VerificationRequest, parse_request, revocation_reason
from verifier.settings import Settings
from verifier.storage.db import Database
from verifier.storage.models import (
    AuthorizationMemberRow,
    AuthorizationRow,
    DepartmentResultRow,
    ReportRow,
    TrustedKeyRow,
    VerificationRow,
)

__all__ = ["Caller", "DepartmentProgress", "HeduiService", "PolicyBook", "VerificationView"]

TERMINAL_STATES = frozenset({"COMPLETED", "FAILED"})
MAX_PAGE_SIZE = 100
# Versions and audit page tokens: plain ASCII digits that fit the database's integers.
_COUNTER = re.compile(r"[0-9]{1,9}")
MAX_REQUEST_ID = 200
_RESOURCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_AUDIT_PAGE_SIZE = 500
log = logging.getLogger("hedui.service")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the operator (case worker) and the client (peer address or certificate name)."""

    operator: str = "unknown"
    client: str = "unknown"


@dataclass(frozen=True, slots=True)
class DepartmentProgress:
    department: str
    status: str
    records: int
    detail: str
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class VerificationView:
    verification_id: str
    state: str
    request: VerificationRequest
    authorizations: tuple[str, ...]
    created_at: dt.datetime
    updated_at: dt.datetime
    departments: tuple[DepartmentProgress, ...]
    latest_report_version: int
    operator: str

    @property
    def name(self) -> str:
        return f"verifications/{self.verification_id}"


def _check_request_id(request_id: str) -> None:
    if len(request_id) > MAX_REQUEST_ID or "\x00" in request_id:
        raise ServiceError.invalid([FieldViolation("request_id", f"at most {MAX_REQUEST_ID} characters, no NUL")])


def _id_from(name: str, collection: str, field_name: str) -> str:
    prefix = f"{collection}/"
    if not name.startswith(prefix) or not _RESOURCE_ID.fullmatch(name[len(prefix) :]):
        raise ServiceError.invalid([FieldViolation(field_name, f"must be a resource name {collection}/{{id}}")])
    return name[len(prefix) :]


@functools.lru_cache(maxsize=4096)
def _stored_request(text: str) -> VerificationRequest:
    """A stored request, parsed again (it was checked when it was stored); cached, as it never changes."""
    return parse_request(json.loads(text), today=dt.date.max - dt.timedelta(days=2))


class HeduiService:
    """hedui's operations, independent of transport."""

    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        settings: Settings,
        policies: PolicyBook | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        # Every department call goes through the resilience layer: limits, retries, breaker, shared batches.
        self._departments = dict(connectors)
        self.connectors: dict[str, Connector] = {
            department: SharedBatches(ResilientConnector(connector)) for department, connector in connectors.items()
        }
        self.policies = policies or PolicyBook.load(settings.policy_files)
        self.audit = AuditLog(settings.audit_subject_key)
        signer = NoteSigner.from_private_bytes(settings.audit_log_origin, settings.audit_log_key)
        self.log = TransparencyLog(
            settings.audit_log_origin,
            signer,
            [FileWitness.open(directory, signer.verifier_key()) for directory in settings.witness_dirs],
        )
        self._integrator: asyncio.Task[None] | None = None
        self.standalone_events = GroupCommit(self.audit, db.write)
        self.changes = Changes()
        self.fanout = FanOut(
            db,
            self.connectors,
            self.audit,
            settings,
            self.changes,
            self.policies.for_request,
            self._authorizations,
            _stored_request,
        )

    async def start(self) -> None:
        """Apply migrations, resume work a previous run left unfinished, integrate the audit log from now on."""
        await self.db.migrate()
        await self._connect_departments()
        await self.fanout.resume()
        self._integrator = asyncio.create_task(self._integrate_forever(), name="hedui-audit-integrator")

    async def _connect_departments(self) -> None:
        """Connectors that learn their limits from the department (remote ones) ask now, then get wrapped anew.

        A department that cannot be reached keeps its provisional limits; its calls fail and are retried.
        """
        for department, connector in self._departments.items():
            start = getattr(connector, "start", None)
            if start is None:
                continue
            try:
                await start()
            except Exception as exc:
                log.warning("department %s not reachable at start: %s", department, exc)
                continue
            self.connectors[department] = SharedBatches(ResilientConnector(connector))

    async def close(self) -> None:
        if self._integrator is not None:
            self._integrator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._integrator
        await self.fanout.close()
        try:
            await self.log.integrate(self.db.write)
        finally:
            await self.db.close()

    async def _integrate_forever(self) -> None:
        """Every few hundred milliseconds: one batch of new entries into the tree, one signed head."""
        while True:
            await asyncio.sleep(self.settings.audit_integrate_seconds)
            try:
                await self.log.integrate(self.db.write)
            except Exception:
                log.exception("audit log integration failed; retrying")

    # --- trust store -------------------------------------------------------------------------

    async def add_trusted_key(
        self,
        organisation: str,
        public_key_pem: bytes,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        note: str = "",
        caller: Caller = Caller(),
    ) -> TrustedKey:
        """Trust an organisation's public key (Ed25519 or ECDSA P-256) from ``not_before``."""
        key = TrustedKey(
            keyid="",
            organisation=organisation,
            public_key_pem=public_key_pem,
            not_before=not_before or _now(),
            not_after=not_after,
        )
        try:
            keyid = key_id_for(key.load())
        except ValueError as exc:
            raise ServiceError.invalid([FieldViolation("public_key", str(exc))]) from None
        async with self.db.write() as session:
            if await session.get(TrustedKeyRow, keyid) is not None:
                raise ServiceError("ALREADY_EXISTS", "KEY_EXISTS", f"key {keyid} is already in the trust store")
            session.add(
                TrustedKeyRow(
                    keyid=keyid,
                    organisation=organisation,
                    public_key_pem=public_key_pem,
                    not_before=key.not_before,
                    not_after=not_after,
                    note=note,
                )
            )
            await self.audit.append(
                session,
                AuditEvent(
                    kind="TRUSTED_KEY_ADDED",
                    operator=caller.operator,
                    client=caller.client,
                    details={"keyid": keyid, "organisation": organisation},
                ),
            )
        return TrustedKey(keyid, organisation, public_key_pem, key.not_before, not_after)

    async def _trusted_keys(self, keyids: Sequence[str]) -> dict[str, TrustedKey]:
        async with self.db.sessions() as session:
            rows = await session.scalars(select(TrustedKeyRow).where(TrustedKeyRow.keyid.in_(list(keyids))))
            return {
                r.keyid: TrustedKey(r.keyid, r.organisation, r.public_key_pem, r.not_before, r.not_after, r.revoked_at)
                for r in rows
            }

    # --- authorizations ----------------------------------------------------------------------

    async def register_authorization(
        self,
        envelope: Envelope,
        *,
        certificates: Sequence[Envelope] = (),
        request_id: str = "",
        caller: Caller = Caller(),
    ) -> RegisteredAuthorization:
        """Check the envelope's signatures and payload, then store it. Nothing is stored on failure.

        ``certificates`` are member-key certificates for members' own signatures (consent.signers).
        """
        _check_request_id(request_id)
        if request_id:
            async with self.db.sessions() as session:
                existing = await session.scalar(
                    select(AuthorizationRow).where(AuthorizationRow.request_id == request_id)
                )
            if existing is not None:
                return await self._loaded(existing)
        digest = hashlib.sha256(envelope.payload).hexdigest()
        async with self.db.sessions() as session:
            same = await session.scalar(select(AuthorizationRow).where(AuthorizationRow.payload_sha256 == digest))
        if same is not None:
            return await self._loaded(same)  # a replay never revives a revoked authorization
        at = _now()
        certificates = tuple(certificates)
        trust = await self._trusted_keys(keyids_to_look_up(envelope, certificates))
        try:
            checked = check_authorization(envelope, certificates, trust, at, china_today())
        except SignatureError as exc:
            raise ServiceError(
                "INVALID_ARGUMENT",
                "BAD_SIGNATURE",
                f"{exc.field}: {exc.message}",
                [FieldViolation(exc.field, exc.message)],
            ) from None
        except AuthorizationError as exc:
            field_name = exc.field if exc.field.startswith("envelope") else f"envelope.payload.{exc.field}"
            raise ServiceError.invalid([FieldViolation(field_name, exc.message)], "BAD_AUTHORIZATION") from None
        payload, signed_by = checked.payload, [s.keyid for s in checked.signers]
        authorization_id = uuid.uuid4().hex
        async with self.db.write() as session:
            session.add(
                AuthorizationRow(
                    id=authorization_id,
                    request_id=request_id or None,
                    payload=envelope.payload,
                    payload_sha256=digest,
                    payload_type=envelope.payload_type,
                    signatures_json=json.dumps([{"keyid": s.keyid, "sig": s.sig.hex()} for s in envelope.signatures]),
                    signed_by_json=json.dumps(signed_by),
                    certificates_json=json.dumps([envelope_to_json(c) for c in certificates]),
                    commissioned_by=payload.commissioned_by,
                    purpose=payload.purpose,
                    registered_at=at,
                )
            )
            await session.flush()
            for member in payload.members:
                session.add(AuthorizationMemberRow(authorization_id=authorization_id, id_number=member.id_number))
            await self.audit.append(
                session,
                AuditEvent(
                    kind="AUTHORIZATION_REGISTERED",
                    operator=caller.operator,
                    client=caller.client,
                    authorization=authorization_id,
                    details={
                        "commissioned_by": payload.commissioned_by,
                        "purpose": payload.purpose,
                        "departments": list(payload.departments),
                        "valid_from": payload.valid_from.isoformat(),
                        "valid_until": payload.valid_until.isoformat(),
                        "signed_by": signed_by,
                        "signer_kinds": [s.kind for s in checked.signers],
                    },
                ),
                id_numbers=[m.id_number for m in payload.members],
            )
        return RegisteredAuthorization(authorization_id, payload, tuple(signed_by), at, signers=checked.signers)

    async def _loaded(self, *rows: AuthorizationRow) -> RegisteredAuthorization:
        return (await self._authorizations_of(rows))[0]

    async def _authorizations_of(self, rows: Sequence[AuthorizationRow]) -> list[RegisteredAuthorization]:
        """Stored authorizations with their signatures checked again against the trust store as it is now."""
        stored = [(row, self.envelope_of(row.signatures_json, row.payload, row.payload_type)) for row in rows]
        certificates = {row.id: [envelope_from_json(c) for c in json.loads(row.certificates_json)] for row in rows}
        keyids = {k for row, envelope in stored for k in keyids_to_look_up(envelope, certificates[row.id])}
        trust = await self._trusted_keys(sorted(keyids)) if keyids else {}
        return [
            registered_authorization(
                row.id,
                envelope,
                certificates[row.id],
                trust,
                row.registered_at,
                revoked_at=row.revoked_at,
                revoke_reason=row.revoke_reason,
            )
            for row, envelope in stored
        ]

    async def stored_certificates(self, authorization_id: str) -> list[Envelope]:
        async with self.db.sessions() as session:
            row = await session.get(AuthorizationRow, authorization_id)
        if row is None:
            raise ServiceError.not_found(f"authorizations/{authorization_id}")
        return [envelope_from_json(c) for c in json.loads(row.certificates_json)]

    @staticmethod
    def envelope_of(row_signatures: str, payload: bytes, payload_type: str) -> Envelope:
        return Envelope(
            payload,
            payload_type,
            tuple(EnvelopeSignature(s["keyid"], bytes.fromhex(s["sig"])) for s in json.loads(row_signatures)),
        )

    async def stored_envelope(self, authorization_id: str) -> Envelope:
        async with self.db.sessions() as session:
            row = await session.get(AuthorizationRow, authorization_id)
        if row is None:
            raise ServiceError.not_found(f"authorizations/{authorization_id}")
        return self.envelope_of(row.signatures_json, row.payload, row.payload_type)

    async def _authorizations(
        self, names: Sequence[str], session: AsyncSession | None = None
    ) -> list[RegisteredAuthorization]:
        """Authorizations by name, checked again against the trust store.

        In a caller's ``session`` the rows are share-locked (PostgreSQL), so a revocation cannot
        commit between this read and the caller's commit: it waits, or it came first and is seen.
        """
        ids = [n.removeprefix("authorizations/") for n in names]
        query = select(AuthorizationRow).where(AuthorizationRow.id.in_(ids))
        if session is not None:
            found = await session.scalars(query.with_for_update(read=True))
            rows = {r.id: r for r in found}
        else:
            async with self.db.sessions() as own:
                rows = {r.id: r for r in await own.scalars(query)}
        return await self._authorizations_of([rows[i] for i in ids if i in rows])

    async def get_authorization(self, name: str) -> RegisteredAuthorization:
        authorization_id = _id_from(name, "authorizations", "name")
        found = await self._authorizations([authorization_id])
        if not found:
            raise ServiceError.not_found(name)
        return found[0]

    async def revoke_authorization(self, name: str, reason: str, caller: Caller = Caller()) -> RegisteredAuthorization:
        """Revoke: queries not yet sent under it are not sent; pending answers stop being polled."""
        authorization_id = _id_from(name, "authorizations", "name")
        try:
            reason = revocation_reason(reason)
        except RequestError as exc:
            raise ServiceError.invalid(exc.violations) from None
        async with self.db.write() as session:
            row = await session.get(AuthorizationRow, authorization_id, with_for_update=True)
            if row is None:
                raise ServiceError.not_found(name)
            if row.revoked_at is None:
                row.revoked_at = _now()
                row.revoke_reason = reason
                members = (
                    await session.scalars(
                        select(AuthorizationMemberRow.id_number).where(
                            AuthorizationMemberRow.authorization_id == authorization_id
                        )
                    )
                ).all()
                await self.audit.append(
                    session,
                    AuditEvent(
                        kind="AUTHORIZATION_REVOKED",
                        operator=caller.operator,
                        client=caller.client,
                        authorization=authorization_id,
                        details={"reason": reason},
                    ),
                    id_numbers=members,
                )
        self.fanout.withdraw(f"authorizations/{authorization_id}")
        return await self._loaded(row)

    async def list_authorizations(
        self, member_id_number: str, *, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[RegisteredAuthorization], str]:
        """A member's authorizations, oldest first, a page at a time (AIP-158; the token is an offset)."""
        violations = []
        if page_size < 0:
            violations.append(FieldViolation("page_size", "must not be negative"))
        if page_token and not _COUNTER.fullmatch(page_token):
            violations.append(FieldViolation("page_token", "is not a token this service issued"))
        if violations:
            raise ServiceError.invalid(violations)
        size, start = min(page_size or 20, MAX_PAGE_SIZE), int(page_token or 0)
        async with self.db.sessions() as session:
            ids = (
                await session.scalars(
                    select(AuthorizationMemberRow.authorization_id).where(
                        AuthorizationMemberRow.id_number == member_id_number.strip().upper()
                    )
                )
            ).all()
        found = sorted(await self._authorizations(list(ids)), key=lambda a: (a.registered_at, a.authorization_id))
        page = found[start : start + size]
        return page, str(start + size) if start + size < len(found) else ""

    # --- verifications -----------------------------------------------------------------------

    def parse_request(self, raw: Mapping[str, Any]) -> VerificationRequest:
        try:
            request = parse_request(raw)
        except RequestError as exc:
            raise ServiceError.invalid(
                [FieldViolation(f"request.{v.field}", v.description) for v in exc.violations]
            ) from None
        if not self.policies.knows(request.policy):
            raise ServiceError.invalid([FieldViolation("request.policy", f"no policy for locality {request.policy!r}")])
        return request

    async def _check_previous_report(self, request: VerificationRequest) -> None:
        """A recheck's previous report exists, was commissioned by the same organisation, is of the same
        household (a member in common), and is not later."""
        report_id = request.previous_report_id
        if report_id is None:
            return
        where = "request.previous_report_id"
        if not _RESOURCE_ID.fullmatch(report_id):
            raise ServiceError.invalid([FieldViolation(where, "must be the report_id of an earlier report")])
        async with self.db.sessions() as session:
            previous = await load_previous_report(session, report_id)
            commissioned_by = await session.scalar(
                select(VerificationRow.commissioned_by)
                .join(ReportRow, ReportRow.verification_id == VerificationRow.id)
                .where(ReportRow.id == report_id)
            )
        # Another organisation's report is not found either: a recheck must not reveal it, nor who left it.
        if previous is None or commissioned_by != request.commissioned_by:
            raise ServiceError.precondition(where, f"there is no report {report_id}", "PREVIOUS_REPORT_NOT_FOUND")
        if not set(previous.member_ids()) & {m.id_number for m in request.members}:
            raise ServiceError.precondition(
                where, "the previous report is of another household (no member in common)", "PREVIOUS_REPORT_MISMATCH"
            )
        if previous.application_date > request.application_date:
            raise ServiceError.precondition(
                where,
                f"the previous report's application date {previous.application_date.isoformat()} is after this one's",
                "PREVIOUS_REPORT_MISMATCH",
            )

    async def create_verification(
        self,
        request: VerificationRequest,
        authorization_names: Sequence[str],
        *,
        request_id: str = "",
        caller: Caller = Caller(),
    ) -> VerificationView:
        """Store the verification and start the fan-out in the background; returns at once."""
        _check_request_id(request_id)
        if request_id:
            async with self.db.sessions() as session:
                existing = await session.scalar(
                    select(VerificationRow.id).where(VerificationRow.request_id == request_id)
                )
            if existing is not None:
                return await self.get_verification(f"verifications/{existing}")
        if not authorization_names:
            raise ServiceError.invalid([FieldViolation("authorizations", "at least one authorization is required")])
        for index, name in enumerate(authorization_names):
            _id_from(name, "authorizations", f"authorizations[{index}]")
        found = await self._authorizations(authorization_names)
        known = {a.name for a in found}
        for index, name in enumerate(authorization_names):
            if name not in known:
                raise ServiceError.precondition(
                    f"authorizations[{index}]", f"{name} is not registered", "AUTHORIZATION_NOT_FOUND"
                )
        await self._check_previous_report(request)
        members = [m.id_number for m in request.members]
        decision = decide(members, self.connectors, found, request.commissioned_by, china_today(), request.purpose)
        if not any(decision.members_for(d) for d in self.connectors):
            reasons = sorted({r.reason for r in decision.refused})
            raise ServiceError.precondition(
                "authorizations",
                "no valid authorization covers any member: " + "; ".join(reasons),
                "CONSENT_MISSING",
            )
        verification_id = uuid.uuid4().hex
        at = _now()
        job = Job(verification_id, caller.operator, caller.client, request, tuple(authorization_names))
        plan = self.fanout.plan(job, sorted(self.connectors), found)
        plan.complete = True
        planned = {str(u["department"]): u for u in plan.updates}
        results: list[dict[str, object]] = [
            {
                "verification_id": verification_id,
                "department": department,
                "status": "queued",
                "detail": "",
                "records_json": "[]",
                "record_count": 0,
                "queried_json": "[]",
                "not_queried_json": "[]",
                "updated_at": at,
            }
            | planned.get(department, {})
            for department in sorted(self.connectors)
        ]
        created = AuditEvent(
            kind="VERIFICATION_CREATED",
            operator=caller.operator,
            client=caller.client,
            verification=verification_id,
            authorization=",".join(a.removeprefix("authorizations/") for a in authorization_names),
            details={"purpose": request.purpose, "commissioned_by": request.commissioned_by, "members": len(members)},
        )

        # One transaction: the verification, its consent decisions and the queries about to be sent.
        # Shielded: once it starts, a cancelled call must not leave it committed but never sent.
        async def commit_and_send() -> None:
            async with self.db.write() as session:
                await session.execute(
                    insert(VerificationRow).values(
                        id=verification_id,
                        request_id=request_id or None,
                        request_json=json.dumps(request.to_plain(), ensure_ascii=False),
                        authorizations_json=json.dumps(list(authorization_names)),
                        commissioned_by=request.commissioned_by,
                        state="RUNNING",
                        operator=caller.operator,
                        client=caller.client,
                        created_at=at,
                        updated_at=at,
                        latest_report_version=0,
                    )
                )
                await session.execute(insert(DepartmentResultRow), results)
                await self.audit.append_many(session, [(created, members), *plan.events])
                if not plan.queries:
                    await self.fanout.publish_in(session, job)
            self.fanout.send(job, plan)

        try:
            await asyncio.shield(asyncio.ensure_future(commit_and_send()))
        except IntegrityError:
            if not request_id:
                raise
            # The same request_id was created concurrently: this call is its retry.
            async with self.db.sessions() as session:
                existing = await session.scalar(
                    select(VerificationRow.id).where(VerificationRow.request_id == request_id)
                )
            if existing is None:
                raise
            verification_id = existing
        return await self.get_verification(f"verifications/{verification_id}")

    async def get_verification(self, name: str) -> VerificationView:
        verification_id = _id_from(name, "verifications", "name")
        v, r = VerificationRow, DepartmentResultRow
        # One statement, so the state and the departments' progress come from one snapshot.
        async with self.db.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        v.id,
                        v.state,
                        v.request_json,
                        v.authorizations_json,
                        v.created_at,
                        v.updated_at,
                        v.latest_report_version,
                        v.operator,
                        r.department,
                        r.status,
                        r.record_count,
                        r.detail,
                        r.updated_at.label("department_updated_at"),
                    )
                    .outerjoin(r, r.verification_id == v.id)
                    .where(v.id == verification_id)
                    .order_by(r.department)
                )
            ).all()
        if not rows:
            raise ServiceError.not_found(name)
        row = rows[0]
        departments = tuple(
            DepartmentProgress(x.department, x.status, x.record_count, x.detail, x.department_updated_at)
            for x in rows
            if x.department is not None
        )
        return VerificationView(
            verification_id=row.id,
            state=row.state,
            request=_stored_request(row.request_json),
            authorizations=tuple(json.loads(row.authorizations_json)),
            created_at=row.created_at,
            updated_at=row.updated_at,
            departments=departments,
            latest_report_version=row.latest_report_version,
            operator=row.operator,
        )

    async def list_verifications(
        self, *, page_size: int, page_token: str, commissioned_by: str = ""
    ) -> tuple[list[VerificationView], str]:
        """Newest first; ``page_token`` is opaque (the last id and creation time seen)."""
        if page_size < 0:
            raise ServiceError.invalid([FieldViolation("page_size", "must not be negative")])
        size = min(page_size or 20, MAX_PAGE_SIZE)
        query = select(VerificationRow.id, VerificationRow.created_at).order_by(
            VerificationRow.created_at.desc(), VerificationRow.id.desc()
        )
        if commissioned_by:
            query = query.where(VerificationRow.commissioned_by == commissioned_by)
        if page_token:
            try:
                token = json.loads(bytes.fromhex(page_token))
                created, last_id = dt.datetime.fromisoformat(token["c"]), str(token["i"])
            except (ValueError, KeyError, TypeError):
                raise ServiceError.invalid(
                    [FieldViolation("page_token", "is not a token this service issued")]
                ) from None
            query = query.where(
                (VerificationRow.created_at < created)
                | ((VerificationRow.created_at == created) & (VerificationRow.id < last_id))
            )
        async with self.db.sessions() as session:
            rows = (await session.execute(query.limit(size + 1))).all()
        views = [await self.get_verification(f"verifications/{r.id}") for r in rows[:size]]
        next_token = ""
        if len(rows) > size:
            last = rows[size - 1]
            next_token = json.dumps({"c": last.created_at.isoformat(), "i": last.id}).encode().hex()
        return views, next_token

    async def list_audit_events(
        self,
        *,
        page_size: int,
        page_token: str,
        verification: str = "",
        kind: str = "",
        subject_id_number: str = "",
        operator: str = "",
        department: str = "",
        since: str = "",
        until: str = "",
    ) -> tuple[list[StoredEntry], str]:
        """Audit entries in log order, filtered; ``subject_id_number`` is matched through its keyed hash.

        Entries are listed once they are in the tree (they carry their leaf index), so the log is
        integrated first.
        """
        violations = []
        if page_size < 0:
            violations.append(FieldViolation("page_size", "must not be negative"))
        if page_token and not _COUNTER.fullmatch(page_token):
            violations.append(FieldViolation("page_token", "is not a token this service issued"))
        if kind and kind not in EVENT_KINDS:
            violations.append(FieldViolation("kind", f"unknown event kind; one of {', '.join(sorted(EVENT_KINDS))}"))
        bounds: list[dt.datetime | None] = []
        for field_name, value in (("since", since), ("until", until)):
            try:
                instant = dt.datetime.fromisoformat(value) if value else None
            except ValueError:
                instant = None
                violations.append(
                    FieldViolation(field_name, "must be an RFC 3339 instant, e.g. 2026-11-23T09:00:00+08:00")
                )
            if instant is not None and instant.tzinfo is None:
                violations.append(FieldViolation(field_name, "must name its time zone offset"))
            bounds.append(instant)
        if violations:
            raise ServiceError.invalid(violations)
        size = min(page_size or 50, MAX_AUDIT_PAGE_SIZE)
        await self.log.integrate(self.db.write)
        where = EntryFilter(
            verification=verification,
            kind=kind,
            operator=operator,
            department=department,
            subject=self.audit.subject(subject_id_number.strip().upper()) if subject_id_number else "",
            since=bounds[0],
            until=bounds[1],
        )
        async with self.db.sessions() as session:
            entries = await self.audit.entries(
                session, after_index=int(page_token) if page_token else -1, limit=size + 1, where=where
            )
        page = entries[:size]
        return page, str(page[-1].index) if len(entries) > size else ""

    # --- the transparency log ----------------------------------------------------------------

    async def signed_tree_head(self) -> SignedTreeHead:
        """The newest signed tree head, after integrating whatever was committed before the call."""
        await self.log.integrate(self.db.write)
        async with self.db.sessions() as session:
            head = await self.log.latest_head(session)
        if head is None:
            raise ServiceError("FAILED_PRECONDITION", "AUDIT_LOG_EMPTY", "the audit log has no entries yet")
        return head

    async def inclusion_proof(self, index: int, tree_size: int) -> tuple[list[bytes], SignedTreeHead, bytes]:
        """The audit path of entry ``index`` at a signed tree size (0: the latest), with the entry itself."""
        try:
            async with self.db.sessions() as session:
                proof, head = await self.log.inclusion_proof(session, index, tree_size)
                entry = await self.log.entry_at(session, index)
        except ProofUnavailable as exc:
            raise ServiceError.invalid([FieldViolation(exc.field, exc.reason)], "NO_SUCH_PROOF") from None
        return proof, head, entry

    async def consistency_proof(
        self, first_size: int, second_size: int
    ) -> tuple[list[bytes], SignedTreeHead, SignedTreeHead]:
        """Proof that one signed tree is a prefix of a later one (second 0: the latest)."""
        try:
            async with self.db.sessions() as session:
                return await self.log.consistency_proof(session, first_size, second_size)
        except ProofUnavailable as exc:
            raise ServiceError.invalid([FieldViolation(exc.field, exc.reason)], "NO_SUCH_PROOF") from None

    async def export_audit_log(self) -> AsyncIterator[bytes]:
        """The log up to its newest signed head, as the export file `hedui audit verify` checks."""
        await self.signed_tree_head()
        try:
            async for chunk in export_stored_log(self.db.sessions, log_key=self.log.signer.verifier_key()):
                yield chunk
        except LogCheckFailed as exc:
            log.error("audit export stopped: %s", exc)
            raise ServiceError("DATA_LOSS", "AUDIT_LOG_DAMAGED", f"the stored audit log is damaged: {exc}") from None

    async def watch(self, name: str) -> AsyncIterator[VerificationView]:
        """Yield a snapshot now and on every change, until the verification completes or fails."""
        verification_id = _id_from(name, "verifications", "name")
        seen = self.changes.version(verification_id)
        view = await self.get_verification(name)
        yield view
        while view.state not in TERMINAL_STATES:
            # Also wakes every second, for changes made by another process on the same database.
            await self.changes.wait_past(verification_id, seen, timeout=1.0)
            seen = self.changes.version(verification_id)
            latest = await self.get_verification(name)
            if latest != view:
                view = latest
                yield view

    async def wait_for_report(self, name: str, timeout: float) -> VerificationView:
        """Wait until the first report exists and no department is still being asked."""
        async with asyncio.timeout(timeout):
            async for view in self.watch(name):
                if view.latest_report_version > 0 and view.state != "RUNNING":
                    return view
        return await self.get_verification(name)

    async def get_report(self, name: str, caller: Caller = Caller()) -> dict[str, Any]:
        """A report version ("verifications/{id}/reports/{n|latest}"); reading it is an audit event."""
        parts = name.split("/")
        if (
            len(parts) != 4
            or parts[0] != "verifications"
            or parts[2] != "reports"
            or not _RESOURCE_ID.fullmatch(parts[1])
        ):
            raise ServiceError.invalid(
                [FieldViolation("name", "must be verifications/{id}/reports/{version} (version may be 'latest')")]
            )
        verification_id, version_text = parts[1], parts[3]
        if version_text != "latest" and not _COUNTER.fullmatch(version_text):
            raise ServiceError.invalid([FieldViolation("name", "version must be a number or 'latest'")])
        async with self.db.sessions() as session:
            verification = await session.get(VerificationRow, verification_id)
            if verification is None:
                raise ServiceError.not_found(f"verifications/{verification_id}")
            version = verification.latest_report_version if version_text == "latest" else int(version_text)
            row = await session.scalar(
                select(ReportRow).where(ReportRow.verification_id == verification_id, ReportRow.version == version)
            )
            if row is None:
                if verification.latest_report_version == 0:
                    raise ServiceError(
                        "FAILED_PRECONDITION", "REPORT_NOT_READY", f"verifications/{verification_id} has no report yet"
                    )
                raise ServiceError.not_found(name)
            body: dict[str, Any] = json.loads(row.body_json)
        # Nobody gets a report without its reading being committed to the log first.
        await self.standalone_events.append(
            AuditEvent(
                kind="REPORT_READ",
                operator=caller.operator,
                client=caller.client,
                verification=verification_id,
                details={"report_id": row.id, "version": row.version},
            )
        )
        return body
