"""The verifications resource: create one (checked, recorded with its plan in one transaction, then sent),
read it, list them, watch it change.

One transaction records the verification, its consent decisions and its queries before anything is
sent; concurrent retries with one ``request_id`` return one verification.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from consent.text import shown
from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.operations._names import (
    MAX_PAGE_SIZE,
    NOBODY,
    Caller,
    check_request_id,
    id_from,
    refused_for_scope,
)
from verifier.operations._previous_report import check_previous_report
from verifier.organisations import Role
from verifier.page_tokens import PageTokens
from verifier.pipeline import Job, Pipeline
from verifier.pipeline.consent import Consent
from verifier.pipeline.signals import FinalState, progress_of
from verifier.policy import PolicyBook
from verifier.request import (
    MAX_AUTHORIZATIONS,
    RequestError,
    VerificationRequest,
    filter_violations,
    names_differing,
    parse_request,
    stored_request,
)
from verifier.storage import verifications as stored
from verifier.storage.authorizations import consent_epoch
from verifier.storage.db import Database
from verifier.vocabulary import VerificationState

__all__ = ["DepartmentProgress", "VerificationView", "Verifications"]

# How many just-created verifications are kept for their first watcher (each watcher takes its own at once).
_FRESH_KEPT = 4096


@dataclass(frozen=True, slots=True)
class DepartmentProgress:
    """Where one department's part of a verification stands."""

    department: str
    status: str
    records: int
    detail: str
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class VerificationView:
    """A verification as callers see it: its state and every department's progress, from one snapshot."""

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
        """The resource name ``verifications/{id}``."""
        return f"verifications/{self.verification_id}"


