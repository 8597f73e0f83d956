"""Every figure of the example household explained: its derivation adds up to it and names the records it used.

The expected figures are worked out by hand from the spec (examples/household-zhang.json with
examples/sandbox-small.json, the default policy; window 2025-11 .. 2026-10, S = 85 000 fen, n = 3):

- wages: the applicant's tax records TX-2026-01 and TX-2026-02, 150 000 each = 300 000 (the resident-scheme
  contribution SS-2026-03 has no wage base); the applicant declared 3 600 000, so 3 300 000 counts as
  declared_unverified; I = 3 600 000.
- D = medical 1 200 000 + rehabilitation min(450 000, cap 300 000) + the applicant's personal pension
  contribution 20 000 (SS-2026-03) = 1 520 000.
- before = 3 600 000 / 12 / 3 = 100 000; after = (3 600 000 − 1 520 000) / 36 = 57 777.8 → 57 778.
- marginal = 1.5 × 85 000 = 127 500; financial assets = BK-0001 1 250 000 (as of 2026-10-31);
  limit = 24 × 85 000 × 3 = 6 120 000; residential properties: RE-0001 = 1.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Final

from assessment_kit import APPLICANT, CHILD, SPOUSE, contribution, example_report, member, person, request, sources, tax

from verifier.assessment import assess
from verifier.assessment.arithmetic import round_half_up
from verifier.policy import default_policy
from verifier.report.build import report_plain

EXPECTED: Final = {
    "household_size": 3,
    "annual_income_fen": 3_600_000,
    "income_by_category.wages": 300_000,
    "income_by_category.business": 0,
    "income_by_category.property": 0,
    "income_by_category.pensions": 0,
    "income_by_category.benefits": 0,
    "income_by_category.other": 0,
    "income_by_category.declared_unverified": 3_300_000,
    "deductions_fen": 1_520_000,
    "per_capita_monthly_income_before_fen": 100_000,
    "per_capita_monthly_income_fen": 57_778,
    "standard_fen": 85_000,
    "marginal_standard_fen": 127_500,
    "financial_assets_fen": 1_250_000,
    "financial_assets_limit_fen": 6_120_000,
    "residential_properties": 1,
}
# The records each figure names (department, record id, as-of date), by hand from the sandbox.
RECORDS: Final = {
    "household_size": {
        ("police", f"H-533401-0001:{n}", "2026-11-01") for n in (APPLICANT, SPOUSE, CHILD)
    },  # no status date: as of the police answer (2026-11-01 09:59 CST)
    "income_by_category.wages": {("tax", "TX-2026-01", "2026-01"), ("tax", "TX-2026-02", "2026-02")},
    "deductions_fen": {("social_security", "SS-2026-03", "2026-03")},
    "financial_assets_fen": {("banks", "BK-0001", "2026-10-31")},
    "residential_properties": {("housing", "RE-0001", "2009-05-01")},
}
RULES: Final = {
    "household_size": "policy.md § Money, dates, windows",
    "annual_income_fen": "policy.md § Income",
    "deductions_fen": "policy.md § Rigid-expenditure deductions",
    "per_capita_monthly_income_fen": "policy.md § Per-capita figures",
    "marginal_standard_fen": "policy.md § Indicative classification",
    "financial_assets_fen": "policy.md § Assets",
}


def _evaluate(d: dict[str, Any]) -> int:
    """The figure recomputed from the derivation alone, as docs/report.md says each operation reads."""
    values = [t["value"] for t in d["terms"]]
    named = {t["name"]: t["value"] for t in d["terms"]}
    if d["operation"] == "SUM":
        return sum(values)
    if d["operation"] == "PER_CAPITA_MONTHLY":
        n = named["n"]
        return round_half_up(Fraction(max(named["I"] - named.get("D", 0), 0), 12 * n)) if n else 0
    if d["operation"] == "PRODUCT":
        exact = Fraction(1)
        for factor in [*values, *(Fraction(p["value"]) for p in d["parameters"])]:
            exact *= factor
        return round_half_up(exact)
    assert d["operation"] == "POLICY_VALUE"
    [parameter] = d["parameters"]
    return int(parameter["value"])


def _derivations() -> dict[str, dict[str, Any]]:
    plain = report_plain(example_report())
    return {d["figure"]: d for d in plain["assessment"]["derivations"]}


def test_each_figure_of_the_example_household_has_a_derivation_that_adds_up_to_it() -> None:
    derivations = _derivations()
    assert list(derivations) == list(EXPECTED)
    assessment = report_plain(example_report())["assessment"]
    for figure, expected in EXPECTED.items():
        d = derivations[figure]
        assert d["value"] == expected, figure
        assert _evaluate(d) == expected, figure
        assert d["arithmetic"].endswith(f"= {expected}"), figure
        assert d["policy_version"] == "2026-01-01"
        if figure.startswith("income_by_category."):
            assert assessment["income_by_category"][figure.split(".", 1)[1]] == expected
        else:
            assert assessment[figure] == expected, figure


def test_the_derivations_name_the_records_used_and_the_rule() -> None:
    derivations = _derivations()
    for figure, records in RECORDS.items():
        named = {
            (r["department"], r["record_id"], r["as_of"]) for t in derivations[figure]["terms"] for r in t["records"]
        }
        assert named == records, figure
    for figure, rule in RULES.items():
        assert derivations[figure]["rule"] == rule
    # Figures built from other figures say which.
    per_capita = derivations["per_capita_monthly_income_fen"]
    assert [(t["name"], t["value"], t["figure"]) for t in per_capita["terms"]] == [
        ("I", 3_600_000, "annual_income_fen"),
        ("D", 1_520_000, "deductions_fen"),
        ("n", 3, "household_size"),
    ]
    assert derivations["marginal_standard_fen"]["parameters"] == [
        {"key": "classification.marginal_multiplier", "value": "1.5"}
    ]
    assert [(t["name"], t["value"]) for t in derivations["deductions_fen"]["terms"]] == [
        ("medical", 1_200_000),
        ("rehabilitation", 300_000),
        ("pension_contribution", 20_000),
    ]


def test_a_month_counts_the_larger_source_and_names_only_its_records() -> None:
    # 2026-03: tax wages 100 000 against a contribution base of 300 000 (the base counts);
    # 2026-04: tax 200 000 alone. Wages = 500 000, from SS-…-2026-03 and the April tax record.

    req = request(member(APPLICANT))
    srcs = sources(
        {
            "tax": [tax(APPLICANT, "2026-03", 100_000), tax(APPLICANT, "2026-04", 200_000)],
            "social_security": [contribution(APPLICANT, "2026-03", base=300_000)],
        },
        persons=[person(APPLICANT)],
    )
    h = assess(req, default_policy(), srcs).household
    wages = next(d for d in h.derivations if d.figure == "income_by_category.wages")
    assert wages.value == 500_000 == h.income_by_category["wages"]
    [term] = wages.terms
    assert [r.record_id for r in term.records] == ["SS-0118-2026-03", "TX-0118-2026-04-wages"]


def test_an_empty_household_derives_zero_per_capita() -> None:
    req = request(member(APPLICANT, 1_000_000))
    h = assess(req, default_policy(), sources(persons=[person(APPLICANT, status="deceased")])).household
    by_figure = {d.figure: d for d in h.derivations}
    assert (by_figure["household_size"].value, by_figure["per_capita_monthly_income_fen"].value) == (0, 0)
    assert by_figure["per_capita_monthly_income_fen"].arithmetic == "n = 0: 0"
