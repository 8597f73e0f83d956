"""The assessment engine against policy.md and warnings.md, household by household.

Every expected figure below was computed by hand from the spec, and the arithmetic is in
a comment next to it. Nothing here was copied from the program's output.

Conventions used throughout (default policy, policy.md):

- application date 2026-11-01, so the window is 2025-11 .. 2026-10 (12 calendar months);
- S (urban) = 85_000 fen, S (rural) = 65_000 fen; marginal = 1.5 × S = 127_500 (urban), 97_500 (rural);
- financial assets limit = 24 × S per capita = 2_040_000 (urban);
- before = I / 12 / n, after = max(I − D, 0) / 12 / n, rounded half up to the fen once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import pytest
from assessment_kit import WARNINGS_MD_SEVERITY
from harness import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.departments import DEFAULT_DEPARTMENTS
from connectors.records import (
    AccountRecord,
    BenefitRecord,
    ContributionRecord,
    DepartmentRecord,
    EnterpriseRecord,
    InsurancePremiumRecord,
    PensionRecord,
    PersonRecord,
    PropertyRecord,
    ProvidentFundRecord,
    RentalRecord,
    TaxIncomeRecord,
    VehicleRecord,
)
from connectors.sandbox import SandboxDataset
from consent.identity import check_character, validate_identity_number
from verifier.assessment import AssessmentResult, SourceOutcome, assess
from verifier.assessment.flags import WarningFlag
from verifier.assessment.recheck import PreviousFlag, PreviousMember, PreviousReport, previous_from_report
from verifier.policy import Policy, default_policy
from verifier.report.build import build_report, report_plain
from verifier.request import VerificationRequest, parse_request

# ---------------------------------------------------------------------------------------------------------------------
# Identity numbers and members
# ---------------------------------------------------------------------------------------------------------------------


# The six departments of interfaces.md, and which of them supplies each record kind (records name no department).
DEPARTMENTS: Final = tuple(d.id for d in DEFAULT_DEPARTMENTS)
SUPPLIER: Final = {kind: d.id for d in DEFAULT_DEPARTMENTS for kind in d.record_kinds}


def make_id(birth: str, sequence: int, area: str = "533401") -> str:
    """A valid 18-character identity number: area, birth date, sequence, ISO 7064 MOD 11-2 check character."""
    first17 = f"{area}{birth}{sequence:03d}"
    assert len(first17) == 17
    return validate_identity_number(first17 + check_character(first17))


A: Final = make_id("19780312", 11)  # applicant (= 533401197803120118 of the example)
B: Final = make_id("19800605", 22)  # spouse (= 53340119800605022X of the example)
C: Final = make_id("20080911", 31)  # adult child: 18 on 2026-09-11 (= 533401200809110310 of the example)
P: Final = make_id("19500101", 41)  # parent of the applicant
K: Final = make_id("20120401", 52)  # minor child: 14 on the application date

NAMES: Final = {A: "张建国", B: "李秀英", C: "张小明", P: "张德福", K: "张小红"}
RELATIONS: Final = {A: "applicant", B: "spouse", C: "child", P: "parent", K: "child"}
RELATION_TO_HEAD: Final = {A: "head", B: "spouse", C: "child", P: "parent", K: "child"}

APPLICATION_DATE: Final = "2026-11-01"
TODAY: Final = dt.date(2026, 12, 31)  # parse_request's "not in the future" check does not depend on the clock
WINDOW: Final = (
    "2025-11",
    "2025-12",
    "2026-01",
    "2026-02",
    "2026-03",
    "2026-04",
    "2026-05",
    "2026-06",
    "2026-07",
    "2026-08",
    "2026-09",
    "2026-10",
)
S_URBAN: Final = 85_000
S_RURAL: Final = 65_000


def test_identity_helper_builds_the_example_numbers() -> None:
    assert (A, B, C) == ("533401197803120118", "53340119800605022X", "533401200809110310")


def member(
    id_number: str,
    declared: int = 0,
    *,
    category: str | None = None,
    signed: bool = True,
    name: str | None = None,
) -> dict[str, Any]:
    return {
        "id_number": id_number,
        "name": name or NAMES[id_number],
        "relation": RELATIONS[id_number],
        "declared_annual_income_fen": declared,
        "employment_category": category,
        "signed": signed,
    }


def deduction(id_number: str, kind: str, amount: int) -> dict[str, Any]:
    return {"id_number": id_number, "kind": kind, "amount_fen": amount, "evidence": f"receipt {kind} {amount}"}


# ---------------------------------------------------------------------------------------------------------------------
# Record builders (record ids are unique across the module)
# ---------------------------------------------------------------------------------------------------------------------

_serial = itertools.count(1)


def _rid(prefix: str, rid: str | None) -> str:
    return rid or f"{prefix}-{next(_serial):05d}"


def person(
    id_number: str,
    *,
    status: str = "active",
    status_date: str | None = None,
    name: str | None = None,
    relation_to_head: str | None = None,
    hukou_id: str = "H-533401-0001",
    rid: str | None = None,
) -> PersonRecord:
    return PersonRecord(
        record_id=_rid("PS", rid),
        id_number=id_number,
        name=name or NAMES[id_number],
        hukou_id=hukou_id,
        relation_to_head=relation_to_head or RELATION_TO_HEAD[id_number],
        status=status,
        status_date=status_date,
    )


def tax(
    id_number: str, period: str, amount: int, category: str = "wages", *, rid: str | None = None
) -> TaxIncomeRecord:
    return TaxIncomeRecord(
        record_id=_rid("TX", rid), id_number=id_number, period=period, category=category, amount_fen=amount
    )


def contribution(
    id_number: str,
    period: str,
    *,
    scheme: str = "enterprise_employee",
    base: int = 0,
    employer_part: int = 0,
    personal_part: int = 0,
    rid: str | None = None,
) -> ContributionRecord:
    return ContributionRecord(
        record_id=_rid("SS", rid),
        id_number=id_number,
        period=period,
        scheme=scheme,
        employer=None if scheme == "urban_rural_resident" else "某某有限公司",
        base_fen=base,
        employer_part_fen=employer_part,
        personal_part_fen=personal_part,
    )


def pension(id_number: str, period: str, amount: int, *, rid: str | None = None) -> PensionRecord:
    return PensionRecord(record_id=_rid("PN", rid), id_number=id_number, period=period, amount_fen=amount)


def benefit(id_number: str, period: str, kind: str, amount: int, *, rid: str | None = None) -> BenefitRecord:
    return BenefitRecord(
        record_id=_rid("BN", rid), id_number=id_number, period=period, kind_of_benefit=kind, amount_fen=amount
    )


def rental(owner_id: str, period: str, rent: int, *, rid: str | None = None) -> RentalRecord:
    return RentalRecord(record_id=_rid("RT", rid), owner_id=owner_id, period=period, rent_fen=rent)


def real_estate(
    owner_id: str,
    usage: str = "residential",
    *,
    acquired: str | None = "2009-05-01",
    disposed: str | None = None,
    rid: str | None = None,
) -> PropertyRecord:
    return PropertyRecord(
        record_id=_rid("RE", rid),
        owner_id=owner_id,
        usage=usage,
        area_m2=62.5,
        value_fen=32_000_000,
        acquired=acquired,
        disposed=disposed,
    )


def provident_fund(
    id_number: str, period: str, *, employer_part: int, personal_part: int, rid: str | None = None
) -> ProvidentFundRecord:
    return ProvidentFundRecord(
        record_id=_rid("PF", rid),
        id_number=id_number,
        period=period,
        employer="某某有限公司",
        employer_part_fen=employer_part,
        personal_part_fen=personal_part,
    )


def enterprise(id_number: str, role: str, *, rid: str | None = None) -> EnterpriseRecord:
    return EnterpriseRecord(
        record_id=_rid("EN", rid),
        id_number=id_number,
        enterprise="某某商贸有限公司",
        role=role,
        registered="2019-04-01",
    )


def vehicle(
    owner_id: str, type_: str = "car", use: str = "private", value: int = 6_000_000, *, rid: str | None = None
) -> VehicleRecord:
    return VehicleRecord(
        record_id=_rid("VH", rid),
        owner_id=owner_id,
        plate="云R·12345",
        type=type_,
        use=use,
        value_fen=value,
        registered="2021-03-02",
    )


def account(
    id_number: str,
    balance: int,
    kind: str = "deposit",
    *,
    institution: str | None = None,
    as_of: str = "2026-10-31",
    rid: str | None = None,
) -> AccountRecord:
    record_id = _rid("BK", rid)
    return AccountRecord(
        record_id=record_id,
        id_number=id_number,
        institution=institution or f"银行 {record_id}",
        account_kind=kind,
        balance_fen=balance,
        as_of=as_of,
    )


def premium(id_number: str, period: str, amount: int, *, rid: str | None = None) -> InsurancePremiumRecord:
    return InsurancePremiumRecord(
        record_id=_rid("IP", rid), id_number=id_number, insurer="某某人寿", period=period, amount_fen=amount
    )


def monthly_wages(id_number: str, amount: int, periods: Sequence[str] = WINDOW) -> tuple[DepartmentRecord, ...]:
    return tuple(tax(id_number, period, amount) for period in periods)


# ---------------------------------------------------------------------------------------------------------------------
# A household: request + what each department gave
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Household:
    members: tuple[dict[str, Any], ...]
    records: tuple[DepartmentRecord, ...] = ()
    deductions: tuple[dict[str, Any], ...] = ()
    area: str = "urban"
    application_date: str = APPLICATION_DATE
    statuses: Mapping[str, str] = field(default_factory=dict)
    not_queried: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    persons: tuple[PersonRecord, ...] | None = None  # None: every declared member registered, active
    policy: Policy | None = None
    previous: PreviousReport | None = None  # a recheck's previous report (purpose RECHECK when given)

    def request(self) -> VerificationRequest:
        return parse_request(
            {
                "application_date": self.application_date,
                "area": self.area,
                "purpose": "ASSESSMENT" if self.previous is None else "RECHECK",
                "previous_report_id": None if self.previous is None else self.previous.report_id,
                "commissioned_by": "533401-civil-affairs",
                "members": list(self.members),
                "deductions": list(self.deductions),
            },
            today=TODAY,
        )

    def sources(self) -> dict[str, SourceOutcome]:
        persons: tuple[DepartmentRecord, ...] = (
            self.persons if self.persons is not None else tuple(person(m["id_number"]) for m in self.members)
        )
        by_department: dict[str, list[DepartmentRecord]] = defaultdict(list)
        for record in (*persons, *self.records):
            by_department[SUPPLIER[record.kind]].append(record)
        sources: dict[str, SourceOutcome] = {}
        for department in DEPARTMENTS:
            status = self.statuses.get(department, "ok")
            records = tuple(by_department[department]) if status == "ok" else ()
            detail = "" if status == "ok" else f"{department} {status} (test)"
            sources[department] = SourceOutcome(
                department, status, records, detail, self.not_queried.get(department, ())
            )
        return sources

    def assess(self) -> AssessmentResult:
        return assess(self.request(), self.policy or default_policy(), self.sources(), self.previous)


def codes(result: AssessmentResult) -> tuple[str, ...]:
    return tuple(sorted(f.code for f in result.flags))


def flags_with(result: AssessmentResult, code: str) -> list[WarningFlag]:
    return [f for f in result.flags if f.code == code]


def half_up(numerator: int, denominator: int) -> int:
    """Round a non-negative fraction half up to an integer (written here, independent of the code)."""
    whole, rest = divmod(numerator, denominator)
    return whole + (1 if 2 * rest >= denominator else 0)


ASSET_CODES: Final = {
    "FINANCIAL_ASSETS_ABOVE_LIMIT",
    "MULTIPLE_PROPERTIES",
    "NON_RESIDENTIAL_PROPERTY",
    "VEHICLE_OWNED",
    "BUSINESS_REGISTERED",
}
SEVERITY: Final = WARNINGS_MD_SEVERITY


# ---------------------------------------------------------------------------------------------------------------------
# The example household (examples/household-zhang.json with examples/sandbox-small.json), embedded
# ---------------------------------------------------------------------------------------------------------------------

SPEC_EXAMPLES: Final = EXAMPLES

ZHANG_REQUEST_JSON: Final = """
{
  "application_date": "2026-11-01",
  "area": "urban",
  "purpose": "ASSESSMENT",
  "commissioned_by": "533401-civil-affairs",
  "members": [
    {"id_number": "533401197803120118", "name": "张建国", "relation": "applicant",
     "declared_annual_income_fen": 3600000, "signed": true},
    {"id_number": "53340119800605022X", "name": "李秀英", "relation": "spouse",
     "declared_annual_income_fen": 0, "signed": true},
    {"id_number": "533401200809110310", "name": "张小明", "relation": "child",
     "declared_annual_income_fen": 0, "signed": true}
  ],
  "deductions": [
    {"id_number": "53340119800605022X", "kind": "medical", "amount_fen": 1200000,
     "evidence": "receipt 2026-HX-0042 (hospital settlement, after insurance)"},
    {"id_number": "53340119800605022X", "kind": "rehabilitation", "amount_fen": 450000,
     "evidence": "receipt 2026-KF-0007"}
  ]
}
"""

ZHANG_SANDBOX_JSON: Final = """
{
  "police": {
    "persons": [
      {"id_number": "533401197803120118", "name": "张建国", "hukou_id": "H-533401-0001",
       "relation_to_head": "head", "status": "active"},
      {"id_number": "53340119800605022X", "name": "李秀英", "hukou_id": "H-533401-0001",
       "relation_to_head": "spouse", "status": "active"},
      {"id_number": "533401200809110310", "name": "张小明", "hukou_id": "H-533401-0001",
       "relation_to_head": "child", "status": "active"},
      {"id_number": "533401194501010411", "name": "张德福", "hukou_id": "H-533401-0002",
       "relation_to_head": "head", "status": "deceased", "status_date": "2025-02-14"}
    ]
  },
  "housing": {
    "properties": [
      {"record_id": "RE-0001", "owner_id": "533401197803120118", "usage": "residential", "area_m2": 62.5,
       "value_fen": 32000000, "acquired": "2009-05-01", "disposed": null}
    ],
    "provident_fund": [],
    "rentals": []
  },
  "tax": {
    "income": [
      {"record_id": "TX-2026-01", "id_number": "533401197803120118", "period": "2026-01", "category": "wages",
       "amount_fen": 150000},
      {"record_id": "TX-2026-02", "id_number": "533401197803120118", "period": "2026-02", "category": "wages",
       "amount_fen": 150000}
    ],
    "enterprises": []
  },
  "vehicles": {
    "vehicles": [
      {"record_id": "VH-0001", "owner_id": "533401197803120118", "plate": "云R·3K210", "type": "tricycle",
       "use": "operating", "value_fen": 800000, "registered": "2021-03-02"}
    ]
  },
  "banks": {
    "accounts": [
      {"record_id": "BK-0001", "id_number": "533401197803120118", "institution": "农村信用社", "kind": "deposit",
       "balance_fen": 1250000, "as_of": "2026-10-31"}
    ],
    "insurance_premiums": [],
    "answer_after_seconds": 0
  },
  "social_security": {
    "contributions": [
      {"record_id": "SS-2026-03", "id_number": "533401197803120118", "period": "2026-03",
       "scheme": "urban_rural_resident", "employer": null, "base_fen": 0, "employer_part_fen": 0,
       "personal_part_fen": 20000}
    ],
    "pensions": [],
    "benefits": []
  },
  "faults": {}
}
"""
ZHANG_REQUEST: Final[dict[str, Any]] = json.loads(ZHANG_REQUEST_JSON)
ZHANG_SANDBOX: Final[dict[str, Any]] = json.loads(ZHANG_SANDBOX_JSON)


def sandbox_sources(raw: Mapping[str, Any], request: VerificationRequest) -> dict[str, SourceOutcome]:
    """What the sandbox departments answer for the request's members (police: the members' whole registers)."""
    dataset = SandboxDataset.from_json(raw)
    wanted = {m.id_number for m in request.members}
    sources: dict[str, SourceOutcome] = {}
    for department in DEPARTMENTS:
        records = dataset.records.get(department, ())
        kept: tuple[DepartmentRecord, ...]
        if department == "police":
            registers = {r.hukou_id for r in records if isinstance(r, PersonRecord) and r.id_number in wanted}
            kept = tuple(r for r in records if isinstance(r, PersonRecord) and r.hukou_id in registers)
        else:
            kept = tuple(r for r in records if r.subject in wanted)
        sources[department] = SourceOutcome(department, "ok", kept)
    return sources


@pytest.mark.parametrize(
    ("name", "embedded"),
    [("household-zhang.json", ZHANG_REQUEST), ("sandbox-small.json", ZHANG_SANDBOX)],
)
def test_embedded_example_matches_the_spec_file(name: str, embedded: Mapping[str, Any]) -> None:
    path = SPEC_EXAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} not available on this machine")
    assert json.loads(path.read_text(encoding="utf-8")) == embedded


def test_example_household_zhang() -> None:
    request = parse_request(ZHANG_REQUEST, today=TODAY)
    result = assess(request, default_policy(), sandbox_sources(ZHANG_SANDBOX, request))
    h = result.household
    # Window 2025-11 .. 2026-10. Applicant: wages 2026-01 and 2026-02 = 150_000 + 150_000 = 300_000 verified;
    # declared 3_600_000 is the floor, so counted 3_600_000, of which 3_300_000 declared_unverified.
    # Spouse and child: 0. I = 3_600_000.
    assert h.household_size == 3
    assert h.annual_income_fen == 3_600_000
    assert h.income_by_category["wages"] == 300_000
    assert h.income_by_category["declared_unverified"] == 3_300_000
    for category in ("business", "property", "pensions", "benefits", "other"):
        assert h.income_by_category[category] == 0
    # D = medical 1_200_000 + rehabilitation min(450_000, cap 300_000) = 300_000
    #     + pension_contribution: personal part 20_000 of SS-2026-03 (2026-03, inside the window) = 1_520_000
    assert h.deductions_fen == 1_520_000
    # before = 3_600_000 / 12 / 3 = 100_000
    assert h.per_capita_monthly_income_before_fen == 100_000
    # after = (3_600_000 − 1_520_000) / 12 / 3 = 2_080_000 / 36 = 57_777.78 -> 57_778
    assert h.per_capita_monthly_income_fen == 57_778
    assert h.standard_fen == S_URBAN
    # financial assets: one deposit 1_250_000 ≤ 24 × 85_000 × 3 = 6_120_000; one residential property;
    # tricycle is exempt; the deceased 张德福 is on another register and not declared.
    assert h.financial_assets_fen == 1_250_000
    # before 100_000 ≥ S = 85_000 (not DIBAO); after 57_778 < S -> DIBAO_AFTER_DEDUCTIONS
    assert h.classification == "DIBAO_AFTER_DEDUCTIONS"
    assert result.flags == ()
    assert result.hearing_required is False
    assert result.filing_for_review_required is False


# ---------------------------------------------------------------------------------------------------------------------
# Classification, one case per class, and the boundaries at exactly S and exactly 1.5 × S
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    classification: str
    n: int
    income: int
    deductions: int
    before: int
    after: int
    flags: tuple[str, ...]  # sorted codes, exactly


CLASSIFICATION_CASES: Final = [
    pytest.param(
        # I = 12 × 60_000 = 720_000 (A's wages; declared the same); n = 2; D = 0
        # before = after = 720_000 / 12 / 2 = 30_000 < S = 85_000 -> DIBAO
        Household(members=(member(A, 720_000), member(B)), records=monthly_wages(A, 60_000)),
        Figures("DIBAO", 2, 720_000, 0, 30_000, 30_000, ()),
        id="dibao",
    ),
    pytest.param(
        # I = 12 × 200_000 = 2_400_000; n = 2; before = 2_400_000 / 24 = 100_000 ≥ S
        # D = medical 600_000; after = 1_800_000 / 24 = 75_000 < S -> DIBAO_AFTER_DEDUCTIONS
        Household(
            members=(member(A, 2_400_000), member(B)),
            records=monthly_wages(A, 200_000),
            deductions=(deduction(B, "medical", 600_000),),
        ),
        Figures("DIBAO_AFTER_DEDUCTIONS", 2, 2_400_000, 600_000, 100_000, 75_000, ()),
        id="dibao-after-deductions",
    ),
    pytest.param(
        # I = 12 × 100_000 = 1_200_000; n = 1; before = after = 100_000; 85_000 ≤ 100_000 < 127_500 -> MARGINAL
        # after ≥ S -> INCOME_ABOVE_STANDARD
        Household(members=(member(A, 1_200_000),), records=monthly_wages(A, 100_000)),
        Figures("MARGINAL", 1, 1_200_000, 0, 100_000, 100_000, ("INCOME_ABOVE_STANDARD",)),
        id="marginal",
    ),
    pytest.param(
        # I = 12 × 200_000 = 2_400_000; n = 1; after = 200_000 ≥ 127_500 -> NOT_ELIGIBLE_INCOME
        Household(members=(member(A, 2_400_000),), records=monthly_wages(A, 200_000)),
        Figures("NOT_ELIGIBLE_INCOME", 1, 2_400_000, 0, 200_000, 200_000, ("INCOME_ABOVE_STANDARD",)),
        id="not-eligible-income",
    ),
    pytest.param(
        # the "dibao" household, but the spouse owns a shop -> asset warning beats income
        Household(
            members=(member(A, 720_000), member(B)),
            records=(*monthly_wages(A, 60_000), real_estate(B, "commercial")),
        ),
        Figures("NOT_ELIGIBLE_ASSETS", 2, 720_000, 0, 30_000, 30_000, ("NON_RESIDENTIAL_PROPERTY",)),
        id="not-eligible-assets",
    ),
    pytest.param(
        # "dibao" household with tax unavailable: A's wages unverified; declared 720_000 is the floor -> I = 720_000
        Household(
            members=(member(A, 720_000), member(B)),
            records=monthly_wages(A, 60_000),
            statuses={"tax": "unavailable"},
        ),
        Figures("INCONCLUSIVE", 2, 720_000, 0, 30_000, 30_000, ("SOURCE_UNAVAILABLE",)),
        id="inconclusive-unavailable",
    ),
    pytest.param(
        # banks pending; a shop too: INCONCLUSIVE comes first in the order
        Household(
            members=(member(A, 720_000), member(B)),
            records=(*monthly_wages(A, 60_000), real_estate(B, "commercial")),
            statuses={"banks": "pending"},
        ),
        Figures("INCONCLUSIVE", 2, 720_000, 0, 30_000, 30_000, ("NON_RESIDENTIAL_PROPERTY", "SOURCE_PENDING")),
        id="inconclusive-pending-beats-assets",
    ),
    pytest.param(
        # B did not sign: banks not queried for B
        Household(
            members=(member(A, 720_000), member(B, signed=False)),
            records=monthly_wages(A, 60_000),
            not_queried={"banks": (B,)},
        ),
        Figures("INCONCLUSIVE", 2, 720_000, 0, 30_000, 30_000, ("CONSENT_MISSING",)),
        id="inconclusive-not-queried-for-a-member",
    ),
    pytest.param(
        # nobody's authorization covers vehicles: the department was not queried at all
        Household(
            members=(member(A, 720_000), member(B)),
            records=monthly_wages(A, 60_000),
            statuses={"vehicles": "not_queried"},
            not_queried={"vehicles": (A, B)},
        ),
        Figures("INCONCLUSIVE", 2, 720_000, 0, 30_000, 30_000, ("CONSENT_MISSING", "CONSENT_MISSING")),
        id="inconclusive-department-not-queried",
    ),
    # --- boundaries at S (urban 85_000) ---
    pytest.param(
        # I = 85_000 × 12 = 1_020_000 (declared, nothing verified); before = after = 85_000 = S
        # DIBAO needs before < S: no; after < S: no; after < 127_500 -> MARGINAL; after ≥ S -> INCOME_ABOVE_STANDARD
        Household(members=(member(A, 1_020_000),)),
        Figures("MARGINAL", 1, 1_020_000, 0, 85_000, 85_000, ("INCOME_ABOVE_STANDARD",)),
        id="before-exactly-S",
    ),
    pytest.param(
        # I = 1_019_988; 1_019_988 / 12 = 84_999 < S -> DIBAO
        Household(members=(member(A, 1_019_988),)),
        Figures("DIBAO", 1, 1_019_988, 0, 84_999, 84_999, ()),
        id="before-one-fen-below-S",
    ),
    pytest.param(
        # I = 2_400_000, n = 2, before = 100_000; D = 360_000; after = 2_040_000 / 24 = 85_000 = S -> MARGINAL
        Household(members=(member(A, 2_400_000), member(B)), deductions=(deduction(B, "medical", 360_000),)),
        Figures("MARGINAL", 2, 2_400_000, 360_000, 100_000, 85_000, ("INCOME_ABOVE_STANDARD",)),
        id="after-deductions-exactly-S",
    ),
    pytest.param(
        # D = 360_024; after = 2_039_976 / 24 = 84_999 < S -> DIBAO_AFTER_DEDUCTIONS
        Household(members=(member(A, 2_400_000), member(B)), deductions=(deduction(B, "medical", 360_024),)),
        Figures("DIBAO_AFTER_DEDUCTIONS", 2, 2_400_000, 360_024, 100_000, 84_999, ()),
        id="after-deductions-one-fen-below-S",
    ),
    # --- boundaries at 1.5 × S (urban 127_500) ---
    pytest.param(
        # I = 127_500 × 12 = 1_530_000; after = 127_500, not < 1.5 × S -> NOT_ELIGIBLE_INCOME
        Household(members=(member(A, 1_530_000),)),
        Figures("NOT_ELIGIBLE_INCOME", 1, 1_530_000, 0, 127_500, 127_500, ("INCOME_ABOVE_STANDARD",)),
        id="exactly-1.5S",
    ),
    pytest.param(
        # I = 1_529_988; / 12 = 127_499 < 127_500 -> MARGINAL
        Household(members=(member(A, 1_529_988),)),
        Figures("MARGINAL", 1, 1_529_988, 0, 127_499, 127_499, ("INCOME_ABOVE_STANDARD",)),
        id="one-fen-below-1.5S",
    ),
    pytest.param(
        # I = 3_300_000, n = 2: before = 3_300_000 / 24 = 137_500; D = education 240_000
        # after = 3_060_000 / 24 = 127_500 = 1.5 × S -> NOT_ELIGIBLE_INCOME
        Household(members=(member(A, 3_300_000), member(C)), deductions=(deduction(C, "education", 240_000),)),
        Figures("NOT_ELIGIBLE_INCOME", 2, 3_300_000, 240_000, 137_500, 127_500, ("INCOME_ABOVE_STANDARD",)),
        id="after-deductions-exactly-1.5S",
    ),
    # --- rural standard 65_000, 1.5 × S = 97_500 ---
    pytest.param(
        # I = 65_000 × 12 = 780_000 -> 65_000 = S_rural -> MARGINAL
        Household(members=(member(A, 780_000),), area="rural"),
        Figures("MARGINAL", 1, 780_000, 0, 65_000, 65_000, ("INCOME_ABOVE_STANDARD",)),
        id="rural-exactly-S",
    ),
    pytest.param(
        # I = 779_988 -> 64_999 < S_rural = 65_000 -> DIBAO
        Household(members=(member(A, 779_988),), area="rural"),
        Figures("DIBAO", 1, 779_988, 0, 64_999, 64_999, ()),
        id="rural-one-fen-below-S",
    ),
    pytest.param(
        # I = 97_500 × 12 = 1_170_000 -> 97_500 = 1.5 × 65_000 -> NOT_ELIGIBLE_INCOME (urban would be MARGINAL)
        Household(members=(member(A, 1_170_000),), area="rural"),
        Figures("NOT_ELIGIBLE_INCOME", 1, 1_170_000, 0, 97_500, 97_500, ("INCOME_ABOVE_STANDARD",)),
        id="rural-exactly-1.5S",
    ),
    # --- rounding and the floor ---
    pytest.param(
        # I = 1_200_012, n = 2: 1_200_012 / 24 = 50_000.5 -> half up -> 50_001
        Household(members=(member(A, 1_200_012), member(B))),
        Figures("DIBAO", 2, 1_200_012, 0, 50_001, 50_001, ()),
        id="half-fen-rounds-up",
    ),
    pytest.param(
        # I = 1_000_002, n = 3: 1_000_002 / 36 = 27_777.83 -> 27_778
        Household(members=(member(A, 1_000_002), member(B), member(C))),
        Figures("DIBAO", 3, 1_000_002, 0, 27_778, 27_778, ()),
        id="rounds-to-nearest-fen",
    ),
    pytest.param(
        # I = 120_000, D = 500_000 > I: before = 10_000; after = max(−380_000, 0) / 12 = 0
        Household(members=(member(A, 120_000),), deductions=(deduction(A, "medical", 500_000),)),
        Figures("DIBAO", 1, 120_000, 500_000, 10_000, 0, ()),
        id="after-floored-at-zero",
    ),
]


@pytest.mark.parametrize(("household", "expected"), CLASSIFICATION_CASES)
def test_classification(household: Household, expected: Figures) -> None:
    result = household.assess()
    h = result.household
    got = Figures(
        classification=h.classification,
        n=h.household_size,
        income=h.annual_income_fen,
        deductions=h.deductions_fen,
        before=h.per_capita_monthly_income_before_fen,
        after=h.per_capita_monthly_income_fen,
        flags=codes(result),
    )
    assert got == expected
    assert h.standard_fen == (S_RURAL if household.area == "rural" else S_URBAN)


def test_a_department_not_required_by_the_policy_does_not_make_it_inconclusive() -> None:
    # Policy requiring every department but banks; banks pending: still warned, no longer INCONCLUSIVE.
    policy = replace(default_policy(), required_departments=("police", "housing", "tax", "vehicles", "social_security"))
    result = Household(members=(member(A, 720_000), member(B)), statuses={"banks": "pending"}, policy=policy).assess()
    # I = 720_000, n = 2 -> 30_000 < S -> DIBAO
    assert result.household.classification == "DIBAO"
    assert codes(result) == ("SOURCE_PENDING",)


# ---------------------------------------------------------------------------------------------------------------------
# Income: categories, the "larger of, never both" rules, exclusions, the window, the declared floor
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Income:
    total: int
    by_category: Mapping[str, int]  # the categories named; the others must be 0


INCOME_CASES: Final = [
    pytest.param(
        Household(
            members=(member(A),),
            records=(
                tax(A, "2026-01", 100_000),
                contribution(A, "2026-01", base=120_000),  # 2026-01: max(100_000, 120_000) = 120_000
                tax(A, "2026-02", 130_000),
                contribution(A, "2026-02", base=90_000),  # 2026-02: max(130_000, 90_000) = 130_000
                tax(A, "2026-03", 50_000),  # 2026-03: tax only = 50_000
                contribution(A, "2026-04", scheme="public_institution", base=70_000),  # 2026-04: base only = 70_000
                contribution(A, "2026-05", scheme="urban_rural_resident", base=999_999),  # resident scheme: no wages
            ),
        ),
        # wages = 120_000 + 130_000 + 50_000 + 70_000 = 370_000
        Income(370_000, {"wages": 370_000}),
        id="wages-larger-of-tax-and-contribution-base",
    ),
    pytest.param(
        Household(
            members=(member(A),),
            records=(
                tax(A, "2026-01", 30_000, "property"),
                rental(A, "2026-01", 40_000),  # max(30_000, 40_000) = 40_000
                tax(A, "2026-02", 50_000, "property"),
                rental(A, "2026-02", 20_000),  # max(50_000, 20_000) = 50_000
                rental(A, "2026-03", 25_000),  # rentals only = 25_000
                tax(A, "2026-04", 10_000, "property"),  # tax only = 10_000
            ),
        ),
        # property = 40_000 + 50_000 + 25_000 + 10_000 = 125_000
        Income(125_000, {"property": 125_000}),
        id="property-larger-of-tax-and-rentals",
    ),
    pytest.param(
        Household(
            members=(member(A),),
            records=(
                benefit(A, "2026-01", "unemployment", 10_000),
                benefit(A, "2026-02", "unemployment", 10_000),
                benefit(A, "2026-03", "unemployment", 10_000),
                benefit(A, "2026-03", "disability_allowance", 20_000),  # excluded by default
                benefit(A, "2026-04", "award", 50_000),  # excluded by default
            ),
        ),
        # benefits = 3 × 10_000 = 30_000
        Income(30_000, {"benefits": 30_000}),
        id="benefits-excluded-categories",
    ),
    pytest.param(
        Household(
            members=(member(A),),
            records=(
                benefit(A, "2026-01", "unemployment", 10_000),  # excluded by this policy
                benefit(A, "2026-03", "disability_allowance", 20_000),
                benefit(A, "2026-04", "award", 50_000),
            ),
            policy=replace(default_policy(), excluded_income_categories=frozenset({"unemployment"})),
        ),
        # benefits = 20_000 + 50_000 = 70_000
        Income(70_000, {"benefits": 70_000}),
        id="benefits-excluded-categories-come-from-the-policy",
    ),
    pytest.param(
        Household(
            members=(member(A),),
            records=(
                pension(A, "2025-10", 150_000),  # before the window
                *(pension(A, period, 150_000) for period in WINDOW),
                pension(A, "2026-11", 150_000),  # the application month: after the window
            ),
        ),
        # pensions = 12 × 150_000 = 1_800_000
        Income(1_800_000, {"pensions": 1_800_000}),
        id="pensions-only-inside-the-window",
    ),
    pytest.param(
        Household(
            members=(member(A),),
            records=(
                tax(A, "2026-02", 80_000, "business"),
                tax(A, "2026-06", 20_000, "business"),
                tax(A, "2026-03", 5_000, "other"),
                tax(A, "2025-10", 7_000, "other"),  # outside
            ),
        ),
        # business = 80_000 + 20_000 = 100_000; other = 5_000; I = 105_000
        Income(105_000, {"business": 100_000, "other": 5_000}),
        id="business-and-other",
    ),
    pytest.param(
        Household(
            members=(member(A),),
            records=(
                tax(A, "2025-10", 11_000),  # outside
                tax(A, "2025-11", 22_000),  # first month of the window
                tax(A, "2026-10", 33_000),  # last month of the window
                tax(A, "2026-11", 44_000),  # application month: outside
                contribution(A, "2025-10", base=55_000),  # outside
                contribution(A, "2026-11", base=66_000),  # outside
            ),
        ),
        # wages = 22_000 + 33_000 = 55_000
        Income(55_000, {"wages": 55_000}),
        id="window-edges",
    ),
    pytest.param(
        Household(
            members=(member(A),),
            application_date="2026-01-15",
            records=(
                tax(A, "2024-12", 10_000),  # outside (window 2025-01 .. 2025-12)
                tax(A, "2025-01", 20_000),
                tax(A, "2025-12", 40_000),
                tax(A, "2026-01", 80_000),  # the application month: outside
            ),
        ),
        # wages = 20_000 + 40_000 = 60_000
        Income(60_000, {"wages": 60_000}),
        id="window-for-a-mid-month-application",
    ),
    pytest.param(
        Household(members=(member(A, 1_000_000),), records=monthly_wages(A, 25_000)),
        # verified wages 12 × 25_000 = 300_000 < declared 1_000_000: counted 1_000_000,
        # declared_unverified = 1_000_000 − 300_000 = 700_000
        Income(1_000_000, {"wages": 300_000, "declared_unverified": 700_000}),
        id="declaration-is-the-floor",
    ),
    pytest.param(
        Household(members=(member(A, 100_000),), records=monthly_wages(A, 40_000)),
        # verified 12 × 40_000 = 480_000 > declared 100_000: counted 480_000, nothing declared_unverified
        Income(480_000, {"wages": 480_000}),
        id="verification-only-adds",
    ),
    pytest.param(
        Household(
            members=(member(A, 50_000), member(B), member(P, 100_000)),
            records=(tax(A, "2026-01", 100_000), pension(B, "2026-01", 50_000), pension(P, "2026-01", 60_000)),
        ),
        # A: max(50_000, 100_000) = 100_000 wages; B: 50_000 pensions; P: max(100_000, 60_000) = 100_000,
        # of which 40_000 declared_unverified. I = 100_000 + 50_000 + 100_000 = 250_000
        Income(250_000, {"wages": 100_000, "pensions": 110_000, "declared_unverified": 40_000}),
        id="household-sums-members",
    ),
]


@pytest.mark.parametrize(("household", "expected"), INCOME_CASES)
def test_income(household: Household, expected: Income) -> None:
    h = household.assess().household
    assert h.annual_income_fen == expected.total
    categories = ("wages", "business", "property", "pensions", "benefits", "other", "declared_unverified")
    assert {c: h.income_by_category.get(c, 0) for c in categories} == {
        c: expected.by_category.get(c, 0) for c in categories
    }


# ---------------------------------------------------------------------------------------------------------------------
# Deductions
# ---------------------------------------------------------------------------------------------------------------------

# Every deduction case: A declared 2_400_000 (nothing verified above that), B spouse -> I = 2_400_000, n = 2
# (n = 3 when the child C has a receipt), after = (2_400_000 − D) / 12 / n, rounded half up.
DEDUCTION_CASES: Final = [
    # D = 123_456; after = (2_400_000 − 123_456) / 24 = 2_276_544 / 24 = 94_856
    pytest.param((deduction(B, "medical", 123_456),), (), 123_456, 94_856, id="medical-actual"),
    # D = 500_000; n = 3: after = 1_900_000 / 36 = 52_777.78 -> 52_778
    pytest.param((deduction(C, "education", 500_000),), (), 500_000, 52_778, id="education-actual"),
    # D = 250_000; after = 2_150_000 / 24 = 89_583.33 -> 89_583
    pytest.param((deduction(B, "rehabilitation", 250_000),), (), 250_000, 89_583, id="rehabilitation-under-cap"),
    # D = 300_000; after = 2_100_000 / 24 = 87_500
    pytest.param((deduction(B, "rehabilitation", 300_000),), (), 300_000, 87_500, id="rehabilitation-exactly-cap"),
    # D = min(450_000, 300_000) = 300_000; after = 87_500
    pytest.param((deduction(B, "rehabilitation", 450_000),), (), 300_000, 87_500, id="rehabilitation-capped"),
    pytest.param(
        # same member: 200_000 + 150_000 = 350_000 -> capped per member per year at 300_000; after = 87_500
        (deduction(B, "rehabilitation", 200_000), deduction(B, "rehabilitation", 150_000)),
        (),
        300_000,
        87_500,
        id="rehabilitation-cap-per-member-across-receipts",
    ),
    pytest.param(
        # two disabled members: min(200_000, 300_000) + min(350_000, 300_000) = 200_000 + 300_000 = 500_000
        # n = 3: after = 1_900_000 / 36 = 52_777.78 -> 52_778
        (deduction(B, "rehabilitation", 200_000), deduction(C, "rehabilitation", 350_000)),
        (),
        500_000,
        52_778,
        id="rehabilitation-cap-is-per-member",
    ),
    pytest.param(
        # 100_000 + 200_000 + min(350_000, 300_000) = 600_000; n = 3: after = 1_800_000 / 36 = 50_000
        (
            deduction(B, "medical", 100_000),
            deduction(C, "education", 200_000),
            deduction(B, "rehabilitation", 350_000),
        ),
        (),
        600_000,
        50_000,
        id="several-kinds-add-up",
    ),
    pytest.param(
        # social security answered with no record for B: the declared 30_000 counts
        # after = 2_370_000 / 24 = 98_750
        (deduction(B, "pension_contribution", 30_000),),
        (),
        30_000,
        98_750,
        id="pension-declared-no-record",
    ),
    pytest.param(
        # records win over the declaration: personal parts 10_000 + 10_000 = 20_000
        # after = 2_380_000 / 24 = 99_166.67 -> 99_167
        (deduction(B, "pension_contribution", 50_000),),
        (
            contribution(B, "2026-01", scheme="urban_rural_resident", personal_part=10_000),
            contribution(B, "2026-02", scheme="urban_rural_resident", personal_part=10_000),
        ),
        20_000,
        99_167,
        id="pension-records-override-declaration",
    ),
    pytest.param(
        # not declared: 12 × 8_000 = 96_000 inside the window; 2025-10 and 2026-11 outside
        # after = 2_304_000 / 24 = 96_000
        (),
        (
            contribution(B, "2025-10", scheme="urban_rural_resident", personal_part=8_000),
            *(contribution(B, p, scheme="urban_rural_resident", personal_part=8_000) for p in WINDOW),
            contribution(B, "2026-11", scheme="urban_rural_resident", personal_part=8_000),
        ),
        96_000,
        96_000,
        id="pension-undeclared-from-records-inside-window",
    ),
    pytest.param(
        # employer shares never count: personal 4_000 + 4_000 = 8_000 (employer 2 × 16_000 ignored).
        # (The bases, 2 × 50_000 = 100_000 of wages, stay under A's declared 2_400_000.)
        # after = 2_392_000 / 24 = 99_666.67 -> 99_667
        (),
        (
            contribution(A, "2026-01", base=50_000, employer_part=16_000, personal_part=4_000),
            contribution(A, "2026-02", base=50_000, employer_part=16_000, personal_part=4_000),
        ),
        8_000,
        99_667,
        id="pension-employer-share-never-counts",
    ),
]


@pytest.mark.parametrize(("deductions", "records", "expected_d", "expected_after"), DEDUCTION_CASES)
def test_deductions(
    deductions: tuple[dict[str, Any], ...],
    records: tuple[DepartmentRecord, ...],
    expected_d: int,
    expected_after: int,
) -> None:
    members: tuple[dict[str, Any], ...] = (member(A, 2_400_000), member(B))
    if any(d["id_number"] == C for d in deductions):
        members = (*members, member(C))  # n = 3 when the child has a receipt
    h = Household(members=members, records=records, deductions=deductions).assess().household
    assert h.annual_income_fen == 2_400_000
    assert h.deductions_fen == expected_d
    assert h.per_capita_monthly_income_fen == expected_after
    # and the same figure through policy.md's formula
    assert expected_after == half_up(max(2_400_000 - expected_d, 0), 12 * h.household_size)


# employment_cost: 0.30 × S × (months of the window with wages), rounded half up once.
# A's wages: tax 50_000 in 2026-01, 02, 03, 04; contribution base 60_000 in 2026-04 (same month: counted once)
# and 2026-05; tax 2025-10 outside. Months with wages = {01, 02, 03, 04, 05} = 5.
EMPLOYMENT_WAGES: Final = (
    tax(A, "2025-10", 50_000),
    tax(A, "2026-01", 50_000),
    tax(A, "2026-02", 50_000),
    tax(A, "2026-03", 50_000),
    tax(A, "2026-04", 50_000),
    contribution(A, "2026-04", base=60_000),
    contribution(A, "2026-05", base=60_000),
)


@pytest.mark.parametrize("category", ["fresh_graduate", "released_prisoner", "veteran"])
def test_employment_cost_for_each_eligible_category(category: str) -> None:
    h = Household(members=(member(A, 0, category=category),), records=EMPLOYMENT_WAGES).assess().household
    # I = 3 × 50_000 + max(50_000, 60_000) + 60_000 = 150_000 + 60_000 + 60_000 = 270_000
    assert h.annual_income_fen == 270_000
    # D = 0.30 × 85_000 × 5 = 127_500 (pension: personal parts are 0)
    assert h.deductions_fen == 127_500
    # before = 270_000 / 12 = 22_500; after = (270_000 − 127_500) / 12 = 142_500 / 12 = 11_875
    assert h.per_capita_monthly_income_before_fen == 22_500
    assert h.per_capita_monthly_income_fen == 11_875
    lines = [line for line in h.deductions if line.kind == "employment_cost"]
    assert [(line.id_number, line.allowed_fen) for line in lines] == [(A, 127_500)]


def test_employment_cost_needs_an_employment_category() -> None:
    h = Household(members=(member(A, 0),), records=EMPLOYMENT_WAGES).assess().household
    assert h.deductions_fen == 0
    assert h.per_capita_monthly_income_fen == 22_500  # 270_000 / 12


def test_employment_cost_needs_wages() -> None:
    # veteran with no wages in the window (a pension is not wages): 0.30 × 85_000 × 0 = 0
    h = (
        Household(
            members=(member(A, 0, category="veteran"),),
            records=(pension(A, "2026-01", 10_000), tax(A, "2025-10", 9_000)),
        )
        .assess()
        .household
    )
    assert h.deductions_fen == 0


def test_employment_cost_rounds_once_at_the_end() -> None:
    # S = 85_005: 0.30 × 85_005 × 3 = 76_504.5 -> 76_505 (rounding each month would give 3 × 25_502 = 76_506)
    policy = replace(default_policy(), standard_urban_fen=85_005)
    records = (tax(A, "2026-01", 10_000), tax(A, "2026-02", 10_000), tax(A, "2026-03", 10_000))
    h = Household(members=(member(A, 0, category="veteran"),), records=records, policy=policy).assess().household
    assert h.deductions_fen == 76_505


def test_employment_cost_rural_and_per_member() -> None:
    # rural S = 65_000. A veteran, wages in 2 months: 0.30 × 65_000 × 2 = 39_000.
    # B fresh graduate, wages in 3 months: 0.30 × 65_000 × 3 = 58_500. D = 97_500.
    records = (
        tax(A, "2026-01", 10_000),
        tax(A, "2026-02", 10_000),
        tax(B, "2026-06", 10_000),
        tax(B, "2026-07", 10_000),
        tax(B, "2026-08", 10_000),
    )
    h = (
        Household(
            members=(member(A, 0, category="veteran"), member(B, 0, category="fresh_graduate")),
            records=records,
            area="rural",
        )
        .assess()
        .household
    )
    assert h.deductions_fen == 97_500


# ---------------------------------------------------------------------------------------------------------------------
# Deceased and in-custody members
# ---------------------------------------------------------------------------------------------------------------------


def test_deceased_and_in_custody_members_leave_size_income_deductions_and_assets() -> None:
    household = Household(
        members=(
            member(A, 600_000),
            member(B, 300_000),
            member(C, 240_000, category="veteran"),
            member(P, 240_000),
        ),
        persons=(
            person(A),
            person(B, status="deceased", status_date="2026-02-01"),
            person(C, status="in_custody", status_date="2025-12-01"),
            person(P),
        ),
        records=(
            *monthly_wages(A, 50_000),  # A: 12 × 50_000 = 600_000
            account(A, 500_000),
            *(pension(P, period, 20_000) for period in WINDOW),  # P: 12 × 20_000 = 240_000
            # B (deceased): wages, money, a shop and a car, all left out
            tax(B, "2025-11", 100_000),
            tax(B, "2025-12", 100_000),
            tax(B, "2026-01", 100_000),
            account(B, 5_000_000),
            real_estate(B, "commercial"),
            vehicle(B, "car", "private", 9_000_000),
            # C (in custody): wages, pension contributions, a truck, all left out
            tax(C, "2026-07", 120_000),
            tax(C, "2026-08", 120_000),
            contribution(C, "2026-07", scheme="urban_rural_resident", personal_part=10_000),
            contribution(C, "2026-08", scheme="urban_rural_resident", personal_part=10_000),
            vehicle(C, "truck", "private", 7_000_000),
        ),
        deductions=(deduction(B, "medical", 400_000), deduction(B, "rehabilitation", 100_000)),
    )
    result = household.assess()
    h = result.household
    # n = 2 (A, P); I = 600_000 + 240_000 = 840_000; D = 0 (B's receipts, C's employment_cost and pension out)
    assert h.household_size == 2
    assert h.annual_income_fen == 840_000
    assert h.deductions_fen == 0
    # before = after = 840_000 / 24 = 35_000 < S -> DIBAO (B's and C's assets raise no asset warning)
    assert h.per_capita_monthly_income_before_fen == 35_000
    assert h.per_capita_monthly_income_fen == 35_000
    assert h.financial_assets_fen == 500_000
    assert h.classification == "DIBAO"
    got = sorted((f.code, f.severity, f.id_number, f.department) for f in result.flags)
    assert got == [("MEMBER_DECEASED", "HIGH", B, "police"), ("MEMBER_IN_CUSTODY", "MEDIUM", C, "police")]
    assert result.hearing_required is True
    counted = {m.id_number: m.counted_in_household for m in result.members}
    assert counted == {A: True, B: False, C: False, P: True}


@pytest.mark.parametrize(("status", "code"), [("deceased", "MEMBER_DECEASED"), ("in_custody", "MEMBER_IN_CUSTODY")])
def test_member_not_counted_changes_the_per_capita_figure(status: str, code: str) -> None:
    # A declared 1_020_000, B 0. With B counted: 1_020_000 / 24 = 42_500 -> DIBAO.
    # With B out: n = 1, 1_020_000 / 12 = 85_000 = S -> MARGINAL.
    result = Household(
        members=(member(A, 1_020_000), member(B)),
        persons=(person(A), person(B, status=status, status_date="2026-06-30")),
    ).assess()
    h = result.household
    assert (h.household_size, h.per_capita_monthly_income_fen, h.classification) == (1, 85_000, "MARGINAL")
    assert codes(result) == tuple(sorted((code, "INCOME_ABOVE_STANDARD")))


# ---------------------------------------------------------------------------------------------------------------------
# Warnings: one case per code the data supports (GRADUAL_EXIT: see "Rechecks" below)
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    code: str
    severity: str
    members: frozenset[str | None]  # the flag's id_number must be one of these
    department: str
    evidence: str | None = None  # a record id that must appear in the evidence


@dataclass(frozen=True)
class WarningCase:
    household: Household
    expected: tuple[Expected, ...]
    all_codes: tuple[str, ...]  # the whole flag list, sorted codes
    hearing: bool
    filing: bool = False


def one(member_id: str | None) -> frozenset[str | None]:
    return frozenset({member_id})


# Base household for warnings: A declared 720_000 (floor), B spouse. I = 720_000, n = 2, 30_000 < S: no flag.
BASE: Final = (member(A, 720_000), member(B))


def base(*records: DepartmentRecord, **changes: Any) -> Household:
    return replace(Household(members=BASE, records=records), **changes)


WARNING_CASES: Final = [
    pytest.param(
        # I = 2_040_000, n = 2 -> 85_000 ≥ S
        WarningCase(
            Household(members=(member(A, 2_040_000), member(B))),
            (Expected("INCOME_ABOVE_STANDARD", "HIGH", one(None), "computed"),),
            ("INCOME_ABOVE_STANDARD",),
            hearing=True,
        ),
        id="INCOME_ABOVE_STANDARD",
    ),
    pytest.param(
        # limit 24 × 85_000 = 2_040_000 per capita; household 4_080_000. Every financial kind counts:
        # 1_000_000 + 1_000_000 + 1_000_000 + 1_000_000 + 80_001 = 4_080_001 -> 2_040_000.5 per capita > limit
        WarningCase(
            base(
                account(A, 1_000_000, "deposit", rid="BK-A1"),
                account(A, 1_000_000, "wealth"),
                account(B, 1_000_000, "fund"),
                account(B, 1_000_000, "securities"),
                account(B, 80_001, "insurance_cash_value"),
            ),
            (Expected("FINANCIAL_ASSETS_ABOVE_LIMIT", "HIGH", one(None), "banks", "BK-A1"),),
            ("FINANCIAL_ASSETS_ABOVE_LIMIT",),
            hearing=True,
        ),
        id="FINANCIAL_ASSETS_ABOVE_LIMIT",
    ),
    pytest.param(
        # exactly 4_080_000 = 2_040_000 per capita: not above the limit
        WarningCase(base(account(A, 2_040_000), account(B, 2_040_000)), (), (), hearing=False),
        id="FINANCIAL_ASSETS-exactly-at-limit",
    ),
    pytest.param(
        WarningCase(
            base(real_estate(A, rid="RE-A"), real_estate(B, rid="RE-B")),
            (Expected("MULTIPLE_PROPERTIES", "HIGH", one(None), "housing", "RE-B"),),
            ("MULTIPLE_PROPERTIES",),
            hearing=True,
        ),
        id="MULTIPLE_PROPERTIES",
    ),
    pytest.param(
        # one residential kept, one disposed long ago (2020, outside the transfer window): 1 ≤ 1
        WarningCase(base(real_estate(A), real_estate(B, disposed="2020-01-01")), (), (), hearing=False),
        id="MULTIPLE_PROPERTIES-disposed-one-not-counted",
    ),
    *(
        pytest.param(
            WarningCase(
                base(real_estate(A), real_estate(B, usage, rid=f"RE-{usage}")),
                (Expected("NON_RESIDENTIAL_PROPERTY", "HIGH", one(B), "housing", f"RE-{usage}"),),
                ("NON_RESIDENTIAL_PROPERTY",),
                hearing=True,
            ),
            id=f"NON_RESIDENTIAL_PROPERTY-{usage}",
        )
        for usage in ("commercial", "office", "industrial")
    ),
    pytest.param(
        WarningCase(
            base(vehicle(A, "car", "private", 3_000_000, rid="VH-CAR")),
            (Expected("VEHICLE_OWNED", "MEDIUM", one(A), "vehicles", "VH-CAR"),),
            ("VEHICLE_OWNED",),
            hearing=True,
        ),
        id="VEHICLE_OWNED-private-car",
    ),
    pytest.param(
        # operating vehicle valued 5_000_001 > exempt_vehicle_value 5_000_000
        WarningCase(
            base(vehicle(B, "truck", "operating", 5_000_001, rid="VH-TRUCK")),
            (Expected("VEHICLE_OWNED", "MEDIUM", one(B), "vehicles", "VH-TRUCK"),),
            ("VEHICLE_OWNED",),
            hearing=True,
        ),
        id="VEHICLE_OWNED-operating-above-exempt-value",
    ),
    pytest.param(
        # exempt: motorcycle, tricycle, vehicle for the disabled (whatever their value), operating ≤ 5_000_000
        WarningCase(
            base(
                vehicle(A, "motorcycle", "private", 9_000_000),
                vehicle(A, "tricycle", "private", 9_000_000),
                vehicle(B, "disability", "private", 9_000_000),
                vehicle(B, "car", "operating", 5_000_000),
            ),
            (),
            (),
            hearing=False,
        ),
        id="VEHICLE_OWNED-exempt-vehicles",
    ),
    *(
        pytest.param(
            WarningCase(
                base(enterprise(A, role, rid=f"EN-{role}")),
                (Expected("BUSINESS_REGISTERED", "HIGH", one(A), "tax", f"EN-{role}"),),
                ("BUSINESS_REGISTERED",),
                hearing=True,
            ),
            id=f"BUSINESS_REGISTERED-{role}",
        )
        for role in ("legal_representative", "shareholder", "executive")
    ),
    pytest.param(
        # B insured in the public-institution scheme in 2026-03, employer paying:
        # wages 60_000 verified vs declared 0: 60_000 ≤ S, so no DECLARED_INCOME_MISMATCH
        WarningCase(
            base(
                contribution(B, "2026-03", scheme="public_institution", base=60_000, employer_part=10_000, rid="SS-PUB")
            ),
            (
                Expected("PUBLIC_EMPLOYEE", "MEDIUM", one(B), "social_security", "SS-PUB"),
                Expected("EMPLOYER_CONTRIBUTIONS", "LOW", one(B), "social_security", "SS-PUB"),
            ),
            ("EMPLOYER_CONTRIBUTIONS", "PUBLIC_EMPLOYEE"),
            hearing=True,
            filing=True,
        ),
        id="PUBLIC_EMPLOYEE",
    ),
    pytest.param(
        WarningCase(
            base(persons=(person(A), person(B, status="deceased", status_date="2026-05-01", rid="PS-B"))),
            (Expected("MEMBER_DECEASED", "HIGH", one(B), "police", "PS-B"),),
            ("MEMBER_DECEASED",),
            hearing=True,
        ),
        id="MEMBER_DECEASED",
    ),
    pytest.param(
        WarningCase(
            base(persons=(person(A), person(B, status="in_custody", status_date="2025-09-01", rid="PS-B"))),
            (Expected("MEMBER_IN_CUSTODY", "MEDIUM", one(B), "police", "PS-B"),),
            ("MEMBER_IN_CUSTODY",),
            hearing=True,
        ),
        id="MEMBER_IN_CUSTODY",
    ),
    pytest.param(
        WarningCase(
            base(persons=(person(A), person(B, name="李秀兰", rid="PS-B"))),
            (Expected("IDENTITY_MISMATCH", "HIGH", one(B), "police", "PS-B"),),
            ("IDENTITY_MISMATCH",),
            hearing=True,
        ),
        id="IDENTITY_MISMATCH-name",
    ),
    pytest.param(
        WarningCase(
            base(persons=(person(A),)),
            (Expected("IDENTITY_MISMATCH", "HIGH", one(B), "police"),),
            ("IDENTITY_MISMATCH",),
            hearing=True,
        ),
        id="IDENTITY_MISMATCH-unknown-number",
    ),
    pytest.param(
        # only A declared (I = 720_000, n = 1 -> 60_000 < S); the register lists A's spouse B
        WarningCase(
            Household(members=(member(A, 720_000),), persons=(person(A), person(B, rid="PS-B"))),
            (Expected("UNDECLARED_MEMBER", "MEDIUM", frozenset({None, B}), "police", "PS-B"),),
            ("UNDECLARED_MEMBER",),
            hearing=True,
        ),
        id="UNDECLARED_MEMBER-spouse",
    ),
    pytest.param(
        # K is 14 on the application date: a minor child, not declared
        WarningCase(
            base(persons=(person(A), person(B), person(K, rid="PS-K"))),
            (Expected("UNDECLARED_MEMBER", "MEDIUM", frozenset({None, K}), "police", "PS-K"),),
            ("UNDECLARED_MEMBER",),
            hearing=True,
        ),
        id="UNDECLARED_MEMBER-minor-child",
    ),
    pytest.param(
        # C is 18 (adult child) and P a parent: neither is a spouse or a minor child
        WarningCase(base(persons=(person(A), person(B), person(C), person(P))), (), (), hearing=False),
        id="UNDECLARED_MEMBER-adult-child-and-parent-not-flagged",
    ),
    pytest.param(
        # declared 500_000, verified 12 × 50_000 = 600_000: excess 100_000 > 10% (50_000) and > S (85_000)
        WarningCase(
            Household(members=(member(A, 500_000), member(B)), records=monthly_wages(A, 50_000)),
            (Expected("DECLARED_INCOME_MISMATCH", "MEDIUM", one(A), "computed"),),
            ("DECLARED_INCOME_MISMATCH",),
            hearing=True,
        ),
        id="DECLARED_INCOME_MISMATCH",
    ),
    pytest.param(
        # declared 1_000_000, verified 1_100_000: excess 100_000 > S but exactly 10%, not more -> no flag
        # (I = 1_100_000, n = 2 -> 45_833.33 < S: no other flag)
        WarningCase(
            Household(
                members=(member(A, 1_000_000), member(B)),
                records=(*monthly_wages(A, 100_000, WINDOW[:11]), tax(A, WINDOW[11], 0, "other")),
            ),
            (),
            (),
            hearing=False,
        ),
        id="DECLARED_INCOME_MISMATCH-exactly-tolerance",
    ),
    pytest.param(
        # declared 1_000_000, verified 11 × 100_000 + 1 = 1_100_001: excess 100_001 > 100_000 and > 85_000
        WarningCase(
            Household(
                members=(member(A, 1_000_000), member(B)),
                records=(*monthly_wages(A, 100_000, WINDOW[:11]), tax(A, WINDOW[11], 1, "other")),
            ),
            (Expected("DECLARED_INCOME_MISMATCH", "MEDIUM", one(A), "computed"),),
            ("DECLARED_INCOME_MISMATCH",),
            hearing=True,
        ),
        id="DECLARED_INCOME_MISMATCH-one-fen-over-tolerance",
    ),
    pytest.param(
        # declared 0 (B), verified 85_000 = one month's standard: not more than S -> no flag
        WarningCase(base(tax(B, "2026-02", 85_000, "other")), (), (), hearing=False),
        id="DECLARED_INCOME_MISMATCH-exactly-one-month-standard",
    ),
    pytest.param(
        # declared 0 (B), verified 85_001 > S and > 0 × 1.1
        WarningCase(
            base(tax(B, "2026-02", 85_001, "other")),
            (Expected("DECLARED_INCOME_MISMATCH", "MEDIUM", one(B), "computed"),),
            ("DECLARED_INCOME_MISMATCH",),
            hearing=True,
        ),
        id="DECLARED_INCOME_MISMATCH-one-fen-over-standard",
    ),
    pytest.param(
        # only a LOW warning: no hearing needed. Wages 30_000 ≤ A's declared 720_000.
        WarningCase(
            base(contribution(A, "2026-02", base=30_000, employer_part=6_000, personal_part=2_400, rid="SS-EMP")),
            (Expected("EMPLOYER_CONTRIBUTIONS", "LOW", one(A), "social_security", "SS-EMP"),),
            ("EMPLOYER_CONTRIBUTIONS",),
            hearing=False,
        ),
        id="EMPLOYER_CONTRIBUTIONS-social-security",
    ),
    pytest.param(
        WarningCase(
            base(provident_fund(A, "2026-02", employer_part=5_000, personal_part=5_000, rid="PF-EMP")),
            (Expected("EMPLOYER_CONTRIBUTIONS", "LOW", one(A), "housing", "PF-EMP"),),
            ("EMPLOYER_CONTRIBUTIONS",),
            hearing=False,
        ),
        id="EMPLOYER_CONTRIBUTIONS-provident-fund",
    ),
    pytest.param(
        # contributions in 2025-10 and 2026-11: outside the window
        WarningCase(
            base(
                contribution(A, "2025-10", base=30_000, employer_part=6_000),
                provident_fund(A, "2026-11", employer_part=5_000, personal_part=5_000),
            ),
            (),
            (),
            hearing=False,
        ),
        id="EMPLOYER_CONTRIBUTIONS-outside-window",
    ),
    pytest.param(
        # disposed 2026-03-15: within the 12 months before 2026-11-01
        WarningCase(
            base(real_estate(A), real_estate(A, disposed="2026-03-15", rid="RE-SOLD")),
            (Expected("RECENT_PROPERTY_TRANSFER", "HIGH", one(A), "housing", "RE-SOLD"),),
            ("RECENT_PROPERTY_TRANSFER",),
            hearing=True,
        ),
        id="RECENT_PROPERTY_TRANSFER",
    ),
    pytest.param(
        # disposed 2025-06-01: more than 12 months before 2026-11-01
        WarningCase(base(real_estate(A), real_estate(A, disposed="2025-06-01")), (), (), hearing=False),
        id="RECENT_PROPERTY_TRANSFER-too-old",
    ),
    pytest.param(
        # premiums inside the window 600_000 + 420_001 = 1_020_001 > 12 × 85_000 = 1_020_000
        WarningCase(
            base(premium(A, "2026-01", 600_000, rid="IP-1"), premium(A, "2026-06", 420_001, rid="IP-2")),
            (Expected("LARGE_INSURANCE_PREMIUM", "MEDIUM", frozenset({None, A}), "banks", "IP-2"),),
            ("LARGE_INSURANCE_PREMIUM",),
            hearing=True,
        ),
        id="LARGE_INSURANCE_PREMIUM",
    ),
    pytest.param(
        # exactly 1_020_000 inside (not above); 5_000_000 paid in 2025-10 is outside the window
        WarningCase(
            base(premium(A, "2026-01", 600_000), premium(A, "2026-06", 420_000), premium(A, "2025-10", 5_000_000)),
            (),
            (),
            hearing=False,
        ),
        id="LARGE_INSURANCE_PREMIUM-at-limit-and-outside-window",
    ),
    *(
        pytest.param(
            WarningCase(
                base(statuses={department: "unavailable"}),
                (Expected("SOURCE_UNAVAILABLE", "HIGH", one(None), department),),
                ("SOURCE_UNAVAILABLE",),
                hearing=True,
            ),
            id=f"SOURCE_UNAVAILABLE-{department}",
        )
        for department in DEPARTMENTS
    ),
    pytest.param(
        WarningCase(
            base(statuses={"banks": "pending"}),
            (Expected("SOURCE_PENDING", "MEDIUM", one(None), "banks"),),
            ("SOURCE_PENDING",),
            hearing=True,
        ),
        id="SOURCE_PENDING",
    ),
    pytest.param(
        WarningCase(
            Household(members=(member(A, 720_000), member(B, signed=False)), not_queried={"banks": (B,)}),
            (Expected("CONSENT_MISSING", "HIGH", one(B), "consent"),),
            ("CONSENT_MISSING",),
            hearing=True,
        ),
        id="CONSENT_MISSING",
    ),
]


@pytest.mark.parametrize("case", WARNING_CASES)
def test_warning(case: WarningCase) -> None:
    result = case.household.assess()
    assert codes(result) == case.all_codes
    for expected in case.expected:
        found = flags_with(result, expected.code)
        assert len(found) == sum(1 for e in case.expected if e.code == expected.code)
        for f in found:
            assert f.severity == expected.severity == SEVERITY[expected.code]
            assert f.id_number in expected.members
            assert f.department == expected.department
            assert f.message_zh
            assert f.message_en
            if expected.evidence is not None:
                assert expected.evidence in {e.record_id for e in f.evidence}
    assert result.hearing_required is case.hearing
    assert result.filing_for_review_required is case.filing


ASSET_WARNING_RECORDS: Final = [
    pytest.param((account(A, 4_080_001),), id="financial-assets"),
    pytest.param((real_estate(A), real_estate(B)), id="two-residential"),
    pytest.param((real_estate(A, "office"),), id="office"),
    pytest.param((vehicle(A),), id="private-car"),
    pytest.param((enterprise(A, "shareholder"),), id="shareholder"),
]
OTHER_WARNING_RECORDS: Final = [
    pytest.param((premium(A, "2026-01", 2_000_000),), id="insurance-premium"),
    pytest.param((real_estate(A, disposed="2026-03-15"),), id="recent-transfer"),
    pytest.param(
        (contribution(B, "2026-03", scheme="public_institution", base=60_000, employer_part=10_000),),
        id="public-employee",
    ),
]


@pytest.mark.parametrize("records", ASSET_WARNING_RECORDS)
def test_each_asset_warning_alone_means_not_eligible_assets(records: tuple[DepartmentRecord, ...]) -> None:
    # A DIBAO-level household (I = 720_000, n = 2 -> 30_000 < S) with one asset warning
    result = base(*records).assess()
    assert len(codes(result)) == 1
    assert set(codes(result)) <= ASSET_CODES
    assert result.household.classification == "NOT_ELIGIBLE_ASSETS"


@pytest.mark.parametrize("records", OTHER_WARNING_RECORDS)
def test_other_warnings_do_not_change_the_classification(records: tuple[DepartmentRecord, ...]) -> None:
    result = base(*records).assess()
    assert codes(result)
    assert not set(codes(result)) & ASSET_CODES
    assert result.household.classification == "DIBAO"


def test_no_warning_means_no_hearing_and_no_filing() -> None:
    result = base().assess()
    assert result.flags == ()
    assert result.hearing_required is False
    assert result.filing_for_review_required is False


# ---------------------------------------------------------------------------------------------------------------------
# Rechecks (policy.md "Rechecks", warnings.md GRADUAL_EXIT): the change section, gradual exit, the next recheck date
# ---------------------------------------------------------------------------------------------------------------------
#
# The previous report is input, written here by hand as the data the service reads from the stored report.
# Recheck application date 2026-11-01: window 2025-11 .. 2026-10, S = 85_000, 1.5 × S = 127_500.
# GRADUAL_EXIT (hedui's reading, README "Decisions"): previous classification DIBAO or DIBAO_AFTER_DEDUCTIONS;
# now per-capita after deductions ≥ S; household wages rose (Δw > 0); and taking away the part of the income
# increase the wage rise explains, min(Δw, ΔI), the per-capita figure would still be below S.
# End date and next recheck date: the application date plus the policy's months (same day of the month, or the
# month's last day when shorter).

HALF_YEAR: Final = ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10")


def previous_report(
    classification: str,
    *,
    income: int,
    n: int = 2,
    wages: int = 0,
    deductions: int = 0,
    members: Sequence[tuple[str, int]] = ((A, 720_000), (B, 0)),  # (identity number, counted annual income)
    member_wages: Mapping[str, int] | None = None,
    flags: Sequence[tuple[str, str | None, str]] = (),  # (code, member, department)
    financial: int = 0,
    residential: int = 1,
    report_id: str = "prev-report-1",
) -> PreviousReport:
    """The previous report of a recheck, as hand-written data (application 2026-05-01)."""
    per_capita = half_up(max(income - deductions, 0), 12 * n)
    member_wages = member_wages or {}
    return PreviousReport(
        report_id=report_id,
        verification_id="prev-verification-1",
        version=1,
        application_date=dt.date(2026, 5, 1),
        classification=classification,
        household_size=n,
        annual_income_fen=income,
        income_by_category={"wages": wages, "declared_unverified": income - wages},
        deductions_fen=deductions,
        per_capita_monthly_income_fen=per_capita,
        standard_fen=S_URBAN,
        financial_assets_fen=financial,
        residential_properties=residential,
        members=tuple(
            PreviousMember(i, NAMES[i], True, counted, {"wages": member_wages.get(i, 0)}) for i, counted in members
        ),
        flags=tuple(PreviousFlag(code, SEVERITY[code], m, d, "") for code, m, d in flags),
    )


@dataclass(frozen=True)
class RecheckExpected:
    classification: str
    income: int
    after: int  # per-capita monthly income after deductions
    flags: tuple[str, ...]  # sorted codes, exactly
    gradual_exit_until: str | None
    next_recheck_date: str
    wages_before_after: tuple[int, int]


DIBAO_BEFORE: Final = previous_report("DIBAO", income=720_000)  # A declared 720_000, no wages: 30_000 per capita

RECHECK_CASES: Final = [
    pytest.param(
        # The issue's case. A: wages 400_000 × 6 (2026-05..10) = 2_400_000 verified > declared 720_000 -> counted
        # 2_400_000. I = 2_400_000, n = 2, D = 0: after = 2_400_000 / 24 = 100_000 ≥ S -> INCOME_ABOVE_STANDARD;
        # 100_000 < 127_500 -> MARGINAL. Verified 2_400_000 > 720_000 × 1.1 = 792_000 and by 1_680_000 > S ->
        # DECLARED_INCOME_MISMATCH. Δw = 2_400_000 − 0, ΔI = 2_400_000 − 720_000 = 1_680_000, explained
        # min = 1_680_000; without it (2_400_000 − 1_680_000) / 24 = 30_000 < S -> GRADUAL_EXIT, until
        # 2026-11-01 + 6 months = 2027-05-01. A (born 1978-03-12) is 48 and has income -> next recheck + 6 months.
        Household(
            members=(member(A, 720_000), member(B)), records=monthly_wages(A, 400_000, HALF_YEAR), previous=DIBAO_BEFORE
        ),
        RecheckExpected(
            "MARGINAL",
            2_400_000,
            100_000,
            ("DECLARED_INCOME_MISMATCH", "GRADUAL_EXIT", "INCOME_ABOVE_STANDARD"),
            "2027-05-01",
            "2027-05-01",
            (0, 2_400_000),
        ),
        id="gradual-exit-through-wages",
    ),
    pytest.param(
        # Previously DIBAO_AFTER_DEDUCTIONS: wages 200_000 × 12 = 2_400_000, medical 600_000, after 75_000.
        # Now wages 250_000 × 12 = 3_000_000 (declared the same), medical 600_000 again:
        # after = 2_400_000 / 24 = 100_000 ≥ S; before = 3_000_000 / 24 = 125_000; 100_000 < 127_500 -> MARGINAL.
        # Δw = ΔI = 600_000; without: (3_000_000 − 600_000 − 600_000) / 24 = 75_000 < S -> GRADUAL_EXIT.
        Household(
            members=(member(A, 3_000_000), member(B)),
            records=monthly_wages(A, 250_000),
            deductions=(deduction(B, "medical", 600_000),),
            previous=previous_report(
                "DIBAO_AFTER_DEDUCTIONS",
                income=2_400_000,
                wages=2_400_000,
                deductions=600_000,
                members=((A, 2_400_000), (B, 0)),
                member_wages={A: 2_400_000},
            ),
        ),
        RecheckExpected(
            "MARGINAL",
            3_000_000,
            100_000,
            ("GRADUAL_EXIT", "INCOME_ABOVE_STANDARD"),
            "2027-05-01",
            "2027-05-01",
            (2_400_000, 3_000_000),
        ),
        id="gradual-exit-from-dibao-after-deductions",
    ),
    pytest.param(
        # The first case's household, but the previous report was MARGINAL: no household left dibao.
        Household(
            members=(member(A, 720_000), member(B)),
            records=monthly_wages(A, 400_000, HALF_YEAR),
            previous=previous_report("MARGINAL", income=720_000),
        ),
        RecheckExpected(
            "MARGINAL",
            2_400_000,
            100_000,
            ("DECLARED_INCOME_MISMATCH", "INCOME_ABOVE_STANDARD"),
            None,
            "2027-05-01",
            (0, 2_400_000),
        ),
        id="previously-marginal-no-gradual-exit",
    ),
    pytest.param(
        # Income rose through P's pension, not wages: P (born 1950) pension 200_000 × 12 = 2_400_000, declared the
        # same. I = 720_000 (A declared) + 2_400_000 = 3_120_000, n = 2: 130_000 ≥ 127_500 -> NOT_ELIGIBLE_INCOME.
        # Δw = 0 -> no GRADUAL_EXIT. A (48) has income (declared) -> + 6 months.
        Household(
            members=(member(A, 720_000), member(P, 2_400_000)),
            records=tuple(pension(P, p, 200_000) for p in WINDOW),
            previous=previous_report("DIBAO", income=720_000, members=((A, 720_000), (P, 0))),
        ),
        RecheckExpected(
            "NOT_ELIGIBLE_INCOME", 3_120_000, 130_000, ("INCOME_ABOVE_STANDARD",), None, "2027-05-01", (0, 0)
        ),
        id="rise-through-pension-no-gradual-exit",
    ),
    pytest.param(
        # Wages rose but not above S: A wages 80_000 × 12 = 960_000 (declared the same); after = 960_000 / 24
        # = 40_000 < S -> DIBAO, no warning at all.
        Household(members=(member(A, 960_000), member(B)), records=monthly_wages(A, 80_000), previous=DIBAO_BEFORE),
        RecheckExpected("DIBAO", 960_000, 40_000, (), None, "2027-05-01", (0, 960_000)),
        id="wages-rose-still-below-S",
    ),
    pytest.param(
        # Wages and business both rose, business alone lifts the household: A wages 100_000 × 6 = 600_000,
        # business 200_000 × 12 = 2_400_000: verified 3_000_000 > declared 720_000 -> I = 3_000_000,
        # after = 3_000_000 / 24 = 125_000 ≥ S; < 127_500 -> MARGINAL. ΔI = 2_280_000, Δw = 600_000,
        # explained 600_000; without: 2_400_000 / 24 = 100_000 ≥ S -> not through wages: no GRADUAL_EXIT.
        # 3_000_000 > 792_000 and by 2_280_000 > S -> DECLARED_INCOME_MISMATCH.
        Household(
            members=(member(A, 720_000), member(B)),
            records=(
                *monthly_wages(A, 100_000, HALF_YEAR),
                *(tax(A, p, 200_000, "business") for p in WINDOW),
            ),
            previous=DIBAO_BEFORE,
        ),
        RecheckExpected(
            "MARGINAL",
            3_000_000,
            125_000,
            ("DECLARED_INCOME_MISMATCH", "INCOME_ABOVE_STANDARD"),
            None,
            "2027-05-01",
            (0, 600_000),
        ),
        id="rise-mostly-through-business-no-gradual-exit",
    ),
    pytest.param(
        # Wages and business both rose, the wages are what lifts it: wages 300_000 × 6 = 1_800_000, business
        # 30_000 × 12 = 360_000: I = 2_160_000, after = 90_000 ≥ S; MARGINAL. ΔI = 1_440_000, Δw = 1_800_000,
        # explained 1_440_000; without: 720_000 / 24 = 30_000 < S -> GRADUAL_EXIT.
        Household(
            members=(member(A, 720_000), member(B)),
            records=(
                *monthly_wages(A, 300_000, HALF_YEAR),
                *(tax(A, p, 30_000, "business") for p in WINDOW),
            ),
            previous=DIBAO_BEFORE,
        ),
        RecheckExpected(
            "MARGINAL",
            2_160_000,
            90_000,
            ("DECLARED_INCOME_MISMATCH", "GRADUAL_EXIT", "INCOME_ABOVE_STANDARD"),
            "2027-05-01",
            "2027-05-01",
            (0, 1_800_000),
        ),
        id="rise-through-wages-and-business-gradual-exit",
    ),
    pytest.param(
        # A member left: previously A, B, C with A's wages 180_000 × 12 = 2_160_000 -> 2_160_000 / 36 = 60_000,
        # DIBAO. Now C is gone, the same wages (declared the same): 2_160_000 / 24 = 90_000 ≥ S; MARGINAL.
        # Δw = 0: the rise per capita comes from n, not wages -> no GRADUAL_EXIT.
        Household(
            members=(member(A, 2_160_000), member(B)),
            records=monthly_wages(A, 180_000),
            previous=previous_report(
                "DIBAO",
                income=2_160_000,
                n=3,
                wages=2_160_000,
                members=((A, 2_160_000), (B, 0), (C, 0)),
                member_wages={A: 2_160_000},
            ),
        ),
        RecheckExpected(
            "MARGINAL", 2_160_000, 90_000, ("INCOME_ABOVE_STANDARD",), None, "2027-05-01", (2_160_000, 2_160_000)
        ),
        id="member-left-no-gradual-exit",
    ),
    pytest.param(
        # Boundary: wages 170_000 × 12 = 2_040_000 (declared the same) -> after 2_040_000 / 24 = 85_000 = S:
        # no longer below S -> GRADUAL_EXIT (ΔI = 1_320_000, Δw = 2_040_000; without: 720_000 / 24 = 30_000).
        Household(members=(member(A, 2_040_000), member(B)), records=monthly_wages(A, 170_000), previous=DIBAO_BEFORE),
        RecheckExpected(
            "MARGINAL",
            2_040_000,
            85_000,
            ("GRADUAL_EXIT", "INCOME_ABOVE_STANDARD"),
            "2027-05-01",
            "2027-05-01",
            (0, 2_040_000),
        ),
        id="exactly-S-gradual-exit",
    ),
    pytest.param(
        # Just below: wages 169_998 × 12 = 2_039_976 (declared the same) -> 2_039_976 / 24 = 84_999 < S:
        # still DIBAO, no warning, no GRADUAL_EXIT. (169_999 × 12 = 2_039_988 would give 84_999.5, which rounds
        # half up to 85_000 = S.)
        Household(members=(member(A, 2_039_976), member(B)), records=monthly_wages(A, 169_998), previous=DIBAO_BEFORE),
        RecheckExpected("DIBAO", 2_039_976, 84_999, (), None, "2027-05-01", (0, 2_039_976)),
        id="one-fen-below-S-no-gradual-exit",
    ),
    pytest.param(
        # Previously INCONCLUSIVE (say banks had not answered): no dibao to exit from.
        Household(
            members=(member(A, 720_000), member(B)),
            records=monthly_wages(A, 400_000, HALF_YEAR),
            previous=previous_report("INCONCLUSIVE", income=720_000),
        ),
        RecheckExpected(
            "MARGINAL",
            2_400_000,
            100_000,
            ("DECLARED_INCOME_MISMATCH", "INCOME_ABOVE_STANDARD"),
            None,
            "2027-05-01",
            (0, 2_400_000),
        ),
        id="previously-inconclusive-no-gradual-exit",
    ),
    pytest.param(
        # A locality with a 3-month gradual exit and 3-month rechecks of variable households (policy TOML):
        # the first case, until 2026-11-01 + 3 months = 2027-02-01, next recheck the same.
        Household(
            members=(member(A, 720_000), member(B)),
            records=monthly_wages(A, 400_000, HALF_YEAR),
            previous=DIBAO_BEFORE,
            policy=replace(default_policy(), gradual_exit_months=3, recheck_months_variable=3),
        ),
        RecheckExpected(
            "MARGINAL",
            2_400_000,
            100_000,
            ("DECLARED_INCOME_MISMATCH", "GRADUAL_EXIT", "INCOME_ABOVE_STANDARD"),
            "2027-02-01",
            "2027-02-01",
            (0, 2_400_000),
        ),
        id="locality-months",
    ),
]


@pytest.mark.parametrize(("household", "expected"), RECHECK_CASES)
def test_recheck(household: Household, expected: RecheckExpected) -> None:
    result = household.assess()
    h = result.household
    assert result.changes is not None
    got = RecheckExpected(
        classification=h.classification,
        income=h.annual_income_fen,
        after=h.per_capita_monthly_income_fen,
        flags=codes(result),
        gradual_exit_until=result.gradual_exit_until.isoformat() if result.gradual_exit_until else None,
        next_recheck_date=result.next_recheck_date.isoformat() if result.next_recheck_date else "",
        wages_before_after=(
            result.changes.income_by_category_before.get("wages", 0),
            result.changes.income_by_category_after["wages"],
        ),
    )
    assert got == expected
    assert result.changes.classification_after == h.classification
    assert result.changes.classification_before == household.previous.classification  # type: ignore[union-attr]
    gradual = flags_with(result, "GRADUAL_EXIT")
    if expected.gradual_exit_until is None:
        assert gradual == []
    else:
        (f,) = gradual
        assert (f.severity, f.id_number, f.department) == ("LOW", None, "computed")
        assert expected.gradual_exit_until in f.message_zh and expected.gradual_exit_until in f.message_en
        evidence = {(e.record_id, e.field): e.value for e in f.evidence}
        assert evidence[("prev-report-1", "classification")] == household.previous.classification  # type: ignore[union-attr]
        assert evidence[("", "gradual_exit_until")] == expected.gradual_exit_until
        assert evidence[("", "per_capita_monthly_income_fen")] == str(expected.after)
        assert "GRADUAL_EXIT" in result.changes.warnings_appeared
        # LOW: by itself no hearing; here INCOME_ABOVE_STANDARD (HIGH) comes with it anyway
        assert result.hearing_required


def test_recheck_change_section() -> None:
    # Previously: A, B, C declared; A's car (VEHICLE_OWNED), B not covered for banks (CONSENT_MISSING);
    # one residential property, financial assets 500_000; DIBAO, I = 720_000, n = 3.
    # Now: A, B, K (C left, K joined); the car is B's now; banks answered for everyone; B holds 300_000;
    # A still owns the one residential property.
    previous = previous_report(
        "DIBAO",
        income=720_000,
        n=3,
        members=((A, 720_000), (B, 0), (C, 0)),
        flags=(("VEHICLE_OWNED", A, "vehicles"), ("CONSENT_MISSING", B, "consent")),
        financial=500_000,
        residential=1,
    )
    result = Household(
        members=(member(A, 720_000), member(B), member(K)),
        records=(vehicle(B), account(B, 300_000), real_estate(A)),
        previous=previous,
    ).assess()
    c = result.changes
    assert c is not None
    assert (c.previous_report_id, c.previous_verification_id, c.previous_version) == (
        "prev-report-1",
        "prev-verification-1",
        1,
    )
    assert c.previous_application_date == "2026-05-01"
    assert c.members_added == (K,)
    assert c.members_removed == (C,)
    assert [(m.id_number, m.change) for m in c.member_changes] == [
        (A, "stayed"),
        (B, "stayed"),
        (K, "joined"),
        (C, "left"),
    ]
    # n: 3 -> 3 (K in, C out); I = 720_000 both times; after = 720_000 / 36 = 20_000 both times
    assert (c.household_size_before, c.household_size_after) == (3, 3)
    assert (c.annual_income_before_fen, c.annual_income_after_fen) == (720_000, 720_000)
    assert (c.per_capita_monthly_income_before_fen, c.per_capita_monthly_income_after_fen) == (20_000, 20_000)
    assert (c.financial_assets_before_fen, c.financial_assets_after_fen) == (500_000, 300_000)
    assert (c.residential_properties_before, c.residential_properties_after) == (1, 1)
    assert c.income_by_category_before == {"wages": 0, "declared_unverified": 720_000}
    assert c.income_by_category_after["declared_unverified"] == 720_000
    # The car is now B's: A's VEHICLE_OWNED cleared, B's appeared; B's CONSENT_MISSING cleared.
    # The vehicle keeps the household NOT_ELIGIBLE_ASSETS.
    assert c.warnings_appeared == ("VEHICLE_OWNED",)
    assert c.warnings_cleared == ("CONSENT_MISSING", "VEHICLE_OWNED")
    assert sorted((w.change, w.code, w.id_number) for w in c.warning_changes) == [
        ("appeared", "VEHICLE_OWNED", B),
        ("cleared", "CONSENT_MISSING", B),
        ("cleared", "VEHICLE_OWNED", A),
    ]
    assert (c.classification_before, c.classification_after) == ("DIBAO", "NOT_ELIGIBLE_ASSETS")
    assert result.gradual_exit_until is None


def _born(birth: str, sequence: int) -> tuple[dict[str, Any], PersonRecord]:
    """A member aged by birth date (relation child or parent), and the police record registering them."""
    number = make_id(birth, sequence)
    name = f"成员{sequence}"
    relation = "child" if birth >= "2000" else "parent"
    return (
        {
            "id_number": number,
            "name": name,
            "relation": relation,
            "declared_annual_income_fen": 0,
            "employment_category": None,
            "signed": True,
        },
        person(number, name=name, relation_to_head=relation),
    )


@pytest.mark.parametrize(
    ("birth", "variable"),
    [
        # ages on the recheck's application date 2026-11-01
        ("20101101", True),  # 16 today: working age
        ("20101102", False),  # 15 until tomorrow
        ("19671101", True),  # 59 today
        ("19661102", True),  # 59 until tomorrow
        ("19661101", False),  # 60 today
    ],
)
def test_next_recheck_date_working_age_bounds(birth: str, variable: bool) -> None:
    # The applicant A has no income at all (declared 0, no records); the member born on ``birth`` has
    # wages 10_000 × 12. Working age 16–59 with income -> recheck_months_variable (6): 2027-05-01;
    # otherwise recheck_months_stable (12): 2027-11-01.
    other, registered = _born(birth, 71)
    household = Household(
        members=(member(A), other),
        records=monthly_wages(other["id_number"], 10_000),
        persons=(person(A), registered),
        previous=previous_report("DIBAO", income=0, members=((A, 0),), n=1),
    )
    result = household.assess()
    assert result.next_recheck_date == (dt.date(2027, 5, 1) if variable else dt.date(2027, 11, 1))


def test_next_recheck_date_stable_household() -> None:
    # A (48) declared 0 and has no records; P (76) a pension of 60_000 × 12. No working-age member has income
    # -> 12 months: 2027-11-01. Income 720_000 / 24 = 30_000 -> still DIBAO.
    result = Household(
        members=(member(A), member(P, 720_000)),
        records=tuple(pension(P, p, 60_000) for p in WINDOW),
        previous=previous_report("DIBAO", income=720_000, members=((A, 0), (P, 720_000))),
    ).assess()
    assert result.household.classification == "DIBAO"
    assert result.next_recheck_date == dt.date(2027, 11, 1)


def test_next_recheck_date_ignores_members_not_counted() -> None:
    # B (46) has wages 50_000 × 12 but is in custody: not counted, so no working-age member with counted
    # income (A declared 0, no records) -> 12 months.
    result = Household(
        members=(member(A), member(B)),
        records=monthly_wages(B, 50_000),
        persons=(person(A), person(B, status="in_custody", status_date="2026-02-01")),
        previous=previous_report("DIBAO", income=0),
    ).assess()
    assert result.household.household_size == 1
    assert result.next_recheck_date == dt.date(2027, 11, 1)


@pytest.mark.parametrize(
    ("application_date", "stable", "variable"),
    [
        ("2026-08-31", "2027-08-31", "2027-02-28"),  # February has no 31st: its last day
        ("2023-08-31", "2024-08-31", "2024-02-29"),  # leap year
        ("2026-12-15", "2027-12-15", "2027-06-15"),  # across the year end
    ],
)
def test_next_recheck_date_calendar(application_date: str, stable: str, variable: str) -> None:
    previous = previous_report("DIBAO", income=0)
    quiet = Household(members=(member(A), member(B)), application_date=application_date, previous=previous)
    working = replace(quiet, members=(member(A, 120_000), member(B)))  # A (48) declared income
    assert quiet.assess().next_recheck_date == dt.date.fromisoformat(stable)
    assert working.assess().next_recheck_date == dt.date.fromisoformat(variable)


def test_an_assessment_has_no_recheck_sections() -> None:
    result = Household(members=(member(A, 720_000), member(B)), records=monthly_wages(A, 400_000, HALF_YEAR)).assess()
    assert result.changes is None
    assert result.next_recheck_date is None
    assert result.gradual_exit_until is None
    assert "GRADUAL_EXIT" not in codes(result)


def test_recheck_against_a_built_report() -> None:
    # The path the service takes: the first verification's report (built and read back) is the previous one.
    # First (2026-05-01, window 2025-05..2026-04): A's wages from 2026-05 are outside: I = 720_000 (declared),
    # 720_000 / 24 = 30_000 -> DIBAO. Recheck 2026-11-01: the gradual-exit case above.
    records = monthly_wages(A, 400_000, HALF_YEAR)
    first = Household(members=(member(A, 720_000), member(B)), records=records, application_date="2026-05-01")
    first_result = first.assess()
    assert first_result.household.classification == "DIBAO"
    body = build_report(
        report_id="r-first",
        verification_id="v-first",
        version=1,
        generated_at=dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.UTC),
        request=first.request(),
        policy=default_policy(),
        sources=first.sources(),
        result=first_result,
        authorizations=["authorizations/a-1"],
        audit_reference="test",
    )
    previous = previous_from_report(report_plain(body))
    assert (previous.report_id, previous.classification, previous.annual_income_fen) == ("r-first", "DIBAO", 720_000)
    recheck = Household(members=(member(A, 720_000), member(B)), records=records, previous=previous)
    result = recheck.assess()
    assert result.gradual_exit_until == dt.date(2027, 5, 1)
    assert result.changes is not None
    assert result.changes.income_by_category_before["declared_unverified"] == 720_000
    assert result.changes.income_by_category_after["wages"] == 2_400_000
    built_report = build_report(
        report_id="r-recheck",
        verification_id="v-recheck",
        version=1,
        generated_at=dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC),
        request=recheck.request(),
        policy=default_policy(),
        sources=recheck.sources(),
        result=result,
        authorizations=["authorizations/a-2"],
        audit_reference="test",
    )
    built = report_plain(built_report)
    assert built["gradual_exit_until"] == "2027-05-01"
    assert built["next_recheck_date"] == "2027-05-01"
    assert built["previous_report_id"] == "r-first"
    assert built["changes"]["previous_report_id"] == "r-first"
    assert built["changes"]["warnings_appeared"] == [
        "DECLARED_INCOME_MISMATCH",
        "GRADUAL_EXIT",
        "INCOME_ABOVE_STANDARD",
    ]
    assert built["changes"]["classification_after"] == "MARGINAL"


# ---------------------------------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------------------------------------------------

PERIODS: Final = ("2025-09", "2025-10", *WINDOW, "2026-11", "2026-12")
TAX_CATEGORIES: Final = ("wages", "business", "property", "other")
SCHEMES: Final = ("enterprise_employee", "public_institution", "urban_rural_resident")
BENEFIT_KINDS: Final = ("unemployment", "disability_allowance", "award", "medical_aid")
EXCLUDED: Final = frozenset({"disability_allowance", "award"})  # the default policy's list
WHO: Final = (A, B)

money = st.integers(min_value=0, max_value=400_000)
period = st.sampled_from(PERIODS)
who = st.sampled_from(WHO)

# At most one record per (member, period, source): the spec's "the tax wages record", "the wage base".
tax_entries = st.dictionaries(st.tuples(who, period, st.sampled_from(TAX_CATEGORIES)), money, max_size=24)
contribution_entries = st.dictionaries(
    st.tuples(who, period),
    st.tuples(st.sampled_from(SCHEMES), money, st.integers(0, 50_000), st.integers(0, 20_000)),
    max_size=16,
)
rental_entries = st.dictionaries(st.tuples(who, period), money, max_size=8)
pension_entries = st.dictionaries(st.tuples(who, period), money, max_size=8)
benefit_entries = st.dictionaries(st.tuples(who, period, st.sampled_from(BENEFIT_KINDS)), money, max_size=8)


@dataclass(frozen=True)
class Ledger:
    tax: Mapping[tuple[str, str, str], int]
    contributions: Mapping[tuple[str, str], tuple[str, int, int, int]]
    rentals: Mapping[tuple[str, str], int]
    pensions: Mapping[tuple[str, str], int]
    benefits: Mapping[tuple[str, str, str], int]

    def records(self) -> list[DepartmentRecord]:
        out: list[DepartmentRecord] = []
        for i, ((m, p, c), amount) in enumerate(sorted(self.tax.items())):
            out.append(tax(m, p, amount, c, rid=f"TX-{i}"))
        for i, ((m, p), (scheme, base_fen, employer, personal)) in enumerate(sorted(self.contributions.items())):
            out.append(
                contribution(
                    m, p, scheme=scheme, base=base_fen, employer_part=employer, personal_part=personal, rid=f"SS-{i}"
                )
            )
        for i, ((m, p), amount) in enumerate(sorted(self.rentals.items())):
            out.append(rental(m, p, amount, rid=f"RT-{i}"))
        for i, ((m, p), amount) in enumerate(sorted(self.pensions.items())):
            out.append(pension(m, p, amount, rid=f"PN-{i}"))
        for i, ((m, p, k), amount) in enumerate(sorted(self.benefits.items())):
            out.append(benefit(m, p, k, amount, rid=f"BN-{i}"))
        return out

    def expected_income(self) -> dict[str, int]:
        """policy.md's income rules, applied directly to the ledger."""
        totals = dict.fromkeys(("wages", "business", "property", "pensions", "benefits", "other"), 0)
        for m in WHO:
            for p in WINDOW:
                wage_base = 0
                contrib = self.contributions.get((m, p))
                if contrib is not None and contrib[0] in ("enterprise_employee", "public_institution"):
                    wage_base = contrib[1]
                totals["wages"] += max(self.tax.get((m, p, "wages"), 0), wage_base)
                totals["property"] += max(self.tax.get((m, p, "property"), 0), self.rentals.get((m, p), 0))
                totals["business"] += self.tax.get((m, p, "business"), 0)
                totals["other"] += self.tax.get((m, p, "other"), 0)
                totals["pensions"] += self.pensions.get((m, p), 0)
                totals["benefits"] += sum(
                    amount
                    for (bm, bp, kind), amount in self.benefits.items()
                    if (bm, bp) == (m, p) and kind not in EXCLUDED
                )
        return totals