class Verifications:
    """Create, read, list and watch verifications; the pipeline does the work in the background."""

    def __init__(
        self, db: Database, pipeline: Pipeline, departments: Mapping[str, object], policies: PolicyBook
    ) -> None:
        """``departments``: the service's connectors by department (its keys are asked, as they are now)."""
        self._db = db
        self._pipeline = pipeline
        self._departments = departments
        self._policies = policies
        self.page_tokens = PageTokens()  # issue 13: the service sets its own (verifier/page_tokens.py)
        # Verifications created here, as committed, with the change count they were committed at: the first
        # watcher of one that has not changed since is handed it without reading it back.
        self._fresh: OrderedDict[str, tuple[int, VerificationView]] = OrderedDict()

    def parse_request(self, raw: Mapping[str, Any]) -> VerificationRequest:
        """A request checked field by field (violations named ``request.…``), under a known policy."""
        try:
            request = parse_request(raw)
        except RequestError as exc:
            raise ServiceError.invalid(
                [FieldViolation(f"request.{v.field}", v.description) for v in exc.violations]
            ) from None
        if not self._policies.knows(request.policy):
            raise ServiceError.invalid(
                [FieldViolation("request.policy", f"no policy for locality {shown(request.policy)}")]
            )
        return request

    async def create(
        self,
        request: VerificationRequest,
        authorization_names: Sequence[str],
        *,
        request_id: str = "",
        caller: Caller = NOBODY,
    ) -> VerificationView:
        """Store the verification and start the pipeline in the background; returns at once."""
        check_request_id(request_id)
        self._check_names(authorization_names)
        caller.check_acts_for(request.commissioned_by, "request.commissioned_by")  # issue 13
        verification_id = uuid.uuid4().hex
        job = Job(verification_id, caller.operator, caller.client, request, tuple(authorization_names))
        departments = sorted(self._departments)

        # ONE transaction reads what the call must know (a retried call's verification, consent as it stands: the
        # consent epoch, share-locked on PostgreSQL, so a revocation committing meanwhile waits; SQLite's writers
        # take turns) and writes the verification, its consent decisions and the queries about to be sent: the
        # plan is decided on what is committed with it, so its queries leave on that decision at once.
        # Shielded: once it starts, a cancelled call must not leave it committed but never sent.
        async def commit_and_send() -> tuple[str | None, int, list[dict[str, object]], dt.datetime]:
            """Decide and commit the verification with its plan, send its queries; returns (the verification a
            retried call created, else None), the change count at the commit, the result rows and their time."""
            async with self._db.write() as session:
                # Issue 13: the key is looked up within the caller's organisation (checked above), with the epoch.
                existing, epoch = await _retried_and_epoch(session, request.commissioned_by, request_id)
                if existing is not None:
                    return existing, 0, [], dt.datetime.now(dt.UTC)
                consent = await self._authorizations_named(authorization_names, session, caller, epoch)
                _require_names_match(request, consent)  # issue 13 (input)
                moved_from = await check_previous_report(session, request, self._pipeline.publisher.entry_mac, consent)
                plan = self._pipeline.plan(job, departments, consent.authorizations, complete=True)
                if not plan.queries:
                    raise ServiceError.precondition(
                        "authorizations",
                        "no valid authorization covers any member: " + "; ".join(plan.reasons),
                        Reason.CONSENT_MISSING,
                    )
                at = dt.datetime.now(dt.UTC)
                rows = plan.new_rows(verification_id, departments, at)
                await stored.add(session, _verification_values(job, request_id, at), rows)
                opening = [(_created_event(job, moved_from), [m.id_number for m in request.members])]
                await self._pipeline.record_plan(session, job, plan, opening=opening, inserted=True)
            committed = self._pipeline.signals.version(verification_id)
            self._pipeline.send(job, plan, confirmed_at=consent.epoch, rows=rows)
            return None, committed, rows, at

        try:
            existing, committed, rows, at = await asyncio.shield(asyncio.ensure_future(commit_and_send()))
        except IntegrityError:
            # The same request_id was created concurrently: this call is its retry.
            existing = await self._created_under(request.commissioned_by, request_id) if request_id else None
            if existing is None:
                raise
        if existing is not None:
            return await self.get(f"verifications/{existing}", caller)
        return self._keep_fresh(_new_view(job, rows, at), committed)  # as committed: nothing needs reading back

    def _keep_fresh(self, view: VerificationView, committed: int) -> VerificationView:
        """Remember (and return) a verification just committed here for its first watcher, with the change count it
        was committed at (any later change counts one more, and the view is then read instead)."""
        self._fresh[view.verification_id] = (committed, view)
        while len(self._fresh) > _FRESH_KEPT:
            self._fresh.popitem(last=False)
        return view

    async def _first_view(self, name: str, verification_id: str, seen: int, caller: Caller) -> VerificationView:
        """What :meth:`get` would read now: the view committed at creation while nothing was signalled since
        (change count ``seen``), else read."""
        fresh = self._fresh.pop(verification_id, None)
        if fresh is None or fresh[0] != seen:
            return await self.get(name, caller)
        view = fresh[1]
        if not caller.reads(view.request.commissioned_by):
            raise refused_for_scope(ServiceError.not_found(name))
        return view

    async def _created_under(self, commissioned_by: str, request_id: str) -> str | None:
        """The verification a call of ``commissioned_by`` with this ``request_id`` created, if any."""
        async with self._db.sessions() as session:
            return await stored.id_for_request(session, commissioned_by, request_id)

    @staticmethod
    def _check_names(names: Sequence[str]) -> None:
        """At least one authorization, each named as a resource."""
        if not names:
            raise ServiceError.invalid([FieldViolation("authorizations", "at least one authorization is required")])
        if len(names) > MAX_AUTHORIZATIONS:  # issue 13 (input)
            raise ServiceError.invalid([FieldViolation("authorizations", f"more than {MAX_AUTHORIZATIONS}")])
        for index, name in enumerate(names):
            id_from(name, "authorizations", f"authorizations[{index}]")

    async def _authorizations_named(
        self, names: Sequence[str], session: AsyncSession, caller: Caller, epoch: int | None = None
    ) -> Consent:
        """The authorizations a verification names, as they stand: each must be registered (issue 13: by the
        caller's organisation; another's is not registered, as far as the caller can tell). ``epoch``: the
        consent epoch just read in ``session`` (else read here)."""
        consent = await self._pipeline.authorizations.current(names, session, epoch=epoch)
        registered = {a.name for a in consent.authorizations}
        known = {a.name for a in consent.authorizations if caller.acts_for(a.payload.commissioned_by)}
        for index, name in enumerate(names):
            if name not in known:
                error = ServiceError.precondition(
                    f"authorizations[{index}]", f"{name} is not registered", Reason.AUTHORIZATION_NOT_FOUND
                )
                raise refused_for_scope(error) if name in registered else error
        return consent

    async def get(self, name: str, caller: Caller = NOBODY) -> VerificationView:
        """A verification's state and its departments' progress, read in one statement (issue 13: another
        organisation's, or one outside a supervisor's area, is NOT_FOUND)."""
        verification_id = id_from(name, "verifications", "name")
        async with self._db.reading() as session:
            rows = await stored.snapshot(session, verification_id)
        if not rows:
            raise ServiceError.not_found(name)
        row = rows[0]
        request = stored_request(row.request_json)
        if not caller.reads(request.commissioned_by):
            raise refused_for_scope(ServiceError.not_found(name))
        # Sorted here, by code point, as the pipeline sorts the state it hands watchers (a database's collation
        # might order "market_regulation" and "marketing" otherwise).
        departments = tuple(
            sorted(
                (
                    DepartmentProgress(x.department, x.status, x.record_count, x.detail, x.department_updated_at)
                    for x in rows
                    if x.department is not None
                ),
                key=lambda d: d.department,
            )
        )
        return VerificationView(
            verification_id=row.id,
            state=row.state,
            request=request,
            authorizations=tuple(json.loads(row.authorizations_json)),
            created_at=row.created_at,
            updated_at=row.updated_at,
            departments=departments,
            latest_report_version=row.latest_report_version,
            operator=row.operator,
        )

    async def list(
        self, *, page_size: int, page_token: str, commissioned_by: str = "", caller: Caller = NOBODY
    ) -> tuple[list[VerificationView], str]:
        """Newest first; ``page_token`` is opaque (the last id and creation time seen).

        Issue 13: a case system lists its own organisation's only; a supervisor those of its area (a page may then
        hold fewer than ``page_size``, as AIP-158 allows, when others' are passed over)."""
        if page_size < 0:
            raise ServiceError.invalid([FieldViolation("page_size", "must not be negative")])
        if filter_violations(commissioned_by=commissioned_by):  # issue 13 (input)
            raise ServiceError.invalid(filter_violations(commissioned_by=commissioned_by))
        size = min(page_size or 20, MAX_PAGE_SIZE)
        before = None
        scope = f"verifications\x00{commissioned_by}"
        page_token = self.page_tokens.position(page_token, scope)
        if page_token:
            try:
                token = json.loads(bytes.fromhex(page_token))
                before = (dt.datetime.fromisoformat(token["c"]), str(token["i"]))
            except (ValueError, KeyError, TypeError):
                raise ServiceError.invalid(
                    [FieldViolation("page_token", "is not a token this service issued")]
                ) from None
        if caller.organisation and Role.SUPERVISOR not in caller.roles:
            if commissioned_by and commissioned_by != caller.organisation:
                return [], ""
            commissioned_by = caller.organisation
        elif commissioned_by and not caller.reads(commissioned_by):
            return [], ""
        async with self._db.sessions() as session:  # only rows the caller may read: the token names one of them
            rows = await stored.page(
                session, limit=size + 1, commissioned_by=commissioned_by, before=before, scope=caller.scope
            )
        views = [
            v
            for v in [await self.get(f"verifications/{r.id}") for r in rows[:size]]
            if caller.reads(v.request.commissioned_by)
        ]
        next_token = ""
        if len(rows) > size:
            last = rows[size - 1]
            next_token = json.dumps({"c": last.created_at.isoformat(), "i": last.id}).encode().hex()
        return views, self.page_tokens.seal(next_token, scope)

    async def watch(self, name: str, caller: Caller = NOBODY) -> AsyncIterator[VerificationView]:
        """Yield a snapshot now and on every change, until the verification completes or fails."""
        verification_id = id_from(name, "verifications", "name")
        signals = self._pipeline.signals
        seen = signals.version(verification_id)
        view = await self._first_view(name, verification_id, seen, caller)
        yield view
        while not VerificationState(view.state).terminal:
            # Also wakes every second, for changes made by another process on the same database.
            await signals.wait_past(verification_id, seen, timeout=1.0)
            seen = signals.version(verification_id)
            final = signals.final_at(verification_id, seen)
            # The pipeline handed over the state it just committed, whole: nothing to read back.
            latest = await self.get(name) if final is None else _final_view(view, final)
            if latest != view:
                view = latest
                yield view

    async def wait_for_report(self, name: str, timeout: float) -> VerificationView:
        """Wait until the first report exists and no department is still being asked."""
        async with asyncio.timeout(timeout):
            async for view in self.watch(name):
                if view.latest_report_version > 0 and view.state != VerificationState.RUNNING:
                    return view
        return await self.get(name)


