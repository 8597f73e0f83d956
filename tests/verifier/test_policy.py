"""Locality policies: verifier/policy.py."""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction
from pathlib import Path

import pytest

from verifier.policy import PolicyError, default_policy, load_policy

DEFAULT_TOML = """\
locality = "default"
effective_from = "2026-01-01"

[standard]
urban = 85000
rural = 65000

[assets]
financial_assets_months = 24
max_residential_properties = 1
exempt_vehicle_value = 5000000

[classification]
marginal_multiplier = 1.5

[deductions]
rehabilitation_cap_per_year = 300000
employment_cost_rate = 0.30

[recheck]
gradual_exit_months = 6
recheck_months_stable = 12
recheck_months_variable = 6

[warnings]
declared_income_tolerance = 0.10
insurance_premium_months = 12
recent_transfer_months = 12

[income]
excluded_categories = ["disability_allowance", "award"]

[departments]
required = ["police", "housing", "tax", "vehicles", "banks", "social_security"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def replace_line(key: str, line: str) -> str:
    """The policy.md file with the line setting ``key`` replaced."""
    text, count = re.subn(rf"(?m)^{re.escape(key)} = .*$", line, DEFAULT_TOML)
    assert count == 1
    return text


def policy_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    return str(caught.value)


def test_default_policy_values_are_those_of_policy_md() -> None:
    policy = default_policy()
    assert policy.locality == "default"
    assert policy.effective_from == dt.date(2026, 1, 1)
    assert policy.standard_urban_fen == 85000
    assert policy.standard_rural_fen == 65000
    assert policy.standard_fen("urban") == 85000
    assert policy.standard_fen("rural") == 65000
    assert policy.financial_assets_months == 24
    assert policy.max_residential_properties == 1
    assert policy.exempt_vehicle_value_fen == 5000000
    assert policy.marginal_multiplier == Fraction(3, 2)
    assert policy.rehabilitation_cap_per_year_fen == 300000
    assert policy.employment_cost_rate == Fraction(3, 10)
    assert policy.gradual_exit_months == 6
    assert policy.recheck_months_stable == 12
    assert policy.recheck_months_variable == 6
    assert policy.declared_income_tolerance == Fraction(1, 10)
    assert policy.insurance_premium_months == 12
    assert policy.recent_transfer_months == 12
    assert policy.excluded_income_categories == frozenset({"disability_allowance", "award"})
    assert policy.required_departments == ("police", "housing", "tax", "vehicles", "banks", "social_security")


def test_the_policy_md_file_loads_like_the_default(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, DEFAULT_TOML)) == default_policy()


def test_floats_are_read_exactly(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, DEFAULT_TOML))
    assert policy.employment_cost_rate == Fraction(3, 10)
    assert isinstance(policy.employment_cost_rate, Fraction)
    assert policy.employment_cost_rate != Fraction(0.30)  # not the binary float
    assert policy.declared_income_tolerance == Fraction(1, 10)


def test_a_locality_sets_its_own_numbers(tmp_path: Path) -> None:
    text = replace_line("urban", "urban = 91000").replace("marginal_multiplier = 1.5", "marginal_multiplier = 2")
    text = text.replace('locality = "default"', 'locality = "533401"')
    policy = load_policy(write(tmp_path, text))
    assert policy.locality == "533401"
    assert policy.standard_urban_fen == 91000
    assert policy.marginal_multiplier == 2


def test_native_toml_date(tmp_path: Path) -> None:
    text = replace_line("effective_from", "effective_from = 2026-07-01")
    assert load_policy(write(tmp_path, text)).effective_from == dt.date(2026, 7, 1)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert policy_error(tmp_path, 'currency = "CNY"\n' + DEFAULT_TOML).startswith("currency")


def test_unknown_key_in_a_table(tmp_path: Path) -> None:
    text = DEFAULT_TOML.replace("rural = 65000", "rural = 65000\nsuburban = 70000")
    assert policy_error(tmp_path, text).startswith("standard.suburban")


def test_unknown_table(tmp_path: Path) -> None:
    assert policy_error(tmp_path, DEFAULT_TOML + "\n[vehicles]\nlimit = 1\n").startswith("vehicles")


@pytest.mark.parametrize(
    ("key", "line", "named"),
    [
        ("urban", 'urban = "85000"', "standard.urban"),
        ("urban", "urban = 850.00", "standard.urban"),
        ("urban", "urban = true", "standard.urban"),
        ("financial_assets_months", "financial_assets_months = 24.0", "assets.financial_assets_months"),
        ("employment_cost_rate", 'employment_cost_rate = "0.30"', "deductions.employment_cost_rate"),
        ("marginal_multiplier", "marginal_multiplier = true", "classification.marginal_multiplier"),
        ("excluded_categories", 'excluded_categories = "award"', "income.excluded_categories"),
        ("excluded_categories", "excluded_categories = [1, 2]", "income.excluded_categories"),
        ("required", 'required = "police"', "departments.required"),
        ("effective_from", "effective_from = 20260101", "effective_from"),
        ("effective_from", 'effective_from = "2026-13-01"', "effective_from"),
        ("effective_from", "effective_from = 2026-01-01T00:00:00", "effective_from"),
        ("locality", "locality = 1", "locality"),
        ("locality", 'locality = ""', "locality"),
    ],
)
def test_wrong_type(tmp_path: Path, key: str, line: str, named: str) -> None:
    assert policy_error(tmp_path, replace_line(key, line)).startswith(named)


@pytest.mark.parametrize(
    ("key", "line", "named"),
    [
        ("urban", "urban = -85000", "standard.urban"),
        ("rural", "rural = -1", "standard.rural"),
        ("exempt_vehicle_value", "exempt_vehicle_value = -1", "assets.exempt_vehicle_value"),
        ("max_residential_properties", "max_residential_properties = -1", "assets.max_residential_properties"),
        ("employment_cost_rate", "employment_cost_rate = 1.01", "deductions.employment_cost_rate"),
        ("employment_cost_rate", "employment_cost_rate = -0.1", "deductions.employment_cost_rate"),
        ("declared_income_tolerance", "declared_income_tolerance = 2", "warnings.declared_income_tolerance"),
        ("marginal_multiplier", "marginal_multiplier = 0.9", "classification.marginal_multiplier"),
        ("gradual_exit_months", "gradual_exit_months = 0", "recheck.gradual_exit_months"),
        ("recheck_months_stable", "recheck_months_stable = 121", "recheck.recheck_months_stable"),
        ("required", 'required = ["police", "courts"]', "departments.required"),
    ],
)
def test_impossible_value(tmp_path: Path, key: str, line: str, named: str) -> None:
    assert policy_error(tmp_path, replace_line(key, line)).startswith(named)


@pytest.mark.parametrize(
    ("key", "line", "named"),
    [
        ("employment_cost_rate", "employment_cost_rate = nan", "deductions.employment_cost_rate"),
        ("employment_cost_rate", "employment_cost_rate = inf", "deductions.employment_cost_rate"),
        ("marginal_multiplier", "marginal_multiplier = inf", "classification.marginal_multiplier"),
        ("declared_income_tolerance", "declared_income_tolerance = -inf", "warnings.declared_income_tolerance"),
    ],
)
def test_non_finite_numbers(tmp_path: Path, key: str, line: str, named: str) -> None:
    # TOML has nan and inf floats; they are impossible values like any other.
    assert policy_error(tmp_path, replace_line(key, line)).startswith(named)


@pytest.mark.parametrize("line", ["employment_cost_rate = 0", "employment_cost_rate = 1", "employment_cost_rate = 1.0"])
def test_rate_bounds_are_inclusive(tmp_path: Path, line: str) -> None:
    policy = load_policy(write(tmp_path, replace_line("employment_cost_rate", line)))
    assert policy.employment_cost_rate in (0, 1)


def test_zero_standard_is_refused(tmp_path: Path) -> None:
    assert "standard" in policy_error(tmp_path, replace_line("rural", "rural = 0"))


@pytest.mark.parametrize(("table", "key"), [("standard", "rural"), ("recheck", "gradual_exit_months")])
def test_missing_key(tmp_path: Path, table: str, key: str) -> None:
    text = re.sub(rf"(?m)^{key} = .*\n", "", DEFAULT_TOML)
    assert policy_error(tmp_path, text).startswith(f"{table}.{key}")


def test_missing_table(tmp_path: Path) -> None:
    text = DEFAULT_TOML.replace('[income]\nexcluded_categories = ["disability_allowance", "award"]\n', "")
    assert policy_error(tmp_path, text).startswith("income")


def test_not_toml(tmp_path: Path) -> None:
    message = policy_error(tmp_path, "locality = \n")
    assert "not TOML" in message
    assert "policy.toml" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.toml")