ledgers = st.builds(Ledger, tax_entries, contribution_entries, rental_entries, pension_entries, benefit_entries)
declared_deductions = st.lists(
    st.tuples(who, st.sampled_from(("medical", "rehabilitation", "education", "pension_contribution")), money),
    max_size=5,
)
HYPOTHESIS: Final = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(ledger=ledgers)
def test_property_each_month_counted_once(ledger: Ledger) -> None:
    # Declared 0 for both, so I is exactly what was verified; wages and property take the larger source per
    # month, never both; records outside the window never count.
    h = Household(members=(member(A), member(B)), records=tuple(ledger.records())).assess().household
    expected = ledger.expected_income()
    assert {c: h.income_by_category[c] for c in expected} == expected
    assert h.income_by_category["declared_unverified"] == 0
    assert h.annual_income_fen == sum(expected.values())


larger_smaller = st.tuples(money, money).map(lambda t: (max(t), min(t)))


@HYPOTHESIS
@given(
    months=st.dictionaries(st.tuples(who, st.sampled_from(WINDOW)), larger_smaller, min_size=1, max_size=24),
    larger_in_tax=st.booleans(),
)
def test_property_a_month_reported_by_two_sources_counts_once(
    months: dict[tuple[str, str], tuple[int, int]], larger_in_tax: bool
) -> None:
    # Each (member, month) is reported twice: wages by tax and by a contribution base, property income by tax
    # and by rentals, one source with the larger amount and one with the smaller. Counted: the larger, once.
    records: list[DepartmentRecord] = []
    for i, ((m, p), (larger, smaller)) in enumerate(sorted(months.items())):
        in_tax, elsewhere = (larger, smaller) if larger_in_tax else (smaller, larger)
        records += [
            tax(m, p, in_tax, "wages", rid=f"TW-{i}"),
            contribution(m, p, base=elsewhere, rid=f"SS-{i}"),
            tax(m, p, in_tax, "property", rid=f"TP-{i}"),
            rental(m, p, elsewhere, rid=f"RT-{i}"),
        ]
    h = Household(members=(member(A), member(B)), records=tuple(records)).assess().household
    expected = sum(larger for larger, _ in months.values())
    assert h.income_by_category["wages"] == expected
    assert h.income_by_category["property"] == expected
    assert h.annual_income_fen == 2 * expected


