"""Source and consent rules: a department that did not answer, a member not queried."""

from __future__ import annotations

from assessment_kit import APPLICANT, MARKET_REGULATION, SPOUSE, context, member, person, request, sources

from verifier.assessment.engine import measure
from verifier.assessment.rules.sources import Sources


def test_unavailable_pending_and_consent_missing_department_by_department() -> None:
    req = request(member(APPLICANT), member(SPOUSE))
    srcs = sources(
        persons=[person(APPLICANT), person(SPOUSE)],
        statuses={"banks": "pending", "market_regulation": "unavailable"},
        not_queried={"tax": (SPOUSE,)},
        departments=("police", "tax", "banks", "market_regulation"),
    )
    ctx = context(req, srcs, catalogue=MARKET_REGULATION)
    flags = list(Sources().flags(ctx, measure(ctx).facts))
    assert [(f.code, f.id_number, f.department) for f in flags] == [
        ("SOURCE_PENDING", None, "banks"),
        ("SOURCE_UNAVAILABLE", None, "market_regulation"),
        ("CONSENT_MISSING", SPOUSE, "consent"),
    ]
    assert flags[1].message_zh == "市场监督管理部门无法查询，报告不完整。"
    assert [(e.department, e.field, e.value) for e in flags[2].evidence] == [
        ("consent", "department_not_queried", "tax")
    ]
    assert flags[2].message_zh == "该成员没有覆盖税务部门的有效授权，未向该部门查询。"
