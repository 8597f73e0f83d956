"""The report a recheck names (policy.md "Rechecks"), checked before the verification is created.

Issue 13, a household that moved: the report may be another organisation's. The recheck then compares with
its figures only (:meth:`verifier.assessment.recheck.PreviousReport.seen_by`), and only when the caller holds
an authorization of its own for the household: one of the authorizations it names, valid today, covers the
previous report's applicant. Otherwise the report is not found, exactly as one that does not exist, so a
report id cannot be used to probe another organisation's cases.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from audit.log import EntryMac
from consent import china_today
from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.operations._names import RESOURCE_ID, refused_for_scope
from verifier.pipeline.consent import Consent
from verifier.pipeline.publish import load_previous_report
from verifier.request import VerificationRequest
from verifier.storage import reports as stored_reports

__all__ = ["check_previous_report"]

_WHERE = "request.previous_report_id"


def _consented(consent: Consent) -> frozenset[str]:
    """The members one of the caller's named authorizations, valid today, covers (lists and signs for)."""
    today = china_today()
    return frozenset(
        m.id_number
        for a in consent.authorizations
        if a.revoked_at is None
        and a.signature_problem is None
        and a.payload.valid_from <= today <= a.payload.valid_until
        for m in a.payload.members
        if a.signed_for(m.id_number)
    )


async def check_previous_report(
    session: AsyncSession, request: VerificationRequest, mac: EntryMac, consent: Consent
) -> str | None:
    """A recheck's previous report exists, is the caller's organisation's or (a household that moved) covered by
    its own authorization, is of the same household (a member in common), and is not later; the other
    organisation when it is another's (the VERIFICATION_CREATED entry names it), else ``None``."""
    report_id = request.previous_report_id
    if report_id is None:
        return None
    if not RESOURCE_ID.fullmatch(report_id):
        raise ServiceError.invalid([FieldViolation(_WHERE, "must be the report_id of an earlier report")])
    previous = await load_previous_report(session, report_id, mac)
    commissioned_by = await stored_reports.commissioned_by(session, report_id)
    missing = ServiceError.precondition(_WHERE, f"there is no report {report_id}", Reason.PREVIOUS_REPORT_NOT_FOUND)
    if previous is None or commissioned_by is None:
        raise missing
    other = commissioned_by if commissioned_by != request.commissioned_by else None
    members = {m.id_number for m in request.members}
    if other is not None:
        consented = _consented(consent)
        if previous.applicant is None or previous.applicant not in consented:
            raise refused_for_scope(missing)  # another organisation's, and not the caller's household to ask about
        # Review 13: only members the caller's consent covers count as in common, so naming someone else (who
        # may or may not have been in that household) changes nothing of the answer.
        members &= consented
    if not set(previous.member_ids()) & members:
        raise ServiceError.precondition(
            _WHERE, "the previous report is of another household (no member in common)", Reason.PREVIOUS_REPORT_MISMATCH
        )
    if previous.application_date > request.application_date:
        when = "" if other else f" {previous.application_date.isoformat()}"  # another's: not even its date
        raise ServiceError.precondition(
            _WHERE, f"the previous report's application date{when} is after this one's", Reason.PREVIOUS_REPORT_MISMATCH
        )
    return other
