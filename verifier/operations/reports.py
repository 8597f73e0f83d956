"""The reports resource (``verifications/{id}/reports/{n|latest}``): reading a report version is an audit
event, committed before the report is returned.

The printed views (HTML, PDF) are rendered here, on reading, with what the report alone does not say:
the centre's identity (``[centre]``), each authorization's form number and signing date (read from the
registered authorizations) and the digest of the stored JSON, the one ``REPORT_CREATED`` recorded.
A PDF is rendered in a worker thread (WeasyPrint is CPU-bound), never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from audit import AuditEvent
from audit.group import GroupCommit
from connectors.departments import DepartmentCatalogue
from consent.identity import CHINA_TIME
from verifier.config import CentreIdentity
from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.operations._names import COUNTER, NOBODY, RESOURCE_ID, Caller, refused_for_scope
from verifier.quotas import ReadWindows, caller_key
from verifier.report.bound import checked_report
from verifier.report.build import report_digest
from verifier.report.html import render_report_html
from verifier.report.official import FORM_NUMBER_KEY, AuthorizationSlip, PrintContext
from verifier.report.pdf import render_report_pdf
from verifier.report.verified import CheckedReport, VerifiedReports
from verifier.storage import authorizations as stored_authorizations
from verifier.storage import reports as stored_reports
from verifier.storage.db import Database

__all__ = ["Reports", "print_context"]

DEFAULT_CATALOGUE = DepartmentCatalogue()


def _parse_name(name: str) -> tuple[str, str]:
    """(verification id, version text) of a report name; INVALID_REQUEST when it is not one."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "verifications" or parts[2] != "reports" or not RESOURCE_ID.fullmatch(parts[1]):
        raise ServiceError.invalid(
            [FieldViolation("name", "must be verifications/{id}/reports/{version} (version may be 'latest')")]
        )
    if parts[3] != "latest" and not COUNTER.fullmatch(parts[3]):
        raise ServiceError.invalid([FieldViolation("name", "version must be a number or 'latest'")])
    return parts[1], parts[3]


