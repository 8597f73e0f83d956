"""The verification report: an assessment made into one typed ``hedui.v1.Report`` message.

The report's JSON form (stored, printed, exported) is that message with proto field names, in
proto field order, int64 money as JSON numbers and unset ``optional`` fields as ``null``
(:mod:`verifier.protojson`): :func:`report_json`. Its digest, recorded by REPORT_CREATED, is the
SHA-256 of the same JSON with sorted keys and no spaces (docs/audit.md): :func:`report_digest`.
:func:`encode_report` gives both from one conversion of the message (what publishing stores).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from connectors.records import DepartmentRecord, record_to_plain
from consent.identity import CHINA_TIME
from hedui.v1 import records_pb2, report_pb2
from verifier.assessment import AssessmentResult, SourceOutcome, SuppliedRecord, WarningFlag
from verifier.assessment.derivation import Derivation
from verifier.assessment.figures import DeductionLine, HouseholdFigures, MemberFigures
from verifier.assessment.reasons import INCONCLUSIVE_WORDING
from verifier.assessment.recheck import ReportChanges
from verifier.policy import Policy
from verifier.protojson import message_to_plain, message_to_plain_checked, plain_to_message
from verifier.request import VerificationRequest
from verifier.vocabulary import DepartmentStatus

__all__ = [
    "EncodedReport",
    "build_report",
    "encode_report",
    "report_digest",
    "report_from_plain",
    "report_json",
    "report_name",
    "report_plain",
]


def report_name(verification_id: str, version: int) -> str:
    """The report's resource name: ``verifications/{verification}/reports/{version}``."""
    return f"verifications/{verification_id}/reports/{version}"


def _instant(value: dt.datetime | None) -> str | None:
    """An instant as RFC 3339 UTC to the second ("2026-11-23T08:00:00Z")."""
    return None if value is None else value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _china_date(value: dt.datetime | None) -> str | None:
    """The date of an instant in China Standard Time (what a Chinese document calls that day)."""
    return None if value is None else value.astimezone(CHINA_TIME).date().isoformat()


def _date(value: dt.date | None) -> str | None:
    """A date as YYYY-MM-DD."""
    return None if value is None else value.isoformat()


def _set(**fields: Any) -> dict[str, Any]:
    """Keyword arguments for a message, without the unset (``None``) ones."""
    return {k: v for k, v in fields.items() if v is not None}


def _record(supplied: SuppliedRecord) -> records_pb2.DepartmentRecord:
    """A record under the department that supplied it (each record type has its message of the same name)."""
    record: DepartmentRecord = supplied.record
    body = getattr(records_pb2, type(record).__name__)(**_set(**record_to_plain(record)))
    return records_pb2.DepartmentRecord(department=supplied.department, **{record.kind: body})


def _member(m: MemberFigures) -> report_pb2.MemberReport:
    """One member's figures and records."""
    return report_pb2.MemberReport(
        id_number=m.id_number,
        name=m.name,
        relation=m.relation,
        status=m.status,
        counted_in_household=m.counted_in_household,
        declared_annual_income_fen=m.declared_annual_income_fen,
        verified_annual_income_fen=m.verified_annual_income_fen,
        counted_annual_income_fen=m.counted_annual_income_fen,
        income_by_category=dict(m.income_by_category),
        records=[_record(s) for s in m.supplied],
    )


def _source(s: SourceOutcome) -> report_pb2.Source:
    """One department's outcome (records counted only when it answered)."""
    return report_pb2.Source(
        **_set(
            department=s.department,
            status=s.status,
            records=len(s.records) if s.status == DepartmentStatus.OK else 0,
            answered_at=_instant(s.answered_at),
            detail=s.detail,
            not_queried=list(s.not_queried),
            data_cutoff=_china_date(s.answered_at) if s.status == DepartmentStatus.OK else None,
        )
    )


def _deduction(d: DeductionLine) -> report_pb2.Deduction:
    """One deduction line; its note as its code with the English and the Chinese text."""
    return report_pb2.Deduction(
        id_number=d.id_number,
        kind=d.kind,
        declared_fen=d.declared_fen,
        allowed_fen=d.allowed_fen,
        evidence=d.evidence,
        note=d.note_text,
        note_code=d.note.code if d.note is not None else "",
        note_zh=d.note.zh if d.note is not None else "",
    )


