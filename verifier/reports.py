"""Compatibility: the report moved to :mod:`verifier.report.build` (delete at merge; the lead switches the callers).

Old name → new name: ``build_report(...) -> dict`` → ``report.build.build_report(...) -> Report``
(then ``report_json``/``report_plain``); ``report_message(dict)`` → ``report_from_plain``;
``report_digest(dict)`` → ``report_digest(Report | dict)``; ``report_name`` unchanged.
``load_previous_report`` stays here until storage holds its query.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hedui.v1 import report_pb2
from verifier.assessment.recheck import PreviousReport, previous_from_report
from verifier.report import build
from verifier.report.build import report_digest, report_name
from verifier.storage.models import ReportRow

__all__ = ["build_report", "load_previous_report", "report_digest", "report_message", "report_name"]


def build_report(**arguments: Any) -> dict[str, Any]:
    """The report as its plain JSON value (:func:`verifier.report.build.build_report`, then ``report_plain``)."""
    return build.report_plain(build.build_report(**arguments))


async def load_previous_report(session: AsyncSession, report_id: str) -> PreviousReport | None:
    """The stored report a recheck names, as data for the assessment; None when there is none."""
    body = await session.scalar(select(ReportRow.body_json).where(ReportRow.id == report_id))
    return None if body is None else previous_from_report(json.loads(body))


def report_message(plain: dict[str, Any]) -> report_pb2.Report:
    """The typed report of a plain JSON value (:func:`verifier.report.build.report_from_plain`)."""
    return build.report_from_plain(plain)