@HYPOTHESIS
@given(
    ledger=ledgers,
    declared_a=money,
    declared_b=money,
    deductions=declared_deductions,
    category=st.sampled_from((None, "fresh_graduate", "released_prisoner", "veteran")),
)
def test_property_income_and_per_capita_never_negative(
    ledger: Ledger,
    declared_a: int,
    declared_b: int,
    deductions: list[tuple[str, str, int]],
    category: str | None,
) -> None:
    household = Household(
        members=(member(A, declared_a, category=category), member(B, declared_b)),
        records=tuple(ledger.records()),
        deductions=tuple(deduction(m, k, a) for m, k, a in deductions),
    )
    result = household.assess()
    h = result.household
    assert h.annual_income_fen >= 0
    assert all(v >= 0 for v in h.income_by_category.values())
    assert h.deductions_fen >= 0
    assert all(line.allowed_fen >= 0 for line in h.deductions)
    assert h.per_capita_monthly_income_before_fen >= 0
    assert h.per_capita_monthly_income_fen >= 0
    assert h.per_capita_monthly_income_fen <= h.per_capita_monthly_income_before_fen
    # declaration is the floor, member by member
    for m in result.members:
        assert m.counted_annual_income_fen >= m.declared_annual_income_fen
    # the per-capita formulas of policy.md, with n = 2
    assert h.household_size == 2
    assert h.per_capita_monthly_income_before_fen == half_up(h.annual_income_fen, 24)
    assert h.per_capita_monthly_income_fen == half_up(max(h.annual_income_fen - h.deductions_fen, 0), 24)
    # I is at least what was verified and at least what was declared
    assert h.annual_income_fen >= sum(ledger.expected_income().values())
    assert h.annual_income_fen >= declared_a + declared_b


