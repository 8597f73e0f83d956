"""The reports resource (``verifications/{id}/reports/{n|latest}``): reading a report version is an audit
event, committed before the report is returned."""

from __future__ import annotations

import json
from typing import Any

from audit import AuditEvent
from audit.group import GroupCommit
from connectors.departments import DepartmentCatalogue
from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.operations._names import COUNTER, NOBODY, RESOURCE_ID, Caller
from verifier.report.build import report_from_plain
from verifier.report.html import render_report_html
from verifier.storage import reports as stored_reports
from verifier.storage.db import Database

__all__ = ["Reports"]

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
        self, db: Database, standalone_events: GroupCommit, catalogue: DepartmentCatalogue = DEFAULT_CATALOGUE
    ) -> None:
        """Read from ``db``; commit REPORT_READ through ``standalone_events``; ``catalogue`` names departments."""
        self._db = db
        self._events = standalone_events
        self._catalogue = catalogue

    async def get(self, name: str, caller: Caller = NOBODY) -> dict[str, Any]:
        """A report version as its JSON body; REPORT_NOT_READY before the first one exists."""
        verification_id, version_text = _parse_name(name)
        async with self._db.sessions() as session:
            row = await stored_reports.for_reading(
                session, verification_id, None if version_text == "latest" else int(version_text)
            )
        if row is None:
            raise ServiceError.not_found(f"verifications/{verification_id}")
        if row.report_id is None:
            if row.latest_report_version == 0:
                raise ServiceError(Reason.REPORT_NOT_READY, f"verifications/{verification_id} has no report yet")
            raise ServiceError.not_found(name)
        body: dict[str, Any] = json.loads(row.body_json)
        # Nobody gets a report without its reading being committed to the log first.
        read = AuditEvent(
            kind="REPORT_READ",
            operator=caller.operator,
            client=caller.client,
            verification=verification_id,
            details={"report_id": row.report_id, "version": row.version},
        )
        await self._events.append(read)
        return body

    async def message(self, name: str, caller: Caller = NOBODY, *, html: bool = False) -> Any:
        """A report version as its ``hedui.v1.Report`` message, with its HTML view when ``html``."""
        body = await self.get(name, caller)
        message = report_from_plain(body)
        if html:
            message.html = render_report_html(message, catalogue=self._catalogue)
        return message
