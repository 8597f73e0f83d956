"""Asset rules: each flag names the department that supplied the record, whichever that is."""

from __future__ import annotations

from assessment_kit import APPLICANT, MARKET_REGULATION, SPOUSE, context, enterprise, member, person, request, sources

from connectors.records import AccountRecord, PropertyRecord, VehicleRecord
from verifier.assessment.engine import measure
from verifier.assessment.flags import Evidence
from verifier.assessment.rules.assets import (
    Businesses,
    FinancialAssets,
    MultipleProperties,
    NonResidentialProperties,
    RecentTransfers,
    Vehicles,
)
from verifier.assessment.rules.base import Rule


def flags_of(rule: Rule, **kw: object) -> list[tuple[str, str | None, str]]:
    ctx = context(**kw)  # type: ignore[arg-type]
    return [(f.code, f.id_number, f.department) for f in rule.flags(ctx, measure(ctx).facts)]


def estate(
    rid: str, usage: str = "residential", acquired: str | None = None, disposed: str | None = None
) -> PropertyRecord:
    return PropertyRecord(rid, APPLICANT, usage, 80.0, 50_000_000, acquired, disposed)


def test_financial_assets_above_months_of_the_standard_per_capita() -> None:
    # limit 24 × 85_000 = 2_040_000 per capita, n = 1
    over = [AccountRecord("BK-1", APPLICANT, "银行", "deposit", 2_040_001, "2026-10-31")]
    at = [AccountRecord("BK-1", APPLICANT, "银行", "deposit", 2_040_000, "2026-10-31")]
    assert flags_of(FinancialAssets(), srcs=sources({"banks": over})) == [
        ("FINANCIAL_ASSETS_ABOVE_LIMIT", None, "banks")
    ]
    assert flags_of(FinancialAssets(), srcs=sources({"banks": at})) == []


def test_properties_held_transferred_and_non_residential() -> None:
    records = [
        estate("P-1"),
        estate("P-2"),
        estate("P-3", "commercial"),
        estate("P-4", disposed="2026-09-01"),  # within 12 months before 2026-11-01, no longer held
        estate("P-5", acquired="2026-12-01"),  # acquired after the application date: not held then
    ]
    srcs = sources({"housing": records})
    assert flags_of(RecentTransfers(), srcs=srcs) == [("RECENT_PROPERTY_TRANSFER", APPLICANT, "housing")]
    assert flags_of(MultipleProperties(), srcs=srcs) == [("MULTIPLE_PROPERTIES", None, "housing")]  # P-1, P-2
    assert flags_of(NonResidentialProperties(), srcs=srcs) == [("NON_RESIDENTIAL_PROPERTY", APPLICANT, "housing")]


def test_exempt_and_non_exempt_vehicles() -> None:
    vehicles = [
        VehicleRecord("V-1", APPLICANT, "云A·1", "tricycle", "private", 900_000, None),  # exempt type
        VehicleRecord("V-2", APPLICANT, "云A·2", "truck", "operating", 100_000, None),  # cheap operating vehicle
        VehicleRecord("V-3", APPLICANT, "云A·3", "car", "private", 100_000, None),
    ]
    assert flags_of(Vehicles(), srcs=sources({"vehicles": vehicles})) == [("VEHICLE_OWNED", APPLICANT, "vehicles")]


def test_a_business_registration_from_market_regulation_names_market_regulation() -> None:
    srcs = sources({"market_regulation": [enterprise(APPLICANT, "shareholder")]})
    ctx = context(srcs=srcs, catalogue=MARKET_REGULATION)
    [flag] = list(Businesses().flags(ctx, measure(ctx).facts))
    assert (flag.code, flag.id_number, flag.department) == ("BUSINESS_REGISTERED", APPLICANT, "market_regulation")
    assert flag.evidence == (Evidence("market_regulation", "EN-1", "role", "shareholder"),)
    assert flag.message_zh == "该成员是企业“某某商贸有限公司”的股东。"


def test_assets_of_members_not_counted_are_ignored() -> None:
    req = request(member(APPLICANT), member(SPOUSE))
    srcs = sources({"tax": [enterprise(SPOUSE)]}, persons=[person(APPLICANT), person(SPOUSE, status="deceased")])
    assert flags_of(Businesses(), req=req, srcs=srcs) == []
