"""The whole assessment with a configured department: market regulation answering with enterprise records."""

from __future__ import annotations

from assessment_kit import APPLICANT, MARKET_REGULATION, enterprise, member, request, sources

from verifier.assessment import SuppliedRecord, assess
from verifier.assessment.context import Context
from verifier.assessment.engine import measure
from verifier.policy import default_policy


def test_an_enterprise_record_from_market_regulation_raises_business_registered_under_its_name() -> None:
    srcs = sources({"market_regulation": [enterprise(APPLICANT)]})
    result = assess(request(member(APPLICANT)), default_policy(), srcs, catalogue=MARKET_REGULATION)
    [flag] = [f for f in result.flags if f.code == "BUSINESS_REGISTERED"]
    assert (flag.department, flag.id_number, flag.severity) == ("market_regulation", APPLICANT, "HIGH")
    assert [e.department for e in flag.evidence] == ["market_regulation"]
    assert result.household.classification == "NOT_ELIGIBLE_ASSETS"
    assert SuppliedRecord("market_regulation", enterprise(APPLICANT)) in result.members[0].supplied


def test_the_six_defaults_attribute_as_warnings_md_says() -> None:
    result = assess(request(member(APPLICANT)), default_policy(), sources({"tax": [enterprise(APPLICANT)]}))
    assert [(f.code, f.department) for f in result.flags] == [("BUSINESS_REGISTERED", "tax")]


def test_measure_gives_the_figures_the_rules_read() -> None:
    ctx = Context.of(request(member(APPLICANT, 1_020_000)), default_policy(), sources(), MARKET_REGULATION)
    measured = measure(ctx)
    assert (measured.facts.counted, measured.before, measured.now.per_capita_fen) == ((APPLICANT,), 85_000, 85_000)
    assert measured.facts.previous is None and measured.facts.gradual_exit is None
