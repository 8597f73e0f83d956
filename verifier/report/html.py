"""The report as a printable A4 document in Chinese (HTML, for the case file).

:func:`render_report_html` takes the typed report (``hedui.v1.Report``; a report's JSON value is
read into one first) and fills ``templates/report.html.j2``. Everything shown is prepared here as
display strings: money as yuan with two decimals by integer arithmetic
(:func:`verifier.assessment.flags.yuan`), identity numbers masked (first 6, last 4) wherever they
occur — columns, record ids, evidence, free text — and the template only lays them out, with
Jinja2's autoescaping on. Labels come from :mod:`verifier.report.labels_zh`, department names from
the :class:`~connectors.departments.DepartmentCatalogue`, deduction notes from their codes
(:class:`~verifier.assessment.notes.DeductionNote`). The document is self-contained: no scripts,
no external fonts, stylesheets or images.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import jinja2

from connectors.departments import DepartmentCatalogue
from consent.identity import mask
from hedui.v1 import report_pb2
from verifier.assessment.flags import DEFAULT_CATALOGUE, yuan
from verifier.report.build import report_from_plain
from verifier.report.display import css_safe, masked_text
from verifier.report.html_appendix import appendix
from verifier.report.html_changes import changes_view
from verifier.report.html_computation import computation
from verifier.report.html_model import Document, EvidenceLine, FlagRow, MemberRow, SourceRow
from verifier.report.html_records import record_rows
from verifier.report.labels_zh import (
    AREA_ZH,
    ENTERPRISE_ROLE_ZH,
    EVIDENCE_FIELD_ZH,
    MEMBER_RELATION_ZH,
    MEMBER_STATUS_ZH,
    PURPOSE_ZH,
    REGISTER_RELATION_ZH,
    SCHEME_ZH,
    SEVERITY_ZH,
    SOURCE_STATUS_ZH,
    USAGE_ZH,
    VEHICLE_TYPE_ZH,
    department_short_zh,
    label,
)
from verifier.report.official import Official, PrintContext, china_instant, official_view

__all__ = ["TEMPLATE", "People", "default_audit_reference", "render_report_html"]

TEMPLATE: Final = "report.html.j2"
_SEVERITY_ORDER: Final = {"HIGH": 0, "MEDIUM": 1, "LOW": 2}


class People:
    """Display names of the identity numbers the report mentions."""

    def __init__(self, members: Iterable[report_pb2.MemberReport]) -> None:
        self._names = {m.id_number: m.name for m in members}

    def __call__(self, id_number: str | None) -> str:
        """A member as "name（masked number）", a number not a member's masked; "全户" for the household."""
        if not id_number:
            return "全户"
        name = self._names.get(id_number)
        return f"{name}（{mask(id_number)}）" if name else mask(id_number)

    def name(self, id_number: str) -> str:
        """A member's name, or the masked number."""
        return self._names.get(id_number) or mask(id_number)


def _members(report: report_pb2.Report) -> tuple[MemberRow, ...]:
    """The members table; the register number from the member's person record."""
    rows = []
    for m in report.members:
        hukou = next((r.person.hukou_id for r in m.records if r.HasField("person")), "")
        rows.append(
            MemberRow(
                name=m.name,
                id_masked=mask(m.id_number),
                relation=label(MEMBER_RELATION_ZH, m.relation),
                status=label(MEMBER_STATUS_ZH, m.status),
                status_code=m.status,
                counted=m.counted_in_household,
                declared=yuan(m.declared_annual_income_fen),
                verified=yuan(m.verified_annual_income_fen),
                counted_income=yuan(m.counted_annual_income_fen),
                hukou=masked_text(hukou),
            )
        )
    return tuple(rows)


def _sources(report: report_pb2.Report, catalogue: DepartmentCatalogue) -> tuple[SourceRow, ...]:
    """The sources table, departments in catalogue order (others after, by id)."""
    order = {d: i for i, d in enumerate(catalogue)}
    sources = sorted(report.sources, key=lambda s: (order.get(s.department, len(order)), s.department))
    return tuple(
        SourceRow(
            department=catalogue.name_zh(s.department),
            status=label(SOURCE_STATUS_ZH, s.status),
            status_code=s.status,
            records=s.records,
            answered_at=china_instant(s.answered_at),
            detail=masked_text(s.detail),
            not_queried=tuple(mask(n) for n in s.not_queried),
            data_cutoff=s.data_cutoff or _cutoff(s),
        )
        for s in sources
    )


def _cutoff(source: report_pb2.Source) -> str:
    """A source's data cut-off date for a report made before sources carried one: the CST day it answered."""
    return china_instant(source.answered_at)[:10] if source.status == "ok" else ""


def _evidence_vocabularies(catalogue: DepartmentCatalogue) -> Mapping[str, Mapping[str, str]]:
    """Evidence fields whose values are codes of a vocabulary: shown in Chinese, with the code."""
    return {
        "status": MEMBER_STATUS_ZH,
        "relation_to_head": REGISTER_RELATION_ZH,
        "usage": USAGE_ZH,
        "type": VEHICLE_TYPE_ZH,
        "role": ENTERPRISE_ROLE_ZH,
        "scheme": SCHEME_ZH,
        "department_not_queried": {d: catalogue.name_zh(d) for d in catalogue},
    }


