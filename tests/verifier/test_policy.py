"""Locality policies: verifier/policy.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from fractions import Fraction
from pathlib import Path

import pytest
from harness import example_request, example_sandbox

from connectors import SandboxDataset
from connectors.departments import DepartmentCatalogue
from verifier.cli import _verify, main
from verifier.config import Settings
from verifier.policy import PolicyBook, PolicyError, default_policy, load_policy
from verifier.request import parse_request

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


def test_a_policy_may_require_a_declared_department(tmp_path: Path) -> None:
    text = replace_line("required", 'required = ["police", "market_regulation"]')
    declared = DepartmentCatalogue.declare(
        {
            "market_regulation": {
                "name_zh": "市场监督管理部门",
                "name_en": "Market regulation",
                "record_kinds": ["enterprise"],
            }
        }
    )
    policy = load_policy(write(tmp_path, text), departments=declared)
    assert policy.required_departments == ("police", "market_regulation")
    with pytest.raises(PolicyError, match=r"departments\.required: unknown department 'market_regulation'"):
        load_policy(write(tmp_path, text))  # the six defaults only
    book = PolicyBook.load([write(tmp_path, text)], departments=declared)
    assert book.default.required_departments == ("police", "market_regulation")


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


# --- further checks on load ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (replace_line("urban", "urban = 1000000000001"), "standard.urban"),
        (replace_line("exempt_vehicle_value", "exempt_vehicle_value = 1000000000001"), "assets.exempt_vehicle_value"),
        (replace_line("financial_assets_months", "financial_assets_months = 1001"), "assets.financial_assets_months"),
        (replace_line("marginal_multiplier", "marginal_multiplier = 10.5"), "classification.marginal_multiplier"),
        (replace_line("recheck_months_variable", "recheck_months_variable = 13"), "recheck.recheck_months_variable"),
        (replace_line("required", 'required = ["police", "police"]'), "departments.required"),
        (replace_line("excluded_categories", 'excluded_categories = ["award", "award"]'), "income.excluded_categories"),
        (replace_line("excluded_categories", 'excluded_categories = [""]'), "income.excluded_categories"),
        (replace_line("locality", 'locality = "a b"'), "locality"),
        (replace_line("locality", 'locality = "../etc"'), "locality"),
        ('version = ""\n' + DEFAULT_TOML, "version"),
        ("version = 1.5\n" + DEFAULT_TOML, "version"),
        ('area_codes = "533401"\n' + DEFAULT_TOML.replace('"default"', '"chuxiong"'), "area_codes"),
        ('area_codes = ["5334"]\n' + DEFAULT_TOML.replace('"default"', '"chuxiong"'), "area_codes"),
        ('area_codes = ["533401", "533401"]\n' + DEFAULT_TOML.replace('"default"', '"chuxiong"'), "area_codes"),
        ('area_codes = ["533401"]\n' + DEFAULT_TOML, "area_codes"),  # the default applies everywhere
    ],
)
def test_more_impossible_values(tmp_path: Path, text: str, named: str) -> None:
    assert policy_error(tmp_path, text).startswith(named)


def test_a_table_given_as_a_value_is_named(tmp_path: Path) -> None:
    # a key before the first table header is top-level: ``income = 3`` where the table [income] belongs
    text = "income = 3\n" + DEFAULT_TOML.replace(
        '[income]\nexcluded_categories = ["disability_allowance", "award"]\n', ""
    )
    assert policy_error(tmp_path, text) == "income: must be a table [income]"


def test_version_and_area_codes(tmp_path: Path) -> None:
    text = 'version = "2026-2"\narea_codes = ["532301", "532300"]\n' + DEFAULT_TOML.replace('"default"', '"chuxiong"')
    policy = load_policy(write(tmp_path, text))
    assert policy.version == "2026-2" and policy.version_label == "2026-2"
    assert policy.area_codes == ("532301", "532300")
    # A locality named by its area code applies there without saying so.
    county = load_policy(write(tmp_path, replace_line("locality", 'locality = "533401"')))
    assert county.area_codes == ("533401",)
    assert county.version_label == "2026-01-01"  # no version key: the effective date
    assert default_policy().area_codes == ()


def test_sha256_names_the_numbers() -> None:
    policy = default_policy()
    assert len(policy.sha256()) == 64
    assert policy.sha256() == default_policy().sha256()
    assert dataclasses.replace(policy, standard_urban_fen=85001).sha256() != policy.sha256()
    assert dataclasses.replace(policy, employment_cost_rate=Fraction(31, 100)).sha256() != policy.sha256()


# --- several policies, chosen per verification ---------------------------------------------------------------------


def locality(tmp_path: Path, name: str, *, effective: str = "2026-01-01", urban: int = 85000, extra: str = "") -> Path:
    text = replace_line("locality", f'locality = "{name}"')
    text = text.replace('effective_from = "2026-01-01"', f'effective_from = "{effective}"')
    text = text.replace("urban = 85000", f"urban = {urban}")
    path = tmp_path / f"{name}-{effective}.toml"
    path.write_text(extra + text, encoding="utf-8")
    return path


def choose(book: PolicyBook, commissioned_by: str, day: str = "2026-11-01", explicit: str = "") -> tuple[str, int]:
    policy = book.choose(commissioned_by, dt.date.fromisoformat(day), explicit)
    return policy.locality, policy.standard_urban_fen


def test_policy_is_chosen_by_the_commissioning_organisations_area(tmp_path: Path) -> None:
    book = PolicyBook.load(
        [
            locality(tmp_path, "533401", urban=90000),  # a county
            locality(tmp_path, "yunnan", urban=80000, extra='area_codes = ["530000"]\n'),  # a province
            locality(tmp_path, "dehong", urban=88000, extra='area_codes = ["533100"]\n'),  # a prefecture
        ]
    )
    assert choose(book, "533401-civil-affairs") == ("533401", 90000)
    assert choose(book, "533102-civil-affairs") == ("dehong", 88000)  # county 533102 → prefecture 533100
    assert choose(book, "530102-civil-affairs") == ("yunnan", 80000)  # → province 530000
    assert choose(book, "110101-civil-affairs") == ("default", 85000)  # Beijing: nothing loaded for it
    assert choose(book, "civil-affairs") == ("default", 85000)  # no area code at all
    assert choose(book, "533401-civil-affairs", explicit="yunnan") == ("yunnan", 80000)  # named explicitly
    assert book.knows("dehong") and not book.knows("kunming") and book.knows("")
    with pytest.raises(PolicyError, match="kunming"):
        book.choose("533401-x", dt.date(2026, 11, 1), "kunming")


def test_a_locality_s_versions_are_chosen_by_application_date(tmp_path: Path) -> None:
    book = PolicyBook.load(
        [locality(tmp_path, "533401", urban=90000), locality(tmp_path, "533401", effective="2027-01-01", urban=95000)]
    )
    assert choose(book, "533401-civil-affairs", "2026-12-31") == ("533401", 90000)
    assert choose(book, "533401-civil-affairs", "2027-01-01") == ("533401", 95000)
    assert choose(book, "533401-civil-affairs", "2025-06-01") == ("533401", 90000)  # before any: the earliest
    assert [p.standard_urban_fen for p in book.versions("533401")] == [90000, 95000]


def test_a_default_file_replaces_the_built_in_default(tmp_path: Path) -> None:
    book = PolicyBook.load([locality(tmp_path, "default", urban=99000)])
    assert choose(book, "533401-civil-affairs") == ("default", 99000)
    assert book.default.standard_urban_fen == 99000


def test_conflicting_policies_are_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"^effective_from: locality '533401' has two policies"):
        PolicyBook.load([locality(tmp_path, "533401"), locality(tmp_path / "..", "533401")])
    with pytest.raises(PolicyError, match=r"^area_codes: 533401 is claimed"):
        PolicyBook.load(
            [locality(tmp_path, "533401"), locality(tmp_path, "chuxiong", extra='area_codes = ["533401"]\n')]
        )


def test_a_bad_file_among_several_is_named(tmp_path: Path) -> None:
    bad = locality(tmp_path, "533401")
    bad.write_text(bad.read_text().replace("urban = 85000", "urban = -1"))
    with pytest.raises(PolicyError) as caught:
        PolicyBook.load([bad])
    assert str(caught.value).startswith(f"{bad}: standard.urban")


# --- hedui policy check / list ---------------------------------------------------------------------------------------


def run_cli(*args: str) -> int:
    try:
        return main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def test_cli_policy_check_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, replace_line("locality", 'locality = "533401"'))
    assert run_cli("policy", "check", str(path)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("\n") == 1
    assert out.startswith(f"{path}: valid: locality 533401 version 2026-01-01")
    assert "area codes 533401" in out and "850.00" in out and "sha256 " in out


@pytest.mark.parametrize(
    ("line_key", "line", "named"),
    [
        ("urban", 'urban = "85000"', "standard.urban"),
        ("employment_cost_rate", "employment_cost_rate = 1.5", "deductions.employment_cost_rate"),
        ("gradual_exit_months", "gradual_exit_months = 0", "recheck.gradual_exit_months"),
    ],
)
def test_cli_policy_check_invalid_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line_key: str, line: str, named: str
) -> None:
    path = write(tmp_path, replace_line(line_key, line))
    assert run_cli("policy", "check", str(path)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"hedui: error: {path}: {named}")


@pytest.mark.parametrize("text", ["[standard\n", 'currency = "CNY"\n' + DEFAULT_TOML])
def test_cli_policy_check_not_toml_or_unknown_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    assert run_cli("policy", "check", str(write(tmp_path, text))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("not TOML" in err or "currency: unknown key" in err)


def test_cli_policy_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("policy", "check", str(tmp_path / "absent.toml")) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_policy_list_shows_the_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    county = locality(tmp_path, "533401", urban=90000)
    config = tmp_path / "hedui.toml"
    config.write_text(f'policy_files = ["{county}"]\n', encoding="utf-8")
    code = run_cli(
        "policy", "list", "--config", str(config), "--commissioned-by", "533401-civil-affairs", "--date", "2026-11-01"
    )
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("locality 533401 ") for line in out)
    assert any(line.startswith("locality default ") and line.endswith("(default)") for line in out)
    assert out[-1] == "533401-civil-affairs on 2026-11-01 → locality 533401 version 2026-01-01"


# --- through the service ---------------------------------------------------------------------------------------------


async def test_the_service_applies_the_area_s_policy_and_the_report_names_it(tmp_path: Path) -> None:
    # The example household, commissioned by 533401-civil-affairs, under a county policy with S = 90_000:
    # before = 3_600_000 / 36 = 100_000; after = 2_080_000 / 36 = 57_778 (as with the default policy);
    # 57_778 < 90_000 -> DIBAO_AFTER_DEDUCTIONS, and the report shows S = 90_000 and the county's policy.
    county = locality(tmp_path, "533401", urban=90000, extra='version = "2026-县-1"\n')
    request = parse_request(example_request())
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'hedui.db'}", audit_subject_key=b"k" * 32)
    book = PolicyBook.load([county])
    report = await _verify(request, SandboxDataset.from_json(example_sandbox()), book, settings.database_url, settings)
    assert report["policy"] == {"locality": "533401", "effective_from": "2026-01-01"}
    assert report["policy_version"] == "2026-县-1"
    assert report["policy_sha256"] == book.choose("533401-x", dt.date(2026, 11, 1)).sha256()
    assert report["assessment"]["standard_fen"] == 90000
    assert report["assessment"]["per_capita_monthly_income_fen"] == 57_778
    assert report["assessment"]["classification"] == "DIBAO_AFTER_DEDUCTIONS"
    # Another county's organisation gets the default policy.
    other = parse_request(dict(example_request(), commissioned_by="530102-civil-affairs"))
    report = await _verify(other, SandboxDataset.from_json(example_sandbox()), book, settings.database_url, settings)
    assert report["policy"]["locality"] == "default" and report["assessment"]["standard_fen"] == 85000
    assert report["policy_version"] == "2026-01-01"