def _normalised(result: AssessmentResult) -> tuple[Any, ...]:
    """The result with every collection that has no spec'd order turned into a sorted tuple."""
    members = tuple(
        (
            m.id_number,
            m.status,
            m.counted_in_household,
            m.declared_annual_income_fen,
            m.verified_annual_income_fen,
            m.counted_annual_income_fen,
            tuple(sorted(m.income_by_category.items())),
            tuple(sorted(r.record_id for r in m.records)),
        )
        for m in result.members
    )
    h = result.household
    household = (
        h.classification,
        h.household_size,
        h.annual_income_fen,
        tuple(sorted(h.income_by_category.items())),
        h.deductions_fen,
        tuple(sorted((d.id_number, d.kind, d.declared_fen, d.allowed_fen) for d in h.deductions)),
        h.per_capita_monthly_income_before_fen,
        h.per_capita_monthly_income_fen,
        h.standard_fen,
        h.financial_assets_fen,
    )
    flags = tuple(
        sorted(
            (f.code, f.severity, f.id_number or "", f.department, tuple(sorted(map(repr, f.evidence))))
            for f in result.flags
        )
    )
    return members, household, flags, result.hearing_required, result.filing_for_review_required


asset_records = st.lists(
    st.one_of(
        st.builds(lambda m, b: account(m, b), who, st.integers(0, 3_000_000)),
        st.builds(
            lambda m, u, d: real_estate(m, u, disposed=d),
            who,
            st.sampled_from(("residential", "commercial")),
            st.sampled_from((None, "2026-03-15", "2020-01-01")),
        ),
        st.builds(
            lambda m, t, u, v: vehicle(m, t, u, v),
            who,
            st.sampled_from(("car", "truck", "motorcycle")),
            st.sampled_from(("private", "operating")),
            st.sampled_from((4_000_000, 5_000_000, 6_000_000)),
        ),
        st.builds(lambda m, p, a: premium(m, p, a), who, period, st.integers(0, 800_000)),
        st.builds(lambda m, p, a: provident_fund(m, p, employer_part=a, personal_part=a), who, period, money),
    ),
    max_size=6,
)


