"""Publishing: assess the answers, build the next report version, store it with its audit entry.

The one place that calls the assessment and the report builder: :func:`~verifier.assessment.assess`
gives the figures and flags, :func:`~verifier.report.build.build_report` the one typed report, whose
JSON and digest (:func:`~verifier.report.build.encode_report`, one conversion) are stored and go into
``REPORT_CREATED``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent, AuditLog
from audit.log import EntryMac
from verifier.assessment import AssessmentResult, SourceOutcome, assess
from verifier.assessment.recheck import PreviousReport, previous_from_report
from verifier.config import Settings
from verifier.observability import observe_stage
from verifier.pipeline.answers import outcome_of
from verifier.pipeline.plan import Job
from verifier.policy import Policy
from verifier.report.bound import check_answers, checked_report_body
from verifier.report.build import build_report, encode_report
from verifier.report.verified import VerifiedReports
from verifier.request import VerificationRequest
from verifier.storage import reports as stored_reports
from verifier.storage import verifications as stored_verifications
from verifier.vocabulary import DepartmentStatus, VerificationState

__all__ = ["Published", "Publisher", "load_previous_report"]

log = logging.getLogger("hedui.pipeline")


async def load_previous_report(
    session: AsyncSession, report_id: str, mac: EntryMac | None = None, verified: VerifiedReports | None = None
) -> PreviousReport | None:
    """The stored report a recheck names, as data for the assessment; ``None`` when there is none. With the
    entry key's ``mac``, only as its REPORT_CREATED entry recorded it (else REPORT_TAMPERED; ``verified``: the
    reports this process knows to be as issued)."""
    if mac is not None:
        body = await checked_report_body(session, mac, report_id, verified)
    else:
        body = await stored_reports.body_of(session, report_id)
    return None if body is None else previous_from_report(json.loads(body))


@dataclass(frozen=True, slots=True)
class Published:
    """What publishing stored of the verification: its new report version, its state and when."""

    version: int
    state: VerificationState
    at: dt.datetime


class Publisher:
    """Adds report versions: a report is never edited, each version is a new row naming the one before."""

    def __init__(
        self,
        audit: AuditLog,
        settings: Settings,
        policy_for: Callable[[VerificationRequest], Policy],
        verified: VerifiedReports | None = None,
    ) -> None:
        """Publish with ``audit`` entries, under the policy ``policy_for`` picks for a request; each report
        published is remembered in ``verified`` (served again without proving it again)."""
        self.verified = VerifiedReports() if verified is None else verified
        self._audit = audit
        self._settings = settings
        self._policy_for = policy_for

    @property
    def entry_mac(self) -> EntryMac:
        """The entry key's MAC, which tells the log's genuine entries (:mod:`verifier.report.bound`)."""
        return self._audit.entry_mac

    async def sources(
        self, session: AsyncSession, verification_id: str, in_hand: Sequence[tuple[AuditEvent, Sequence[str]]] = ()
    ) -> dict[str, SourceOutcome]:
        """Every department's stored outcome, read after locking the verification, so concurrent
        publishers serialise and the later one sees the earlier one's answer; each checked against its audit
        entry (``in_hand``: those of this transaction not yet appended), else ANSWER_TAMPERED."""
        await stored_verifications.lock(session, verification_id)
        rows = await stored_verifications.results_for_report(session, verification_id)
        await check_answers(session, self._audit.entry_mac, verification_id, rows, in_hand)
        return {r.department: outcome_of(r) for r in rows}

    async def publish_in(
        self,
        session: AsyncSession,
        job: Job,
        sources: Mapping[str, SourceOutcome] | None = None,
        *,
        before: Sequence[tuple[AuditEvent, Sequence[str]]] = (),
        locked_version: int | None = None,
    ) -> Published:
        """Assess the answers and add the next report version, in the caller's transaction.

        ``sources`` are every department's outcomes when the caller has them all in hand (exactly
        what is being stored); otherwise they are read back. ``before``: audit entries of the answers
        this report completes, appended with its ``REPORT_CREATED`` in one statement. ``locked_version``
        (PostgreSQL): the verification's latest version as this transaction locked it; the report is then stored
        with its version and the verification's new state in one statement.
        """
        began = time.perf_counter()
        vid = job.verification_id
        if sources is None:
            sources = await self.sources(session, vid, before)
        policy = self._policy_for(job.request)
        # A recheck is compared with the report it names (checked to exist when the verification was created).
        previous = None
        if job.request.previous_report_id is not None:
            previous = await load_previous_report(
                session, job.request.previous_report_id, self._audit.entry_mac, self.verified
            )
        result = assess(job.request, policy, sources, previous, catalogue=self._settings.catalogue)
        generated = dt.datetime.now(dt.UTC)
        pending = any(s.status == DepartmentStatus.PENDING for s in sources.values())
        state = VerificationState.AWAITING_ANSWERS if pending else VerificationState.COMPLETED
        if locked_version is not None:
            version = locked_version + 1  # locked (FOR UPDATE) in this transaction: no one else can take it
        else:
            # Taking the next version number also locks the verification until this transaction ends.
            version = await stored_verifications.next_report_version(session, vid, state, generated)
        report_id = uuid.uuid4().hex
        report = build_report(
            report_id=report_id,
            verification_id=vid,
            version=version,
            generated_at=generated,
            request=job.request,
            policy=policy,
            sources=sources,
            result=result,
            authorizations=job.authorization_names,
            audit_reference=f"{self._settings.audit_log_origin} REPORT_CREATED {report_id}",
        )
        encoded = encode_report(report)
        created = _created_event(job, report_id, version, result, encoded.sha256)
        await self._audit.append_many(session, [*before, (created, [m.id_number for m in job.request.members])])
        row = {"report_id": report_id, "verification_id": vid, "version": version, "created_at": generated}
        await _store(session, row, encoded.json, None if locked_version is None else state)
        self.verified.issued(report_id, encoded.json, report)
        log.info("report %s v%d for verification %s: %s", report_id, version, vid, result.household.classification)
        observe_stage("publish", began)
        return Published(version, state, generated)


async def _store(session: AsyncSession, row: dict[str, Any], body_json: str, state: VerificationState | None) -> None:
    """Store the report version ``row`` describes; with ``state`` (PostgreSQL, the version read with the lock), in
    one statement with the verification's new version and state."""
    if state is None:
        await stored_reports.add(session, body_json=body_json, **row)
    else:
        await stored_reports.add_with_next_version(session, body_json=body_json, state=str(state), **row)


def _created_event(job: Job, report_id: str, version: int, result: AssessmentResult, sha256: str) -> AuditEvent:
    """``REPORT_CREATED``: it carries the report's digest, so a printed or exported report can be checked
    against the log."""
    return AuditEvent(
        kind="REPORT_CREATED",
        operator=job.operator,
        client=job.client,
        verification=job.verification_id,
        details={
            "report_id": report_id,
            "version": version,
            "classification": result.household.classification,
            "flags": sorted({f.code for f in result.flags}),
            "report_sha256": sha256,
        },
    )