class Reports:
    """Read report versions; each reading is a REPORT_READ entry (group-committed)."""

    def __init__(
        self,
        db: Database,
        standalone_events: GroupCommit,
        catalogue: DepartmentCatalogue = DEFAULT_CATALOGUE,
        centre: CentreIdentity | None = None,
        verified: VerifiedReports | None = None,
    ) -> None:
        """Read from ``db``; commit REPORT_READ through ``standalone_events``; ``catalogue`` names departments,
        ``centre`` is the centre the printed views name; ``verified``: the reports this process published."""
        self._db = db
        self._events = standalone_events
        self._catalogue = catalogue
        self._centre = centre or CentreIdentity()
        self.read_windows = ReadWindows()  # issue 13 (verifier/quotas.py)
        self.verified = VerifiedReports() if verified is None else verified  # issue 11: reports known to be as issued

    async def get(self, name: str, caller: Caller = NOBODY) -> dict[str, Any]:
        """A report version as its JSON body; REPORT_NOT_READY before the first one exists."""
        return (await self._read(name, caller)).body

    async def _read(self, name: str, caller: Caller) -> CheckedReport:
        """A report version as served: checked to be as issued, its reading committed to the log."""
        verification_id, version_text = _parse_name(name)
        async with self._db.reading() as session:
            row = await stored_reports.for_reading(
                session, verification_id, None if version_text == "latest" else int(version_text)
            )
            if row is None:
                raise ServiceError.not_found(f"verifications/{verification_id}")
            if not caller.reads(row.commissioned_by):  # issue 13: another organisation's is not found (counted)
                raise refused_for_scope(ServiceError.not_found(f"verifications/{verification_id}"))
            if row.report_id is None:
                if row.latest_report_version == 0:
                    raise ServiceError(Reason.REPORT_NOT_READY, f"verifications/{verification_id} has no report yet")
                raise ServiceError.not_found(name)
            # Served only as issued: the digest of what was read is the one its REPORT_CREATED entry recorded
            # (or this exact text was proven so before, in this process: verifier/report/verified.py).
            checked = await checked_report(
                session,
                self._events.log.entry_mac,
                report_id=row.report_id,
                verification_id=verification_id,
                version=row.version,
                body_json=row.body_json,
                verified=self.verified,
            )
        # Nobody gets a report without its reading being committed to the log first; issue 13: repeated reads of
        # one report by one caller within a minute are one entry, the next one saying how many it stands for.
        reads = self.read_windows.reads_to_record(caller_key(caller), row.report_id)
        if reads:
            details: dict[str, Any] = {"report_id": row.report_id, "version": row.version}
            read = AuditEvent(
                kind="REPORT_READ",
                operator=caller.operator,
                client=caller.client,
                verification=verification_id,
                details=details if reads == 1 else {**details, "reads": reads},
            )
            await self._events.append(read)
        return checked

    async def message(self, name: str, caller: Caller = NOBODY, *, html: bool = False, pdf: bool = False) -> Any:
        """A report version as its ``hedui.v1.Report`` message, with its HTML view (``html``) or PDF (``pdf``)."""
        checked = await self._read(name, caller)
        message = checked.message()
        if html or pdf:
            context = await self.print_context(checked.body)
            if html:
                message.html = render_report_html(message, catalogue=self._catalogue, context=context)
            if pdf:
                message.pdf = await asyncio.to_thread(
                    render_report_pdf, message, catalogue=self._catalogue, context=context
                )
        return message

    async def print_context(self, body: Mapping[str, Any]) -> PrintContext:
        """What the printed views of a stored report show beyond it (:func:`print_context`)."""
        return await print_context(self._db, self._centre, body)

    async def render(self, body: Mapping[str, Any], view: str) -> str | bytes:
        """A stored report's printed view: ``"html"`` (text) or ``"pdf"`` (bytes), with its print context."""
        context = await self.print_context(body)
        if view == "pdf":
            return await asyncio.to_thread(render_report_pdf, body, catalogue=self._catalogue, context=context)
        return render_report_html(body, catalogue=self._catalogue, context=context)


def _paper(payload: bytes) -> tuple[str, str]:
    """(form number, signing date in CST) of a registered authorization's payload (checked when registered):
    its evidence's ``form_number`` and its ``signed_at``; empty where the case system gave none."""
    try:
        raw = json.loads(payload)
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        return "", ""
    evidence = raw.get("evidence")
    form = evidence.get(FORM_NUMBER_KEY, "") if isinstance(evidence, dict) else ""
    signed, signed_on = raw.get("signed_at"), ""
    if isinstance(signed, str):
        with contextlib.suppress(ValueError):
            signed_on = (
                dt.datetime.fromisoformat(signed.replace("Z", "+00:00")).astimezone(CHINA_TIME).date().isoformat()
            )
    return (form if isinstance(form, str) else ""), signed_on


async def print_context(db: Database, centre: CentreIdentity, body: Mapping[str, Any]) -> PrintContext:
    """What the printed views of a stored report show beyond it: the centre, the authorizations' paper
    details, and the digest of the stored JSON ``body`` (the one REPORT_CREATED recorded)."""
    names = [n for n in body.get("authorizations") or () if isinstance(n, str)]
    return PrintContext(centre, await _slips(db, names), report_digest(body))


async def _slips(db: Database, names: Sequence[str]) -> tuple[AuthorizationSlip, ...]:
    """Each authorization's form number and signing date (:func:`_paper`); unknown names as they are."""
    ids = [n.removeprefix("authorizations/") for n in names]
    async with db.sessions() as session:
        rows = await stored_authorizations.by_ids(session, ids) if ids else {}
    slips = []
    for name, authorization_id in zip(names, ids, strict=True):
        row = rows.get(authorization_id)
        slips.append(AuthorizationSlip(name) if row is None else AuthorizationSlip(name, *_paper(row.payload)))
    return tuple(slips)