@HYPOTHESIS
@given(
    ledger=ledgers,
    assets=asset_records,
    deductions=declared_deductions,
    shuffler=st.randoms(use_true_random=False),
)
def test_property_invariant_to_record_order(
    ledger: Ledger, assets: list[DepartmentRecord], deductions: list[tuple[str, str, int]], shuffler: random.Random
) -> None:
    household = Household(
        members=(member(A, 300_000, category="veteran"), member(B, 100_000)),
        records=(*ledger.records(), *assets),
        deductions=tuple(deduction(m, k, a) for m, k, a in deductions),
    )
    request = household.request()
    policy = default_policy()
    sources = household.sources()
    reordered_records = {
        name: replace(source, records=tuple(shuffler.sample(list(source.records), len(source.records))))
        for name, source in sources.items()
    }
    names = list(reordered_records)
    shuffler.shuffle(names)
    reordered = {name: reordered_records[name] for name in names}
    assert _normalised(assess(request, policy, sources)) == _normalised(assess(request, policy, reordered))


def _recheck_normalised(result: AssessmentResult) -> tuple[Any, ...]:
    c = result.changes
    assert c is not None
    return (
        _normalised(result),
        result.gradual_exit_until,
        result.next_recheck_date,
        tuple(sorted(c.income_by_category_after.items())),
        c.warnings_appeared,
        c.warnings_cleared,
        tuple(sorted((w.change, w.code, w.id_number or "", w.department) for w in c.warning_changes)),
        c.member_changes,
    )


