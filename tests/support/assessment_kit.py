"""Small builders for the assessment's and the report's unit tests: members, records, sources, a catalogue.

Identity numbers are those of the spec's example household (valid check characters). The default
application date is 2026-11-01, so the window is 2025-11 .. 2026-10; the default policy's urban
standard S is 85_000 fen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Final

from harness import example_request, example_sandbox

from connectors.departments import DEFAULT_DEPARTMENTS, DepartmentCatalogue
from connectors.records import (
    ContributionRecord,
    DepartmentRecord,
    EnterpriseRecord,
    PersonRecord,
    TaxIncomeRecord,
)
from connectors.sandbox import SandboxDataset
from hedui.v1 import report_pb2
from verifier.assessment import SourceOutcome, assess
from verifier.assessment.context import Context
from verifier.policy import Policy, default_policy
from verifier.report.build import build_report
from verifier.request import VerificationRequest, parse_request

# Every warning code's severity: warnings.md's table, by hand.
WARNINGS_MD_SEVERITY: Final = {
    "INCOME_ABOVE_STANDARD": "HIGH",
    "FINANCIAL_ASSETS_ABOVE_LIMIT": "HIGH",
    "MULTIPLE_PROPERTIES": "HIGH",
    "NON_RESIDENTIAL_PROPERTY": "HIGH",
    "VEHICLE_OWNED": "MEDIUM",
    "BUSINESS_REGISTERED": "HIGH",
    "PUBLIC_EMPLOYEE": "MEDIUM",
    "MEMBER_DECEASED": "HIGH",
    "MEMBER_IN_CUSTODY": "MEDIUM",
    "IDENTITY_MISMATCH": "HIGH",
    "UNDECLARED_MEMBER": "MEDIUM",
    "DECLARED_INCOME_MISMATCH": "MEDIUM",
    "EMPLOYER_CONTRIBUTIONS": "LOW",
    "RECENT_PROPERTY_TRANSFER": "HIGH",
    "LARGE_INSURANCE_PREMIUM": "MEDIUM",
    "SOURCE_UNAVAILABLE": "HIGH",
    "SOURCE_PENDING": "MEDIUM",
    "CONSENT_MISSING": "HIGH",
    "GRADUAL_EXIT": "LOW",
}

APPLICANT: Final = "533401197803120118"
SPOUSE: Final = "53340119800605022X"
CHILD: Final = "533401200809110310"  # 18 on 2026-09-11
NAMES: Final = {APPLICANT: "张建国", SPOUSE: "李秀英", CHILD: "张小明"}
RELATIONS: Final = {APPLICANT: "applicant", SPOUSE: "spouse", CHILD: "child"}
TO_HEAD: Final = {APPLICANT: "head", SPOUSE: "spouse", CHILD: "child"}
DEFAULT_SIX: Final = tuple(d.id for d in DEFAULT_DEPARTMENTS)
S_URBAN: Final = 85_000

# A centre that declares market regulation (市场监管), answering with enterprise records.
MARKET_REGULATION: Final = DepartmentCatalogue.declare(
    {
        "market_regulation": {
            "name_zh": "市场监督管理部门",
            "name_en": "Market regulation",
            "record_kinds": ["enterprise"],
        }
    }
)


def member(
    id_number: str, declared: int = 0, *, category: str | None = None, name: str | None = None
) -> dict[str, Any]:
    """A declared member of the request."""
    return {
        "id_number": id_number,
        "name": name or NAMES[id_number],
        "relation": RELATIONS[id_number],
        "declared_annual_income_fen": declared,
        "employment_category": category,
    }


def request(
    *members: dict[str, Any],
    deductions: Iterable[dict[str, Any]] = (),
    purpose: str = "ASSESSMENT",
    previous_report_id: str | None = None,
    application_date: str = "2026-11-01",
) -> VerificationRequest:
    """A checked request (area urban), by default of the applicant alone."""
    return parse_request(
        {
            "application_date": application_date,
            "area": "urban",
            "purpose": purpose,
            "previous_report_id": previous_report_id,
            "commissioned_by": "533401-civil-affairs",
            "members": list(members) or [member(APPLICANT)],
            "deductions": list(deductions),
        },
        today=dt.date(2026, 12, 31),
    )


def person(id_number: str, *, status: str = "active", name: str | None = None, hukou: str = "H-1") -> PersonRecord:
    """A person record on register ``hukou``."""
    return PersonRecord(
        f"{hukou}:{id_number}", id_number, name or NAMES[id_number], hukou, TO_HEAD[id_number], status, None
    )


def tax(id_number: str, period: str, amount: int, category: str = "wages", rid: str = "") -> TaxIncomeRecord:
    """A tax income record."""
    return TaxIncomeRecord(rid or f"TX-{id_number[-4:]}-{period}-{category}", id_number, period, category, amount)


def contribution(
    id_number: str,
    period: str,
    *,
    base: int = 0,
    employer: int = 0,
    personal: int = 0,
    scheme: str = "enterprise_employee",
) -> ContributionRecord:
    """A social-security contribution record."""
    return ContributionRecord(
        f"SS-{id_number[-4:]}-{period}", id_number, period, scheme, "厂", base, employer, personal
    )


def enterprise(id_number: str, role: str = "legal_representative", rid: str = "EN-1") -> EnterpriseRecord:
    """An enterprise registration record."""
    return EnterpriseRecord(rid, id_number, "某某商贸有限公司", role, None)


def sources(
    supplied: Mapping[str, Iterable[DepartmentRecord]] | None = None,
    *,
    statuses: Mapping[str, str] | None = None,
    not_queried: Mapping[str, tuple[str, ...]] | None = None,
    persons: Iterable[PersonRecord] | None = None,
    departments: Iterable[str] = DEFAULT_SIX,
) -> dict[str, SourceOutcome]:
    """What each department gave: ``supplied`` records per department, everyone else ok and empty.

    The police give ``persons`` (by default, the applicant's person record).
    """
    by_department = {d: list(r) for d, r in (supplied or {}).items()}
    by_department.setdefault("police", list(persons if persons is not None else [person(APPLICANT)]))
    outcomes: dict[str, SourceOutcome] = {}
    for department in dict.fromkeys([*departments, *by_department]):
        status = (statuses or {}).get(department, "ok")
        records = tuple(by_department.get(department, ())) if status == "ok" else ()
        detail = "" if status == "ok" else f"{department} {status}"
        outcomes[department] = SourceOutcome(
            department, status, records, detail, (not_queried or {}).get(department, ())
        )
    return outcomes


def context(
    req: VerificationRequest | None = None,
    srcs: Mapping[str, SourceOutcome] | None = None,
    *,
    policy: Policy | None = None,
    catalogue: DepartmentCatalogue | None = None,
) -> Context:
    """The assessment context of a request and its sources (default policy and catalogue)."""
    return Context.of(
        req or request(), policy or default_policy(), srcs or sources(), catalogue or DepartmentCatalogue()
    )


ANSWERED = dt.datetime(2026, 11, 1, 1, 59, 30, tzinfo=dt.UTC)


def example_report(**overrides: Any) -> report_pb2.Report:
    """The spec's example household, every department answering (as the fixture was written)."""
    req = parse_request(example_request(), today=dt.date(2026, 12, 31))
    dataset = SandboxDataset.from_json(example_sandbox())
    wanted = {m.id_number for m in req.members}
    srcs: dict[str, SourceOutcome] = {}
    for department in DEFAULT_SIX:
        records = dataset.records.get(department, ())
        if department == "police":
            registers = {r.hukou_id for r in records if isinstance(r, PersonRecord) and r.id_number in wanted}
            kept = tuple(r for r in records if isinstance(r, PersonRecord) and r.hukou_id in registers)
        else:
            kept = tuple(r for r in records if r.subject in wanted)
        srcs[department] = SourceOutcome(department, "ok", kept, answered_at=ANSWERED)
    arguments: dict[str, Any] = {
        "report_id": "r-zhang",
        "verification_id": "v-zhang",
        "version": 1,
        "generated_at": dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC),
        "request": req,
        "policy": default_policy(),
        "sources": srcs,
        "result": assess(req, default_policy(), srcs),
        "authorizations": ["authorizations/a-1", "authorizations/a-2"],
        "audit_reference": "hedui-audit REPORT_CREATED r-zhang",
    }
    return build_report(**{**arguments, **overrides})
