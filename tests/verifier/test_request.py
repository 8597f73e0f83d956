"""The verification request: verifier/request.py."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from harness import example_request

from verifier.request import DeclaredDeduction, Member, RequestError, parse_request

TODAY = dt.date(2026, 11, 1)

ZHANG = "533401197803120118"
LI = "53340119800605022X"
MING = "533401200809110310"


def example() -> dict[str, Any]:
    return example_request()


def violations(raw: object) -> list[tuple[str, str]]:
    with pytest.raises(RequestError) as caught:
        parse_request(raw, today=TODAY)
    return [(v.field, v.description) for v in caught.value.violations]


def only_violation(raw: object) -> tuple[str, str]:
    found = violations(raw)
    assert len(found) == 1, found
    return found[0]


# --- the example ---------------------------------------------------------------------------------


def test_the_spec_example_parses() -> None:
    request = parse_request(example(), today=TODAY)
    assert request.application_date == dt.date(2026, 11, 1)
    assert (request.area, request.purpose, request.commissioned_by) == ("urban", "ASSESSMENT", "533401-civil-affairs")
    assert request.previous_report_id is None
    assert request.members == (
        Member(ZHANG, "张建国", "applicant", 3600000, None, True),
        Member(LI, "李秀英", "spouse", 0, None, True),
        Member(MING, "张小明", "child", 0, None, True),
    )
    assert request.deductions == (
        DeclaredDeduction(LI, "medical", 1200000, "receipt 2026-HX-0042 (hospital settlement, after insurance)"),
        DeclaredDeduction(LI, "rehabilitation", 450000, "receipt 2026-KF-0007"),
    )
    assert request.member(LI).name == "李秀英"


def test_the_example_parses_with_todays_date() -> None:
    assert parse_request(example()).members[0].id_number == ZHANG


def test_to_plain_round_trip() -> None:
    request = parse_request(example(), today=TODAY)
    assert parse_request(request.to_plain(), today=TODAY) == request


def test_lower_case_x_is_normalised() -> None:
    raw = example()
    raw["members"][1]["id_number"] = LI.lower()
    raw["deductions"][0]["id_number"] = LI.lower()
    request = parse_request(raw, today=TODAY)
    assert request.members[1].id_number == LI
    assert request.deductions[0].id_number == LI


def test_defaults() -> None:
    raw = example()
    del raw["deductions"]
    del raw["members"][0]["declared_annual_income_fen"]
    del raw["members"][0]["signed"]
    request = parse_request(raw, today=TODAY)
    assert request.deductions == ()
    assert request.members[0].declared_annual_income_fen == 0
    assert request.members[0].signed is True


def test_unsigned_member_and_employment_category() -> None:
    raw = example()
    raw["members"][2]["signed"] = False
    raw["members"][2]["employment_category"] = "fresh_graduate"
    member = parse_request(raw, today=TODAY).members[2]
    assert member.signed is False
    assert member.employment_category == "fresh_graduate"


# --- every bad input names its field -------------------------------------------------------------


def test_bad_id_number() -> None:
    raw = example()
    raw["members"][1]["id_number"] = "533401198006050221"  # check character should be X
    raw["deductions"] = []
    field, description = only_violation(raw)
    assert field == "members[1].id_number"
    assert "check character" in description


@pytest.mark.parametrize("number", ["53340119800605022", "533401198002300228", 53340119800605022, None])
def test_other_bad_id_numbers(number: object) -> None:
    raw = example()
    raw["members"][1]["id_number"] = number
    raw["deductions"] = []
    assert only_violation(raw)[0] == "members[1].id_number"


def test_unknown_relation() -> None:
    raw = example()
    raw["members"][2]["relation"] = "grandchild"
    assert only_violation(raw)[0] == "members[2].relation"


@pytest.mark.parametrize("area", ["suburban", "Urban", "", None])
def test_unknown_area(area: object) -> None:
    raw = example()
    raw["area"] = area
    assert only_violation(raw)[0] == "area"


@pytest.mark.parametrize("purpose", ["assessment", "SUBSIDY"])
def test_unknown_purpose(purpose: str) -> None:
    raw = example()
    raw["purpose"] = purpose
    assert only_violation(raw)[0] == "purpose"


def test_recheck_needs_the_previous_report() -> None:
    raw = example()
    raw["purpose"] = "RECHECK"
    assert only_violation(raw)[0] == "previous_report_id"
    raw["previous_report_id"] = "reports/r-1"
    assert parse_request(raw, today=TODAY).previous_report_id == "reports/r-1"


def test_negative_declared_income() -> None:
    raw = example()
    raw["members"][0]["declared_annual_income_fen"] = -1
    field, description = only_violation(raw)
    assert field == "members[0].declared_annual_income_fen"
    assert "negative" in description


def test_negative_deduction() -> None:
    raw = example()
    raw["deductions"][1]["amount_fen"] = -450000
    assert only_violation(raw)[0] == "deductions[1].amount_fen"


@pytest.mark.parametrize("amount", [1200000.5, 1200000.0, "1200000", True, None])
def test_non_integer_money(amount: object) -> None:
    raw = example()
    raw["deductions"][0]["amount_fen"] = amount
    assert only_violation(raw)[0] == "deductions[0].amount_fen"


def test_implausibly_large_money() -> None:
    raw = example()
    raw["members"][0]["declared_annual_income_fen"] = 10**14
    assert only_violation(raw)[0] == "members[0].declared_annual_income_fen"


def test_duplicate_member() -> None:
    raw = example()
    raw["members"].append({**raw["members"][1], "relation": "other"})
    field, description = only_violation(raw)
    assert field == "members[3].id_number"
    assert "duplicated" in description


def test_duplicate_member_spelled_differently() -> None:
    raw = example()
    raw["members"].append({**raw["members"][1], "id_number": LI.lower(), "relation": "other"})
    assert only_violation(raw)[0] == "members[3].id_number"


def test_no_applicant() -> None:
    raw = example()
    raw["members"][0]["relation"] = "parent"
    field, description = only_violation(raw)
    assert field == "members"
    assert "applicant" in description


def test_two_applicants() -> None:
    raw = example()
    raw["members"][1]["relation"] = "applicant"
    assert only_violation(raw)[0] == "members"


@pytest.mark.parametrize("members", [[], None, {}, "张建国"])
def test_members_must_be_a_non_empty_list(members: object) -> None:
    raw = example()
    raw["members"] = members
    raw["deductions"] = []
    assert only_violation(raw)[0] == "members"


def test_too_many_members() -> None:
    raw = example()
    raw["members"] = [copy.deepcopy(raw["members"][0]) for _ in range(31)]
    raw["deductions"] = []
    assert [field for field, _ in violations(raw)] == ["members"]


def test_deduction_for_a_non_member() -> None:
    raw = example()
    raw["deductions"][1]["id_number"] = "533401194501010411"
    field, description = only_violation(raw)
    assert field == "deductions[1].id_number"
    assert "not a declared member" in description


def test_deduction_with_a_bad_id_number() -> None:
    raw = example()
    raw["deductions"][0]["id_number"] = "533401194501010412"
    assert only_violation(raw)[0] == "deductions[0].id_number"


def test_declared_employment_cost() -> None:
    raw = example()
    raw["deductions"][1]["kind"] = "employment_cost"
    field, description = only_violation(raw)
    assert field == "deductions[1].kind"
    assert "computed" in description


def test_unknown_deduction_kind() -> None:
    raw = example()
    raw["deductions"][0]["kind"] = "housing"
    assert only_violation(raw)[0] == "deductions[0].kind"


def test_missing_evidence() -> None:
    raw = example()
    raw["deductions"][0]["evidence"] = ""
    assert only_violation(raw)[0] == "deductions[0].evidence"


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ("top", "household_id"),
        ("member", "members[2].household_id"),
        ("deduction", "deductions[0].household_id"),
    ],
)
def test_unknown_field(where: str, path: str) -> None:
    raw = example()
    target = {"top": raw, "member": raw["members"][2], "deduction": raw["deductions"][0]}[where]
    target["household_id"] = "H-1"
    assert only_violation(raw) == (path, "unknown field")


def test_bad_employment_category() -> None:
    raw = example()
    raw["members"][0]["employment_category"] = "student"
    assert only_violation(raw)[0] == "members[0].employment_category"


def test_bad_signed() -> None:
    raw = example()
    raw["members"][0]["signed"] = "yes"
    assert only_violation(raw)[0] == "members[0].signed"


@pytest.mark.parametrize("date", ["2026-11-1", "01/11/2026", "20261101", "2026-02-30", "", None])
def test_bad_application_date(date: object) -> None:
    raw = example()
    raw["application_date"] = date
    assert only_violation(raw)[0] == "application_date"


def test_iso_week_application_date_is_rejected() -> None:
    # "2026-W44-7" is ten characters and Python 3.11's date.fromisoformat reads it as 2026-11-01.
    raw = example()
    raw["application_date"] = "2026-W44-7"
    assert only_violation(raw)[0] == "application_date"


def test_application_date_in_the_future() -> None:
    raw = example()
    raw["application_date"] = "2026-11-03"
    field, description = only_violation(raw)
    assert field == "application_date"
    assert "future" in description
    raw["application_date"] = "2026-11-02"  # one day of clock skew is tolerated
    assert parse_request(raw, today=TODAY).application_date == dt.date(2026, 11, 2)


def test_not_an_object() -> None:
    with pytest.raises(RequestError) as caught:
        parse_request([], today=TODAY)
    assert [v.field for v in caught.value.violations] == ["request"]


def test_every_violation_is_reported_at_once() -> None:
    raw = example()
    raw["area"] = "suburban"
    raw["members"][1]["id_number"] = "533401198006050221"
    raw["deductions"][0]["amount_fen"] = -1
    raw["deductions"][1]["kind"] = "employment_cost"
    found = [field for field, _ in violations(raw)]
    assert {"area", "members[1].id_number", "deductions[0].amount_fen", "deductions[1].kind"} <= set(found)
    with pytest.raises(RequestError, match=r"\(and \d+ more\)"):
        parse_request(raw, today=TODAY)
