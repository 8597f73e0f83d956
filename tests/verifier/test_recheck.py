"""Rechecks through the gRPC API: the previous report is checked, compared, and rendered."""

from __future__ import annotations

import copy
import datetime as dt
import io
import re
from typing import Any, Final

import grpc
import pytest
from harness import Harness, error_details, example_request, example_sandbox, running_service
from rich.console import Console

from consent import SigningKey
from hedui.v1 import verification_pb2
from verifier.protojson import message_to_plain
from verifier.report.text import print_report
from verifier.request import parse_request

pytestmark = pytest.mark.integration

APPLICANT: Final = "533401197803120118"
SPOUSE: Final = "53340119800605022X"
GRANDFATHER: Final = "533401194501010411"  # on another register in the example sandbox (deceased)
HALF_YEAR: Final = ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10")


def household() -> tuple[dict[str, Any], dict[str, Any]]:
    """The example household without the child, applicant declared 720_000; wages of 400_000 a month from 2026-05."""
    request, sandbox = copy.deepcopy(example_request()), copy.deepcopy(example_sandbox())
    request["members"] = request["members"][:2]
    request["members"][0]["declared_annual_income_fen"] = 720_000
    request["deductions"] = []
    request["application_date"] = "2026-05-01"
    sandbox["tax"]["income"] = [
        {"record_id": f"TX-{p}", "id_number": APPLICANT, "period": p, "category": "wages", "amount_fen": 400_000}
        for p in HALF_YEAR
    ]
    return request, sandbox


def recheck_of(request: dict[str, Any], previous_report_id: str, date: str = "2026-11-01") -> dict[str, Any]:
    return dict(request, purpose="RECHECK", previous_report_id=previous_report_id, application_date=date)


async def report_of(h: Harness, name: str, view: int = verification_pb2.STRUCTURED) -> dict[str, Any]:
    message = await h.verifications.GetReport(
        verification_pb2.GetReportRequest(name=f"{name}/reports/latest", view=view),
        metadata=h.metadata,  # type: ignore[arg-type]
    )
    return message_to_plain(message)


