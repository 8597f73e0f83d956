"""Every warning code of warnings.md is raised through the gRPC API.

The codes are read from the spec's table, so a code added to warnings.md fails here until a
household that raises it is added to ``CASES``. Each case is the example household
(interfaces.md's household-zhang with sandbox-small) changed just enough to raise its code, run
end to end: RegisterAuthorization → CreateVerification → WatchVerification → GetReport.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pytest
from harness import SPEC, Harness, example_request, example_sandbox, running_service

from hedui.v1 import verification_pb2
from verifier.assessment.flags import CATALOGUE
from verifier.protojson import message_to_plain

WARNINGS_MD: Final = SPEC / "warnings.md"
APPLICANT: Final = "533401197803120118"
SPOUSE: Final = "53340119800605022X"
CHILD: Final = "533401200809110310"
_ROW: Final = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*(HIGH|MEDIUM|LOW)\s*\|", re.MULTILINE)


def spec_codes() -> dict[str, str]:
    """code → severity, from the table of warnings.md."""
    return dict(_ROW.findall(WARNINGS_MD.read_text(encoding="utf-8")))


Edit = Callable[[dict[str, Any], dict[str, Any]], None]  # (request, sandbox) → changed in place


@dataclass(frozen=True)
class Case:
    edit: Edit
    member: str | None = None  # the id_number the flag must name (None: the household)
    department: str | None = None
    deadline: float = 5.0
    recheck_from: str | None = None  # application date of a first verification the recheck names


def _no_deductions(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    # I = 3_600_000 (applicant's declaration), n = 3 -> 100_000 ≥ S = 85_000
    request["deductions"] = []


def _financial(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    # limit 24 × 85_000 × 3 = 6_120_000; 1_250_000 + 4_870_001 = 6_120_001 > limit
    sandbox["banks"]["accounts"].append(
        {
            "record_id": "BK-0002",
            "id_number": SPOUSE,
            "institution": "某某银行",
            "kind": "wealth",
            "balance_fen": 4_870_001,
            "as_of": "2026-10-31",
        }
    )


def _property(owner: str, usage: str, disposed: str | None = None, record_id: str = "RE-0002") -> Edit:
    def edit(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
        sandbox["housing"]["properties"].append(
            {
                "record_id": record_id,
                "owner_id": owner,
                "usage": usage,
                "area_m2": 80.0,
                "value_fen": 40_000_000,
                "acquired": "2015-06-01",
                "disposed": disposed,
            }
        )

    return edit


def _car(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    sandbox["vehicles"]["vehicles"].append(
        {
            "record_id": "VH-0002",
            "owner_id": APPLICANT,
            "plate": "云R·A1234",
            "type": "car",
            "use": "private",
            "value_fen": 9_000_000,
            "registered": "2023-04-01",
        }
    )


def _enterprise(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    sandbox["tax"]["enterprises"].append(
        {
            "record_id": "EN-0001",
            "id_number": APPLICANT,
            "enterprise": "某某商贸有限公司",
            "role": "shareholder",
            "registered": "2019-04-01",
        }
    )


def _contribution(member: str, scheme: str, record_id: str) -> Edit:
    def edit(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
        sandbox["social_security"]["contributions"].append(
            {
                "record_id": record_id,
                "id_number": member,
                "period": "2026-04",
                "scheme": scheme,
                "employer": "某某单位",
                "base_fen": 150_000,
                "employer_part_fen": 24_000,
                "personal_part_fen": 12_000,
            }
        )

    return edit


def _police_status(member: str, status: str) -> Edit:
    def edit(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
        for person in sandbox["police"]["persons"]:
            if person["id_number"] == member:
                person["status"] = status
                person["status_date"] = "2026-06-30"

    return edit


def _wrong_name(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    request["members"][1]["name"] = "李秀兰"  # registered as 李秀英


def _spouse_not_declared(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    # The register H-533401-0001 lists the applicant's spouse, who is left out of the request.
    request["members"] = [m for m in request["members"] if m["id_number"] != SPOUSE]
    request["deductions"] = []


def _under_declared(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    # verified wages 300_000 > declared 0 × 1.1 and by more than one month's standard (85_000)
    request["members"][0]["declared_annual_income_fen"] = 0


def _transfer(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    # sold 2026-06-01, inside the 12 months before 2026-11-01
    _property(APPLICANT, "residential", disposed="2026-06-01")(request, sandbox)


def _premium(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    # 12 × 85_000 = 1_020_000; premiums 1_020_001 in the window
    sandbox["banks"]["insurance_premiums"].append(
        {
            "record_id": "IP-0001",
            "id_number": APPLICANT,
            "insurer": "某某人寿",
            "period": "2026-05",
            "amount_fen": 1_020_001,
        }
    )


def _vehicles_down(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    sandbox["faults"] = {"vehicles": {"mode": "unavailable"}}


def _bank_in_batches(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    sandbox["banks"]["answer_after_seconds"] = 60


def _spouse_unsigned(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    request["members"][1]["signed"] = False


def _wages_from_may(request: dict[str, Any], sandbox: dict[str, Any]) -> None:
    """Applicant and spouse only, declared 720_000; wages of 400_000 a month from 2026-05.

    First verification (2026-05-01, window 2025-05..2026-04): I = 720_000 (declared), D = 20_000
    (pension personal part 2026-03) -> (720_000 − 20_000) / 24 = 29_167 < S: DIBAO.
    Recheck (2026-11-01, window 2025-11..2026-10): wages 6 × 400_000 = 2_400_000 -> after
    (2_400_000 − 20_000) / 24 = 99_167 ≥ S; without the wage rise (2_400_000 − 1_680_000 explained)
    (720_000 − 20_000) / 24 = 29_167 < S -> GRADUAL_EXIT until 2027-05-01.
    """
    request["members"] = request["members"][:2]
    request["members"][0]["declared_annual_income_fen"] = 720_000
    request["deductions"] = []
    sandbox["tax"]["income"] = [
        {
            "record_id": f"TX-{period}",
            "id_number": APPLICANT,
            "period": period,
            "category": "wages",
            "amount_fen": 400_000,
        }
        for period in ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10")
    ]


CASES: Final[dict[str, Case]] = {
    "INCOME_ABOVE_STANDARD": Case(_no_deductions, None, "computed"),
    "FINANCIAL_ASSETS_ABOVE_LIMIT": Case(_financial, None, "banks"),
    "MULTIPLE_PROPERTIES": Case(_property(SPOUSE, "residential"), None, "housing"),
    "NON_RESIDENTIAL_PROPERTY": Case(_property(APPLICANT, "commercial"), APPLICANT, "housing"),
    "VEHICLE_OWNED": Case(_car, APPLICANT, "vehicles"),
    "BUSINESS_REGISTERED": Case(_enterprise, APPLICANT, "tax"),
    "PUBLIC_EMPLOYEE": Case(_contribution(SPOUSE, "public_institution", "SS-PI-1"), SPOUSE, "social_security"),
    "MEMBER_DECEASED": Case(_police_status(SPOUSE, "deceased"), SPOUSE, "police"),
    "MEMBER_IN_CUSTODY": Case(_police_status(CHILD, "in_custody"), CHILD, "police"),
    "IDENTITY_MISMATCH": Case(_wrong_name, SPOUSE, "police"),
    "UNDECLARED_MEMBER": Case(_spouse_not_declared, None, "police"),
    "DECLARED_INCOME_MISMATCH": Case(_under_declared, APPLICANT, "computed"),
    "EMPLOYER_CONTRIBUTIONS": Case(
        _contribution(APPLICANT, "enterprise_employee", "SS-EE-1"), APPLICANT, "social_security"
    ),
    "RECENT_PROPERTY_TRANSFER": Case(_transfer, APPLICANT, "housing"),
    "LARGE_INSURANCE_PREMIUM": Case(_premium, None, "banks"),
    "SOURCE_UNAVAILABLE": Case(_vehicles_down, None, "vehicles"),
    "SOURCE_PENDING": Case(_bank_in_batches, None, "banks", deadline=2.0),
    "CONSENT_MISSING": Case(_spouse_unsigned, SPOUSE, "consent"),
    "GRADUAL_EXIT": Case(_wages_from_may, None, "computed", recheck_from="2026-05-01"),
}


def _codes_for_parametrize() -> list[Any]:
    if not WARNINGS_MD.exists():
        return [pytest.param("", marks=pytest.mark.skip(reason=f"{WARNINGS_MD} not available"))]
    return sorted(spec_codes())


async def _report(h: Harness, name: str) -> dict[str, Any]:
    message = await h.verifications.GetReport(
        verification_pb2.GetReportRequest(name=f"{name}/reports/latest"), metadata=h.metadata
    )
    return message_to_plain(message)


def test_the_spec_table_is_read() -> None:
    if not WARNINGS_MD.exists():
        pytest.skip(f"{WARNINGS_MD} not available")
    codes = spec_codes()
    assert len(codes) >= 19
    assert {"INCOME_ABOVE_STANDARD", "GRADUAL_EXIT", "CONSENT_MISSING"} <= set(codes)


@pytest.mark.parametrize("code", _codes_for_parametrize())
def test_catalogue_has_the_spec_severity(code: str) -> None:
    assert code in CATALOGUE, f"warnings.md defines {code}; verifier/assessment/flags.py does not"
    assert CATALOGUE[code][0] == spec_codes()[code]


@pytest.mark.integration
@pytest.mark.parametrize("code", _codes_for_parametrize())
async def test_code_is_raised_through_the_grpc_api(db_url: str, code: str) -> None:
    assert code in CASES, f"warnings.md defines {code}: add a household that raises it to CASES"
    case = CASES[code]
    request, sandbox = copy.deepcopy(example_request()), copy.deepcopy(example_sandbox())
    case.edit(request, sandbox)
    async with running_service(db_url, sandbox, deadline=case.deadline) as h:
        if case.recheck_from is not None:
            first = dict(request, application_date=case.recheck_from)
            earlier = await _report(h, (await h.run(first)).name)
            request = dict(request, purpose="RECHECK", previous_report_id=earlier["report_id"])
        report = await _report(h, (await h.run(request)).name)
    found = [f for f in report["flags"] if f["code"] == code]
    assert found, f"{code} not raised; flags: {[f['code'] for f in report['flags']]}"
    for f in found:
        assert f["severity"] == spec_codes()[code]
        assert f["message_zh"] and f["message_en"]
        assert f["evidence"], f"{code} without evidence"
    assert any(f["id_number"] == case.member and f["department"] == case.department for f in found), found
    if code == "GRADUAL_EXIT":
        assert report["gradual_exit_until"] == "2027-05-01"
        assert report["changes"]["classification_before"] == "DIBAO"
        assert "GRADUAL_EXIT" in report["changes"]["warnings_appeared"]


def test_every_case_is_a_spec_code() -> None:
    """No stale cases: a code dropped from the spec (never supposed to happen) shows up here."""
    if not WARNINGS_MD.exists():
        pytest.skip(f"{WARNINGS_MD} not available")
    assert set(CASES) <= set(spec_codes())
