"""A stored report or department answer is used only as the log recorded it (issue 12, item 4).

Before the service serves a stored report (``GetReport``, its HTML and PDF views, ``hedui verify``), compares a
recheck with one, or builds a report from answers read back from their rows, it recomputes the digest of what it
read and compares it with the one the row's audit entry recorded (:mod:`audit.bound`): a row edited behind the
service's back is refused with ``DATA_LOSS`` (``REPORT_TAMPERED`` / ``ANSWER_TAMPERED``) naming it, never used.
The digest is over what was read anyway; finding the entries is one indexed statement.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from audit import AuditEvent
from audit.bound import (
    OUTCOME_KINDS,
    REPORT_CREATED,
    Recorded,
    StoredAnswer,
    answer_problem,
    latest_outcomes,
    recorded_for,
    report_problem,
)
from audit.log import EntryMac
from verifier.errors import Reason, ServiceError
from verifier.report.build import report_digest
from verifier.report.verified import CheckedReport, VerifiedReports, text_digest
from verifier.storage.models import ReportRow
from verifier.storage.sealing import open_rows  # issue 17: cells sealed at rest

__all__ = ["check_answers", "check_report", "checked_report", "checked_report_body"]

log = logging.getLogger("hedui.report")


async def check_report(
    session: AsyncSession, mac: EntryMac, *, report_id: str, verification_id: str, version: int, body: Any
) -> None:
    """Refuse the stored report ``body`` (its JSON value, as read) unless it is the one its ``REPORT_CREATED``
    entry recorded."""
    recorded = await recorded_for(session, mac, verification_id, (REPORT_CREATED,))
    digest = report_digest(body) if isinstance(body, dict) else ""
    problem = report_problem(report_id, digest, recorded)
    if problem is not None:
        name = f"verifications/{verification_id}/reports/{version} (report {report_id})"
        log.error("stored report refused: %s: %s", name, problem)
        raise ServiceError(Reason.REPORT_TAMPERED, f"{name}: {problem}; it is not served as issued")


async def checked_report(
    session: AsyncSession,
    mac: EntryMac,
    *,
    report_id: str,
    verification_id: str,
    version: int,
    body_json: str,
    verified: VerifiedReports | None = None,
) -> CheckedReport:
    """The stored report of text ``body_json`` once it is known to be as issued: ``verified`` remembers this
    exact text for ``report_id`` (this process wrote it, or checked it before), or :func:`check_report` passes
    (and ``verified`` remembers it from now on)."""
    if verified is not None:
        known = verified.known(report_id, body_json)
        if known is not None:
            return known
    try:
        body: Any = json.loads(body_json)
    except ValueError:
        body = None  # never a report's digest: refused
    await check_report(session, mac, report_id=report_id, verification_id=verification_id, version=version, body=body)
    if verified is None:
        return CheckedReport(body_json, body=body)
    digest = text_digest(body_json)
    verified.remember(report_id, digest, None)
    return CheckedReport(body_json, body=body, remember=(verified, report_id, digest))


async def checked_report_body(
    session: AsyncSession, mac: EntryMac, report_id: str, verified: VerifiedReports | None = None
) -> str | None:
    """The stored JSON of the report ``report_id`` once :func:`checked_report` passed (``None``: no such report)."""
    row = (
        await session.execute(
            select(ReportRow.verification_id, ReportRow.version, ReportRow.body_json).where(ReportRow.id == report_id)
        )
    ).first()
    if row is None:
        return None
    row = (await open_rows(session, "reports", [row], [report_id]))[0]
    checked = await checked_report(
        session,
        mac,
        report_id=report_id,
        verification_id=row.verification_id,
        version=row.version,
        body_json=str(row.body_json),
        verified=verified,
    )
    return checked.body_json


async def check_answers(
    session: AsyncSession,
    mac: EntryMac,
    verification_id: str,
    rows: Iterable[Any],
    in_hand: Sequence[tuple[AuditEvent, Sequence[str]]] = (),
) -> None:
    """Refuse department results read back from their ``rows`` unless each is what its newest outcome entry
    recorded. ``in_hand``: the entries of outcomes stored in this transaction and not yet appended (they are
    the newest, and this process made them)."""
    latest = latest_outcomes(await recorded_for(session, mac, verification_id, OUTCOME_KINDS))
    latest |= latest_outcomes(
        Recorded(event.kind, event.department, event.details)
        for event, _ in in_hand
        if event.verification == verification_id
    )
    for row in rows:
        answer = StoredAnswer.of(verification_id, row)
        problem = answer_problem(answer, latest.get(answer.department))
        if problem is not None:
            name = f"the answer of {answer.department} to verifications/{verification_id}"
            log.error("stored department answer refused: %s: %s", name, problem)
            raise ServiceError(Reason.ANSWER_TAMPERED, f"{name}: {problem}; no report is built from it")