def error_of(caught: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> tuple[grpc.StatusCode, str, list[str]]:
    reason, violations = error_details(caught.value)
    return caught.value.code(), reason, [field for field, _ in violations]


async def test_recheck_with_gradual_exit_end_to_end(db_url: str) -> None:
    request, sandbox = household()
    async with running_service(db_url, sandbox) as h:
        first = await report_of(h, (await h.run(request)).name)
        v = await h.run(recheck_of(request, first["report_id"]))
        report = await report_of(h, v.name)
        html = (await report_of(h, v.name, verification_pb2.HTML))["html"]
    # First (2026-05-01, window 2025-05..2026-04): the wages from 2026-05 are outside; I = 720_000 declared;
    # D = pension personal part 20_000 (2026-03); after = 700_000 / 24 = 29_166.67 -> 29_167 < S -> DIBAO.
    # The child (born 2008-09-11, 17) is on the register and undeclared -> UNDECLARED_MEMBER.
    # The deposit is dated 2026-10-31, after the application date: financial assets 0.
    a = first["assessment"]
    assert (a["classification"], a["per_capita_monthly_income_fen"], a["financial_assets_fen"]) == ("DIBAO", 29_167, 0)
    assert [f["code"] for f in first["flags"]] == ["UNDECLARED_MEMBER"]
    assert first["changes"] is None and first["next_recheck_date"] is None and first["gradual_exit_until"] is None
    # Recheck (2026-11-01, window 2025-11..2026-10): wages 6 × 400_000 = 2_400_000 = I; D = 20_000;
    # after = 2_380_000 / 24 = 99_166.67 -> 99_167 ≥ S = 85_000; < 127_500 -> MARGINAL.
    # ΔI = 2_400_000 − 720_000 = 1_680_000, Δw = 2_400_000 -> explained 1_680_000;
    # without: (720_000 − 20_000) / 24 = 29_167 < S -> GRADUAL_EXIT until 2026-11-01 + 6 months = 2027-05-01.
    # The applicant (48) has income -> next recheck in recheck_months_variable = 6 months: 2027-05-01.
    # The child turned 18 on 2026-09-11: UNDECLARED_MEMBER cleared. The deposit 1_250_000 is held now.
    a = report["assessment"]
    assert (a["classification"], a["annual_income_fen"], a["per_capita_monthly_income_fen"]) == (
        "MARGINAL",
        2_400_000,
        99_167,
    )
    assert report["purpose"] == "RECHECK" and report["previous_report_id"] == first["report_id"]
    assert report["gradual_exit_until"] == "2027-05-01"
    assert report["next_recheck_date"] == "2027-05-01"
    assert sorted(f["code"] for f in report["flags"]) == [
        "DECLARED_INCOME_MISMATCH",
        "GRADUAL_EXIT",
        "INCOME_ABOVE_STANDARD",
    ]
    c = report["changes"]
    assert c["previous_report_id"] == first["report_id"]
    assert c["previous_verification_id"] == first["verification_id"]
    assert (c["previous_version"], c["previous_application_date"]) == (1, "2026-05-01")
    assert (c["classification_before"], c["classification_after"]) == ("DIBAO", "MARGINAL")
    assert (c["members_added"], c["members_removed"]) == ([], [])
    assert (c["household_size_before"], c["household_size_after"]) == (2, 2)
    assert c["income_by_category_before"]["wages"] == 0
    assert c["income_by_category_before"]["declared_unverified"] == 720_000
    assert c["income_by_category_after"]["wages"] == 2_400_000
    assert c["income_by_category_after"]["declared_unverified"] == 0
    assert (c["annual_income_before_fen"], c["annual_income_after_fen"]) == (720_000, 2_400_000)
    assert (c["deductions_before_fen"], c["deductions_after_fen"]) == (20_000, 20_000)
    assert (c["per_capita_monthly_income_before_fen"], c["per_capita_monthly_income_after_fen"]) == (29_167, 99_167)
    assert (c["financial_assets_before_fen"], c["financial_assets_after_fen"]) == (0, 1_250_000)
    assert (c["residential_properties_before"], c["residential_properties_after"]) == (1, 1)
    assert c["warnings_appeared"] == ["DECLARED_INCOME_MISMATCH", "GRADUAL_EXIT", "INCOME_ABOVE_STANDARD"]
    assert c["warnings_cleared"] == ["UNDECLARED_MEMBER"]
    applicant = next(m for m in c["member_changes"] if m["id_number"] == APPLICANT)
    assert (applicant["change"], applicant["wages_before_fen"], applicant["wages_after_fen"]) == (
        "stayed",
        0,
        2_400_000,
    )
    # The printed report carries the change section.
    changes = re.search(r'<section id="changes">(.*?)</section>', html, re.S)
    assert changes is not None
    text = changes.group(1)
    assert "八、复核变化" in text and "0.00 → 24,000.00" in text and "291.67 → 991.67" in text
    assert "符合低保收入条件 → <b>低保边缘家庭</b>" in text
    assert "渐退期至 2027-05-01" in text and "下次复核日期：2027-05-01" in text
    assert "GRADUAL_EXIT" in text and "UNDECLARED_MEMBER" in text and "已消除" in text
    assert APPLICANT not in html
    # And the terminal table.
    console = Console(file=io.StringIO(), width=160)
    print_report(report, console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"Changes since report {first['report_id']}" in out
    assert "DIBAO → MARGINAL" in out and "0.00 → 24,000.00" in out and "291.67 → 991.67" in out
    assert "gradual exit 渐退期 until 2027-05-01" in out and "next recheck 下次复核 2027-05-01" in out
    assert "appeared" in out and "cleared" in out and "UNDECLARED_MEMBER" in out
    assert APPLICANT not in out


async def test_recheck_names_a_report_that_exists_of_the_same_household_and_not_later(harness: Harness) -> None:
    request = example_request()
    zhang = await report_of(harness, (await harness.run(request)).name)
    other = {
        **request,
        "members": [
            {
                "id_number": GRANDFATHER,
                "name": "张德福",
                "relation": "applicant",
                "declared_annual_income_fen": 0,
                "signed": True,
            }
        ],
        "deductions": [],
    }
    elsewhere = await report_of(harness, (await harness.run(other)).name)
    asked_before = {d: len(c.asked) for d, c in harness.connectors.items()}
    auth = await harness.register(harness.envelope(parse_request(recheck_of(request, zhang["report_id"]))))

    async def refused(raw: dict[str, Any]) -> tuple[grpc.StatusCode, str, list[str]]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await harness.create(raw, [auth.name])
        return error_of(caught)

    precondition = grpc.StatusCode.FAILED_PRECONDITION
    field = ["request.previous_report_id"]
    assert await refused(recheck_of(request, "0" * 32)) == (precondition, "PREVIOUS_REPORT_NOT_FOUND", field)
    assert await refused(recheck_of(request, elsewhere["report_id"])) == (
        precondition,
        "PREVIOUS_REPORT_MISMATCH",
        field,
    )
    assert await refused(recheck_of(request, zhang["report_id"], date="2026-10-31")) == (
        precondition,
        "PREVIOUS_REPORT_MISMATCH",
        field,
    )
    code, _, fields = await refused(recheck_of(request, "../reports/x"))
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, field)
    code, _, fields = await refused(dict(request, previous_report_id=zhang["report_id"]))  # an ASSESSMENT
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, field)
    assert {d: len(c.asked) for d, c in harness.connectors.items()} == asked_before  # nothing was queried
    # The same household, the same report: accepted (the same day is not later).
    ok = await report_of(harness, (await harness.run(recheck_of(request, zhang["report_id"]))).name)
    assert ok["changes"]["previous_report_id"] == zhang["report_id"]
    assert ok["changes"]["warnings_appeared"] == [] and ok["changes"]["warnings_cleared"] == []
    assert ok["gradual_exit_until"] is None
    # Applicant (48) declared 3_600_000 -> a working-age member with income: 2026-11-01 + 6 months
    assert ok["next_recheck_date"] == "2027-05-01"