async def _retried_and_epoch(session: AsyncSession, commissioned_by: str, request_id: str) -> tuple[str | None, int]:
    """In a write transaction: the verification a retried call created (with ``request_id``, else none) and the
    consent epoch (share-locked on PostgreSQL), in one statement."""
    if not request_id:
        return None, await consent_epoch(session, share_lock=True)
    return await stored.id_for_request_and_consent_epoch(session, commissioned_by, request_id, share_lock=True)


def _require_names_match(request: VerificationRequest, consent: Consent) -> None:
    """Refuse (MEMBER_NAME_MISMATCH, ``request.members[i].name``) a request naming a member otherwise than an
    authorization it names does (docs/consent.md)."""
    differing = names_differing(request, consent.authorizations)
    if differing:
        violations = [FieldViolation(f"request.{v.field}", v.description) for v in differing]
        raise ServiceError.invalid(violations, Reason.MEMBER_NAME_MISMATCH)


def _verification_values(job: Job, request_id: str, at: dt.datetime) -> dict[str, object]:
    """The columns of a new verification (running, no report yet)."""
    request = job.request
    return {
        "id": job.verification_id,
        "request_id": request_id or None,
        "request_json": json.dumps(request.to_plain(), ensure_ascii=False),
        "authorizations_json": json.dumps(list(job.authorization_names)),
        "commissioned_by": request.commissioned_by,
        "state": VerificationState.RUNNING,
        "operator": job.operator,
        "client": job.client,
        "created_at": at,
        "updated_at": at,
        "latest_report_version": 0,
    }


