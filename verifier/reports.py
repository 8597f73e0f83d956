"""The verification report: assembled from an assessment, in the JSON shape of interfaces.md.

The report's JSON form is the ``hedui.v1.Report`` message with proto field names
and integer fen (see :mod:`verifier.protojson`), so the gRPC message and the JSON
carry the same fields.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.records import record_to_plain
from hedui.v1 import report_pb2
from verifier.assessment import AssessmentResult, SourceOutcome, SuppliedRecord
from verifier.assessment.recheck import PreviousReport, ReportChanges, previous_from_report
from verifier.policy import Policy
from verifier.protojson import message_to_plain, plain_to_message
from verifier.request import VerificationRequest
from verifier.storage.models import ReportRow

__all__ = ["build_report", "load_previous_report", "report_digest", "report_message", "report_name"]


def report_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the report's canonical JSON (sorted keys, no spaces, UTF-8): what its audit entry records."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(canonical).hexdigest()


def report_name(verification_id: str, version: int) -> str:
    return f"verifications/{verification_id}/reports/{version}"


def _instant(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _record(supplied: SuppliedRecord) -> dict[str, Any]:
    return {"department": supplied.department, supplied.record.kind: record_to_plain(supplied.record)}


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _changes(c: ReportChanges) -> dict[str, Any]:
    """The change section of a recheck (``hedui.v1.ReportChanges``)."""
    return {
        "previous_report_id": c.previous_report_id,
        "previous_verification_id": c.previous_verification_id,
        "previous_version": c.previous_version,
        "previous_application_date": c.previous_application_date,
        "classification_before": c.classification_before,
        "classification_after": c.classification_after,
        "members_added": list(c.members_added),
        "members_removed": list(c.members_removed),
        "member_changes": [
            {
                "id_number": m.id_number,
                "name": m.name,
                "change": m.change,
                "counted_before": m.counted_before,
                "counted_after": m.counted_after,
                "counted_annual_income_before_fen": m.counted_annual_income_before_fen,
                "counted_annual_income_after_fen": m.counted_annual_income_after_fen,
                "wages_before_fen": m.wages_before_fen,
                "wages_after_fen": m.wages_after_fen,
            }
            for m in c.member_changes
        ],
        "household_size_before": c.household_size_before,
        "household_size_after": c.household_size_after,
        "income_by_category_before": dict(c.income_by_category_before),
        "income_by_category_after": dict(c.income_by_category_after),
        "annual_income_before_fen": c.annual_income_before_fen,
        "annual_income_after_fen": c.annual_income_after_fen,
        "deductions_before_fen": c.deductions_before_fen,
        "deductions_after_fen": c.deductions_after_fen,
        "per_capita_monthly_income_before_fen": c.per_capita_monthly_income_before_fen,
        "per_capita_monthly_income_after_fen": c.per_capita_monthly_income_after_fen,
        "financial_assets_before_fen": c.financial_assets_before_fen,
        "financial_assets_after_fen": c.financial_assets_after_fen,
        "residential_properties_before": c.residential_properties_before,
        "residential_properties_after": c.residential_properties_after,
        "warnings_appeared": list(c.warnings_appeared),
        "warnings_cleared": list(c.warnings_cleared),
        "warning_changes": [
            {
                "code": w.code,
                "severity": w.severity,
                "id_number": w.id_number,
                "department": w.department,
                "change": w.change,
                "message_zh": w.message_zh,
            }
            for w in c.warning_changes
        ],
    }


def build_report(
    *,
    report_id: str,
    verification_id: str,
    version: int,
    generated_at: dt.datetime,
    request: VerificationRequest,
    policy: Policy,
    sources: Mapping[str, SourceOutcome],
    result: AssessmentResult,
    authorizations: Sequence[str],
    audit_reference: str,
) -> dict[str, Any]:
    """The report as a plain JSON object (normalised through the proto message)."""
    household = result.household
    plain: dict[str, Any] = {
        "name": report_name(verification_id, version),
        "report_id": report_id,
        "verification_id": verification_id,
        "version": version,
        "generated_at": _instant(generated_at),
        "policy": {"locality": policy.locality, "effective_from": policy.effective_from.isoformat()},
        "members": [
            {
                "id_number": m.id_number,
                "name": m.name,
                "relation": m.relation,
                "status": m.status,
                "counted_in_household": m.counted_in_household,
                "declared_annual_income_fen": m.declared_annual_income_fen,
                "verified_annual_income_fen": m.verified_annual_income_fen,
                "counted_annual_income_fen": m.counted_annual_income_fen,
                "income_by_category": dict(m.income_by_category),
                "records": [_record(r) for r in m.supplied],
            }
            for m in result.members
        ],
        "sources": [
            {
                "department": s.department,
                "status": s.status,
                "records": len(s.records) if s.status == "ok" else 0,
                "answered_at": _instant(s.answered_at),
                "detail": s.detail,
                "not_queried": list(s.not_queried),
            }
            for s in (sources[d] for d in sorted(sources))
        ],
        "assessment": {
            "classification": household.classification,
            "household_size": household.household_size,
            "annual_income_fen": household.annual_income_fen,
            "income_by_category": dict(household.income_by_category),
            "deductions_fen": household.deductions_fen,
            "per_capita_monthly_income_before_fen": household.per_capita_monthly_income_before_fen,
            "per_capita_monthly_income_fen": household.per_capita_monthly_income_fen,
            "standard_fen": household.standard_fen,
            "financial_assets_fen": household.financial_assets_fen,
            "deductions": [
                {
                    "id_number": d.id_number,
                    "kind": d.kind,
                    "declared_fen": d.declared_fen,
                    "allowed_fen": d.allowed_fen,
                    "evidence": d.evidence,
                    "note": d.note_text,
                }
                for d in household.deductions
            ],
            "window_start": household.window_start,
            "window_end": household.window_end,
            "financial_assets_limit_fen": household.financial_assets_limit_fen,
            "residential_properties": household.residential_properties,
            "marginal_standard_fen": household.marginal_standard_fen,
        },
        "flags": [
            {
                "code": f.code,
                "severity": f.severity,
                "id_number": f.id_number,
                "department": f.department,
                "evidence": [
                    {"department": e.department, "record_id": e.record_id, "field": e.field, "value": e.value}
                    for e in f.evidence
                ],
                "message_zh": f.message_zh,
                "message_en": f.message_en,
            }
            for f in result.flags
        ],
        "hearing_required": result.hearing_required,
        "filing_for_review_required": result.filing_for_review_required,
        "changes": _changes(result.changes) if result.changes is not None else None,
        "next_recheck_date": _date(result.next_recheck_date),
        "gradual_exit_until": _date(result.gradual_exit_until),
        "application_date": request.application_date.isoformat(),
        "area": request.area,
        "purpose": request.purpose,
        "commissioned_by": request.commissioned_by,
        "authorizations": list(authorizations),
        "previous_version": report_name(verification_id, version - 1) if version > 1 else None,
        "previous_report_id": request.previous_report_id,
        "audit_reference": audit_reference,
        "policy_version": policy.version_label,
        "policy_sha256": policy.sha256(),
        "html": None,
    }
    return message_to_plain(report_message(plain))


async def load_previous_report(session: AsyncSession, report_id: str) -> PreviousReport | None:
    """The stored report a recheck names, as data for the assessment; None when there is none."""
    body = await session.scalar(select(ReportRow.body_json).where(ReportRow.id == report_id))
    return None if body is None else previous_from_report(json.loads(body))


def report_message(plain: dict[str, Any]) -> report_pb2.Report:
    return plain_to_message(plain, report_pb2.Report())
