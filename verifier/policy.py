"""Locality policies: the numbers of policy.md, loaded from TOML and checked on load.

Rates and multipliers are read as exact decimals (never floats) and kept as
``Fraction`` so money arithmetic stays exact until the one rounding step.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from connectors.records import DEPARTMENTS

__all__ = ["Policy", "PolicyError", "default_policy", "load_policy", "parse_policy"]


class PolicyError(ValueError):
    """A policy file that is not valid; the message names the key."""


@dataclass(frozen=True, slots=True)
class Policy:
    locality: str
    effective_from: dt.date
    standard_urban_fen: int
    standard_rural_fen: int
    financial_assets_months: int
    max_residential_properties: int
    exempt_vehicle_value_fen: int
    marginal_multiplier: Fraction
    rehabilitation_cap_per_year_fen: int
    employment_cost_rate: Fraction
    gradual_exit_months: int
    recheck_months_stable: int
    recheck_months_variable: int
    declared_income_tolerance: Fraction
    insurance_premium_months: int
    recent_transfer_months: int
    excluded_income_categories: frozenset[str]
    required_departments: tuple[str, ...]

    def standard_fen(self, area: str) -> int:
        return self.standard_urban_fen if area == "urban" else self.standard_rural_fen


# key path → (kind, check) where kind is the TOML type expected.
_SCHEMA: Final[dict[str, dict[str, str]]] = {
    "standard": {"urban": "money", "rural": "money"},
    "assets": {
        "financial_assets_months": "count",
        "max_residential_properties": "count",
        "exempt_vehicle_value": "money",
    },
    "classification": {"marginal_multiplier": "multiplier"},
    "deductions": {"rehabilitation_cap_per_year": "money", "employment_cost_rate": "rate"},
    "recheck": {
        "gradual_exit_months": "months",
        "recheck_months_stable": "months",
        "recheck_months_variable": "months",
    },
    "warnings": {
        "declared_income_tolerance": "rate",
        "insurance_premium_months": "months",
        "recent_transfer_months": "months",
    },
    "income": {"excluded_categories": "strings"},
    "departments": {"required": "departments"},
}


def _check(key: str, kind: str, value: Any) -> Any:
    if kind in ("money", "count", "months"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(f"{key}: must be an integer")
        if value < 0 or (kind == "months" and not 1 <= value <= 120):
            raise PolicyError(f"{key}: {value} is not a possible value")
        return value
    if kind in ("rate", "multiplier"):
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise PolicyError(f"{key}: must be a number")
        if isinstance(value, Decimal) and not value.is_finite():
            raise PolicyError(f"{key}: {value} is not a finite number")
        exact = Fraction(value)
        if kind == "rate" and not 0 <= exact <= 1:
            raise PolicyError(f"{key}: {value} is not between 0 and 1")
        if kind == "multiplier" and exact < 1:
            raise PolicyError(f"{key}: {value} must be at least 1")
        return exact
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{key}: must be a list of strings")
    if kind == "departments":
        for item in value:
            if item not in DEPARTMENTS:
                raise PolicyError(f"{key}: unknown department {item!r}")
    return value


def parse_policy(raw: Mapping[str, Any]) -> Policy:
    """Build a policy from parsed TOML (floats read as ``Decimal``), checking every key."""
    unknown = sorted(set(raw) - {"locality", "effective_from", *_SCHEMA})
    if unknown:
        raise PolicyError(f"{unknown[0]}: unknown key")
    locality = raw.get("locality")
    if not isinstance(locality, str) or not locality:
        raise PolicyError("locality: must be a non-empty string")
    effective = raw.get("effective_from")
    if isinstance(effective, str):
        try:
            effective = dt.date.fromisoformat(effective)
        except ValueError:
            raise PolicyError("effective_from: must be a date YYYY-MM-DD") from None
    if not isinstance(effective, dt.date) or isinstance(effective, dt.datetime):
        raise PolicyError("effective_from: must be a date YYYY-MM-DD")
    values: dict[str, Any] = {}
    for table, keys in _SCHEMA.items():
        section = raw.get(table)
        if not isinstance(section, Mapping):
            raise PolicyError(f"{table}: missing table")
        extra = sorted(set(section) - set(keys))
        if extra:
            raise PolicyError(f"{table}.{extra[0]}: unknown key")
        for key, kind in keys.items():
            if key not in section:
                raise PolicyError(f"{table}.{key}: missing")
            values[f"{table}.{key}"] = _check(f"{table}.{key}", kind, section[key])
    for area in ("urban", "rural"):
        if values[f"standard.{area}"] <= 0:
            raise PolicyError(f"standard.{area}: the dibao standard must be positive")
    return Policy(
        locality=locality,
        effective_from=effective,
        standard_urban_fen=values["standard.urban"],
        standard_rural_fen=values["standard.rural"],
        financial_assets_months=values["assets.financial_assets_months"],
        max_residential_properties=values["assets.max_residential_properties"],
        exempt_vehicle_value_fen=values["assets.exempt_vehicle_value"],
        marginal_multiplier=values["classification.marginal_multiplier"],
        rehabilitation_cap_per_year_fen=values["deductions.rehabilitation_cap_per_year"],
        employment_cost_rate=values["deductions.employment_cost_rate"],
        gradual_exit_months=values["recheck.gradual_exit_months"],
        recheck_months_stable=values["recheck.recheck_months_stable"],
        recheck_months_variable=values["recheck.recheck_months_variable"],
        declared_income_tolerance=values["warnings.declared_income_tolerance"],
        insurance_premium_months=values["warnings.insurance_premium_months"],
        recent_transfer_months=values["warnings.recent_transfer_months"],
        excluded_income_categories=frozenset(values["income.excluded_categories"]),
        required_departments=tuple(values["departments.required"]),
    )


def _parse_text(text: str, where: str) -> Policy:
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{where}: not TOML: {exc}") from None
    return parse_policy(raw)


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None
    return _parse_text(text, str(path))


def default_policy() -> Policy:
    """The policy shipped with the package."""
    text = importlib.resources.files("verifier").joinpath("policies/default.toml").read_text("utf-8")
    return _parse_text(text, "default.toml")