@HYPOTHESIS
@given(
    ledger=ledgers,
    previous_class=st.sampled_from(("DIBAO", "DIBAO_AFTER_DEDUCTIONS", "MARGINAL", "NOT_ELIGIBLE_INCOME")),
    previous_income=st.integers(0, 3_000_000),
    previous_wages=st.integers(0, 3_000_000),
    shuffler=st.randoms(use_true_random=False),
)
def test_property_recheck_invariant_to_record_order_and_gradual_exit_only_through_wages(
    ledger: Ledger, previous_class: str, previous_income: int, previous_wages: int, shuffler: random.Random
) -> None:
    wages_before = min(previous_wages, previous_income)
    household = Household(
        members=(member(A, 300_000), member(B)),
        records=tuple(ledger.records()),
        previous=previous_report(previous_class, income=previous_income, wages=wages_before),
    )
    request, policy, sources = household.request(), default_policy(), household.sources()
    reordered = {
        name: replace(source, records=tuple(shuffler.sample(list(source.records), len(source.records))))
        for name, source in sources.items()
    }
    result = assess(request, policy, sources, household.previous)
    assert _recheck_normalised(result) == _recheck_normalised(assess(request, policy, reordered, household.previous))
    h = result.household
    if result.gradual_exit_until is not None:
        # policy.md: previously on dibao, now not below S, and the increase came from wages
        assert previous_class in ("DIBAO", "DIBAO_AFTER_DEDUCTIONS")
        assert h.per_capita_monthly_income_fen >= S_URBAN
        assert h.income_by_category["wages"] > wages_before
        assert h.annual_income_fen > previous_income
        assert result.gradual_exit_until == dt.date(2027, 5, 1)
        assert "GRADUAL_EXIT" in codes(result)
    else:
        assert "GRADUAL_EXIT" not in codes(result)
    assert result.next_recheck_date in (dt.date(2027, 5, 1), dt.date(2027, 11, 1))