def _created_event(job: Job, moved_from: str | None = None) -> AuditEvent:
    """The VERIFICATION_CREATED entry; a recheck of another organisation's report names it and its report."""
    request = job.request
    moved: dict[str, str] = {}
    if moved_from is not None and request.previous_report_id is not None:  # issue 13: a household that moved
        moved = {"previous_report": request.previous_report_id, "previous_report_commissioned_by": moved_from}
    return AuditEvent(
        kind="VERIFICATION_CREATED",
        operator=job.operator,
        client=job.client,
        verification=job.verification_id,
        authorization=",".join(a.removeprefix("authorizations/") for a in job.authorization_names),
        details={
            "purpose": request.purpose,
            "commissioned_by": request.commissioned_by,
            "members": len(request.members),
            **moved,
        },
    )


def _final_view(view: VerificationView, final: FinalState) -> VerificationView:
    """``view`` as the pipeline's last transaction left it (what :meth:`Verifications.get` would read now)."""
    return dataclasses.replace(
        view,
        state=final.state,
        updated_at=final.updated_at,
        latest_report_version=final.latest_report_version,
        departments=tuple(
            DepartmentProgress(p.department, p.status, p.records, p.detail, p.updated_at) for p in final.departments
        ),
    )


def _new_view(job: Job, rows: Sequence[Mapping[str, Any]], at: dt.datetime) -> VerificationView:
    """A verification just created, as committed (the view CreateVerification answers with)."""
    # Each row's own time as written (a planned department's is the plan's, a moment after ``at``).
    departments = tuple(
        DepartmentProgress(p.department, p.status, p.records, p.detail, p.updated_at)
        for p in sorted((progress_of(r) for r in rows), key=lambda p: p.department)
    )
    return VerificationView(
        verification_id=job.verification_id,
        state=VerificationState.RUNNING,
        request=job.request,
        authorizations=job.authorization_names,
        created_at=at,
        updated_at=at,
        departments=departments,
        latest_report_version=0,
        operator=job.operator,
    )
