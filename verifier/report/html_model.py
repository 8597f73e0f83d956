"""The printable document's view model: display strings only, laid out by ``templates/report.html.j2``.

Each type is one block of the document; :mod:`verifier.report.html` fills them from the report.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ChangesView",
    "Computation",
    "DeductionRow",
    "Document",
    "EvidenceLine",
    "FigureRow",
    "FlagRow",
    "MemberChangeRow",
    "MemberRow",
    "RecordRow",
    "SourceRow",
    "Step",
    "WarningChangeRow",
]


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A row of the members table."""

    name: str
    id_masked: str
    relation: str
    status: str
    status_code: str
    counted: bool
    declared: str
    verified: str
    counted_income: str
    hukou: str


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A row of the sources table."""

    department: str
    status: str
    status_code: str
    records: int
    answered_at: str
    detail: str
    not_queried: tuple[str, ...]
    data_cutoff: str = ""


@dataclass(frozen=True, slots=True)
class RecordRow:
    """A row of the income or assets table: one department record."""

    member: str
    department: str
    record_id: str
    when: str
    item: str
    amount: str
    note: str
    outside_window: bool = False


@dataclass(frozen=True, slots=True)
class FigureRow:
    """A labelled amount (a total row when ``total``)."""

    label: str
    amount: str
    total: bool = False


@dataclass(frozen=True, slots=True)
class DeductionRow:
    """A row of the deductions table."""

    member: str
    kind: str
    declared: str
    allowed: str
    capped: bool
    evidence: str
    note: str
    # The note as printed, when it differs from the screen's (a formula in Chinese words; empty: as ``note``).
    note_printed: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the computation: what, how, the result and its comparison."""

    label: str
    formula: str
    result: str
    comparison: str = ""


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    """One piece of a warning's evidence."""

    department: str
    record_id: str
    field: str
    value: str
    # The value as printed: a vocabulary code's Chinese label without the code (empty: as ``value``).
    printed: str = ""


@dataclass(frozen=True, slots=True)
class FlagRow:
    """A row of the warnings table."""

    code: str
    severity: str
    severity_code: str
    member: str
    department: str
    evidence: tuple[EvidenceLine, ...]
    message_zh: str
    message_en: str


@dataclass(frozen=True, slots=True)
class Computation:
    """The computation section: income, deductions, per-capita steps, assets and the classification."""

    window: str
    household_size: int
    income: tuple[FigureRow, ...]
    zero_categories: tuple[str, ...]
    deductions: tuple[DeductionRow, ...]
    deductions_total: str
    steps: tuple[Step, ...]
    assets: tuple[Step, ...]
    classification: str
    classification_zh: str
    reason: str


@dataclass(frozen=True, slots=True)
class MemberChangeRow:
    """A row of a recheck's member changes."""

    member: str
    id_masked: str
    change: str
    counted: str
    income: str
    wages: str


@dataclass(frozen=True, slots=True)
class WarningChangeRow:
    """A row of a recheck's warning changes."""

    code: str
    severity: str
    severity_code: str
    member: str
    change: str
    change_code: str
    message_zh: str


@dataclass(frozen=True, slots=True)
class ChangesView:
    """A recheck's change section as shown."""

    previous_report_id: str
    previous_report: str
    rows: tuple[FigureRow, ...]
    members_added: tuple[str, ...]
    members_removed: tuple[str, ...]
    warnings_appeared: tuple[str, ...]
    warnings_cleared: tuple[str, ...]
    classification_before: str
    classification_after: str = ""
    member_rows: tuple[MemberChangeRow, ...] = ()
    warning_rows: tuple[WarningChangeRow, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    """The whole document."""

    report_id: str
    version: int
    verification_id: str
    resource_name: str
    generated_at: str
    commissioned_by: str
    authorizations: tuple[str, ...]
    policy_locality: str
    policy_effective_from: str
    policy_version: str
    policy_sha256: str
    application_date: str
    area: str
    purpose: str
    previous_version: str
    previous_report_id: str
    hearing_required: bool
    filing_for_review_required: bool
    next_recheck_date: str
    gradual_exit_until: str
    severity_counts: tuple[tuple[str, str, int], ...]
    members: tuple[MemberRow, ...]
    sources: tuple[SourceRow, ...]
    income_records: tuple[RecordRow, ...]
    asset_records: tuple[RecordRow, ...]
    computation: Computation
    flags: tuple[FlagRow, ...]
    changes: ChangesView | None = None