def _evidence_value(field_name: str, value: str, vocabularies: Mapping[str, Mapping[str, str]]) -> tuple[str, str]:
    """An evidence value as shown on screen (money in yuan with the fen, codes in Chinese with the code) and as
    printed (a code's Chinese label alone; empty when it prints as shown)."""
    shown = masked_text(value)
    if field_name == "detail":  # hedui's own diagnostic (English): on screen only
        return shown, "技术原因（见系统记录）"
    if field_name.endswith("_fen") and re.fullmatch(r"-?\d+", value):
        return f"{yuan(int(value))} 元（{shown} 分）", ""
    vocabulary = vocabularies.get(field_name, {})
    if value in vocabulary:
        return f"{vocabulary[value]}（{shown}）", vocabulary[value]
    return shown, ""


def _flags(report: report_pb2.Report, people: People, catalogue: DepartmentCatalogue) -> tuple[FlagRow, ...]:
    """The warnings table, highest severity first (report order within a severity)."""
    vocabularies = _evidence_vocabularies(catalogue)
    flags = sorted(report.flags, key=lambda f: _SEVERITY_ORDER.get(f.severity, 3))
    return tuple(
        FlagRow(
            code=f.code,
            severity=label(SEVERITY_ZH, f.severity),
            severity_code=f.severity,
            member=people(f.id_number),
            department=department_short_zh(f.department, catalogue),
            evidence=tuple(
                EvidenceLine(
                    department_short_zh(e.department, catalogue),
                    masked_text(e.record_id),
                    label(EVIDENCE_FIELD_ZH, e.field),
                    *_evidence_value(e.field, e.value, vocabularies),
                )
                for e in f.evidence
            ),
            message_zh=masked_text(f.message_zh),
            message_en=masked_text(f.message_en),
        )
        for f in flags
    )


def _document(report: report_pb2.Report, catalogue: DepartmentCatalogue, official: Official) -> Document:
    """The view model of the whole document (the commissioning organisation and the time as ``official`` has them)."""
    people = People(report.members)
    a = report.assessment
    income_records, asset_records = record_rows(report, people.name, (a.window_start, a.window_end), catalogue)
    counts = dict.fromkeys(SEVERITY_ZH, 0)
    for f in report.flags:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return Document(
        report_id=report.report_id,
        version=report.version,
        verification_id=report.verification_id,
        resource_name=report.name,
        generated_at=official.generated_at,
        commissioned_by=official.commissioned_by,
        authorizations=tuple(report.authorizations),
        policy_locality=report.policy.locality,
        policy_effective_from=report.policy.effective_from,
        policy_version=report.policy_version,
        policy_sha256=css_safe(report.policy_sha256),
        application_date=report.application_date,
        area=label(AREA_ZH, report.area),
        purpose=label(PURPOSE_ZH, report.purpose),
        previous_version=report.previous_version,
        previous_report_id=report.previous_report_id,
        hearing_required=report.hearing_required,
        filing_for_review_required=report.filing_for_review_required,
        next_recheck_date=report.next_recheck_date,
        gradual_exit_until=report.gradual_exit_until,
        severity_counts=tuple((code, label(SEVERITY_ZH, code), n) for code, n in counts.items()),
        members=_members(report),
        sources=_sources(report, catalogue),
        income_records=income_records,
        asset_records=asset_records,
        computation=computation(report, people.name),
        flags=_flags(report, people, catalogue),
        changes=changes_view(report, people),
    )


@functools.cache
def _environment() -> jinja2.Environment:
    """The template environment (autoescaping on, undefined names are errors)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("verifier.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _typed(report: report_pb2.Report | Mapping[str, Any]) -> report_pb2.Report:
    """The typed report (a JSON value is read into one)."""
    return report if isinstance(report, report_pb2.Report) else report_from_plain(report)


def default_audit_reference(report: report_pb2.Report | Mapping[str, Any]) -> str:
    """Where the report is found again: the audit reference it carries, else its id and version."""
    typed = _typed(report)
    return typed.audit_reference or f"{typed.report_id}/v{typed.version}"


def render_report_html(
    report: report_pb2.Report | Mapping[str, Any],
    *,
    audit_reference: str | None = None,
    catalogue: DepartmentCatalogue = DEFAULT_CATALOGUE,
    context: PrintContext | None = None,
) -> str:
    """The report as a self-contained, printable A4 HTML document in Chinese.

    ``audit_reference`` (the template variable of the same name) is where the report's creation
    is recorded in the audit log; by default the report's own ``audit_reference`` field, or its
    report id and version when it carries none. ``catalogue`` names the departments; ``context``
    gives the centre's identity, the authorizations' paper details and the recorded digest
    (by default: a generic centre, the authorizations by name, the digest of the report itself).
    """
    typed = _typed(report)
    official = official_view(typed, context or PrintContext())
    people = People(typed.members)
    document = _document(typed, catalogue, official)
    reference = audit_reference if audit_reference is not None else default_audit_reference(typed)
    template = _environment().get_template(TEMPLATE)
    return template.render(
        doc=document,
        official=official,
        appendix=appendix(typed, people.name, catalogue),
        audit_reference=masked_text(reference),
        page_label=css_safe(f"{document.report_id} v{document.version}"),
    )