def _derivation(d: Derivation) -> report_pb2.Derivation:
    """One figure's derivation: its terms with the records they counted, the policy's parameters."""
    return report_pb2.Derivation(
        figure=d.figure,
        value=d.value,
        rule=d.rule,
        policy_version=d.policy_version,
        operation=d.operation,
        terms=[
            report_pb2.DerivationTerm(
                name=t.name,
                value=t.value,
                id_number=t.id_number,
                figure=t.figure,
                records=[
                    report_pb2.RecordUse(department=r.department, record_id=r.record_id, as_of=r.as_of)
                    for r in t.records
                ],
            )
            for t in d.terms
        ],
        parameters=[report_pb2.PolicyParameter(key=p.key, value=p.value) for p in d.parameters],
        arithmetic=d.arithmetic,
    )


def _assessment(h: HouseholdFigures) -> report_pb2.Assessment:
    """The household figures and the classification."""
    return report_pb2.Assessment(
        classification=h.classification,
        household_size=h.household_size,
        annual_income_fen=h.annual_income_fen,
        income_by_category=dict(h.income_by_category),
        deductions_fen=h.deductions_fen,
        per_capita_monthly_income_before_fen=h.per_capita_monthly_income_before_fen,
        per_capita_monthly_income_fen=h.per_capita_monthly_income_fen,
        standard_fen=h.standard_fen,
        financial_assets_fen=h.financial_assets_fen,
        deductions=[_deduction(d) for d in h.deductions],
        window_start=h.window_start,
        window_end=h.window_end,
        financial_assets_limit_fen=h.financial_assets_limit_fen,
        residential_properties=h.residential_properties,
        marginal_standard_fen=h.marginal_standard_fen,
        classification_reasons=[
            report_pb2.ClassificationReason(
                code=r, message_zh=INCONCLUSIVE_WORDING[r].zh, message_en=INCONCLUSIVE_WORDING[r].en
            )
            for r in h.classification_reasons
        ],
        derivations=[_derivation(d) for d in h.derivations],
    )


def _flag(f: WarningFlag) -> report_pb2.WarningFlag:
    """One warning with its evidence."""
    return report_pb2.WarningFlag(
        **_set(
            code=f.code,
            severity=f.severity,
            id_number=f.id_number,
            department=f.department,
            evidence=[
                report_pb2.Evidence(department=e.department, record_id=e.record_id, field=e.field, value=e.value)
                for e in f.evidence
            ],
            message_zh=f.message_zh,
            message_en=f.message_en,
        )
    )