async def test_another_organisations_report_cannot_be_named_by_a_recheck(harness: Harness) -> None:
    """Neither the report nor the people who left the household since may be shown to another organisation whose
    own authorization does not cover the previous report's applicant (issue 13: a household that moved, whose
    applicant the new organisation's authorization covers, is tests/verifier/access/test_households_move.py)."""
    request = example_request()
    zhang = await report_of(harness, (await harness.run(request)).name)
    elsewhere = "533402-civil-affairs"
    other_key = SigningKey.generate_ed25519()
    await harness.service.trust_store.add(
        elsewhere, other_key.public_pem(), not_before=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    )
    raw = {**recheck_of(request, zhang["report_id"]), "commissioned_by": elsewhere}
    # The spouse applies with the child (members in common with the report), without the report's applicant.
    raw["members"] = [
        dict(m, relation="applicant") if m["relation"] == "spouse" else m
        for m in request["members"]
        if m["relation"] != "applicant"
    ]
    # Issue 13: the other organisation calls with its own client certificate.
    other_channel = await harness.client_channel("elsewhere-case-system", elsewhere, ["case_system"])
    own_key, harness.key = harness.key, other_key
    own_channel, harness.channel = harness.channel, other_channel
    try:
        auth = await harness.register(harness.envelope(parse_request(raw)))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await harness.create(raw, [auth.name])
    finally:
        harness.key, harness.channel = own_key, own_channel
    assert error_of(caught) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PREVIOUS_REPORT_NOT_FOUND",
        ["request.previous_report_id"],
    )