def _changes(c: ReportChanges) -> report_pb2.ReportChanges:
    """The change section of a recheck."""
    return report_pb2.ReportChanges(
        previous_report_id=c.previous_report_id,
        previous_verification_id=c.previous_verification_id,
        previous_version=c.previous_version,
        previous_application_date=c.previous_application_date,
        classification_before=c.classification_before,
        classification_after=c.classification_after,
        members_added=list(c.members_added),
        members_removed=list(c.members_removed),
        member_changes=[
            report_pb2.MemberChange(
                id_number=m.id_number,
                name=m.name,
                change=m.change,
                counted_before=m.counted_before,
                counted_after=m.counted_after,
                counted_annual_income_before_fen=m.counted_annual_income_before_fen,
                counted_annual_income_after_fen=m.counted_annual_income_after_fen,
                wages_before_fen=m.wages_before_fen,
                wages_after_fen=m.wages_after_fen,
            )
            for m in c.member_changes
        ],
        household_size_before=c.household_size_before,
        household_size_after=c.household_size_after,
        income_by_category_before=dict(c.income_by_category_before),
        income_by_category_after=dict(c.income_by_category_after),
        annual_income_before_fen=c.annual_income_before_fen,
        annual_income_after_fen=c.annual_income_after_fen,
        deductions_before_fen=c.deductions_before_fen,
        deductions_after_fen=c.deductions_after_fen,
        per_capita_monthly_income_before_fen=c.per_capita_monthly_income_before_fen,
        per_capita_monthly_income_after_fen=c.per_capita_monthly_income_after_fen,
        financial_assets_before_fen=c.financial_assets_before_fen,
        financial_assets_after_fen=c.financial_assets_after_fen,
        residential_properties_before=c.residential_properties_before,
        residential_properties_after=c.residential_properties_after,
        warnings_appeared=list(c.warnings_appeared),
        warnings_cleared=list(c.warnings_cleared),
        warning_changes=[
            report_pb2.WarningChange(
                **_set(
                    code=w.code,
                    severity=w.severity,
                    id_number=w.id_number,
                    department=w.department,
                    change=w.change,
                    message_zh=w.message_zh,
                )
            )
            for w in c.warning_changes
        ],
    )


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
) -> report_pb2.Report:
    """The report of one assessment, version ``version`` of the verification (sources by department id)."""
    return report_pb2.Report(
        **_set(
            name=report_name(verification_id, version),
            report_id=report_id,
            verification_id=verification_id,
            version=version,
            generated_at=_instant(generated_at),
            policy=report_pb2.ReportPolicy(locality=policy.locality, effective_from=policy.effective_from.isoformat()),
            members=[_member(m) for m in result.members],
            sources=[_source(sources[d]) for d in sorted(sources)],
            assessment=_assessment(result.household),
            flags=[_flag(f) for f in result.flags],
            hearing_required=result.hearing_required,
            filing_for_review_required=result.filing_for_review_required,
            changes=_changes(result.changes) if result.changes is not None else None,
            next_recheck_date=_date(result.next_recheck_date),
            gradual_exit_until=_date(result.gradual_exit_until),
            application_date=request.application_date.isoformat(),
            area=request.area,
            purpose=request.purpose,
            commissioned_by=request.commissioned_by,
            authorizations=list(authorizations),
            previous_version=report_name(verification_id, version - 1) if version > 1 else None,
            previous_report_id=request.previous_report_id,
            audit_reference=audit_reference,
            policy_version=policy.version_label,
            policy_sha256=policy.sha256(),
            household_address=request.household_address,
            case_number=request.case_number,
        )
    )


def report_plain(report: report_pb2.Report) -> dict[str, Any]:
    """The report's JSON value: every field in proto order, defaults included, unset optional fields ``None``."""
    return message_to_plain(report)


def report_json(report: report_pb2.Report) -> str:
    """The report's JSON text, as stored and printed (UTF-8 characters as they are)."""
    return _json_text(report_plain(report))


def _json_text(plain: Mapping[str, Any]) -> str:
    return json.dumps(plain, ensure_ascii=False)


def _digest(plain: Mapping[str, Any], *, floats_alike: bool = False) -> str:
    """SHA-256 of Python's ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` in UTF-8.

    ``floats_alike``: every float in ``plain`` is one orjson writes as json does
    (:func:`~verifier.protojson.message_to_plain_checked`); then orjson's bytes, several times faster, are the
    same whenever they hold no backslash (raw UTF-8, keys in code point order, the same integers), as in
    :func:`audit.events.canonical_json`. Anything else is json's.
    """
    if floats_alike:
        try:
            fast = orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # an integer beyond 64 bits, a key that is not a string
            fast = b"\\"
        if b"\\" not in fast:
            return hashlib.sha256(fast).hexdigest()
    canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(canonical).hexdigest()


def report_digest(report: report_pb2.Report | Mapping[str, Any]) -> str:
    """SHA-256 of the report's canonical JSON (sorted keys, no spaces, UTF-8): what REPORT_CREATED records.

    Takes the typed report or its JSON value (a stored report read back); both give the same digest.
    """
    return _digest(report_plain(report) if isinstance(report, report_pb2.Report) else report)


@dataclass(frozen=True, slots=True)
class EncodedReport:
    """A report's stored JSON text and its digest: exactly :func:`report_json` and :func:`report_digest`."""

    json: str
    sha256: str


def encode_report(report: report_pb2.Report) -> EncodedReport:
    """The report's JSON text and digest from one conversion of the message (publishing needs both)."""
    plain, floats_alike = message_to_plain_checked(report)
    return EncodedReport(_json_text(plain), _digest(plain, floats_alike=floats_alike))


def report_from_plain(plain: Mapping[str, Any]) -> report_pb2.Report:
    """The typed report of a JSON value (a stored report, or one written by hand); unknown fields are errors."""
    return plain_to_message(dict(plain), report_pb2.Report())
