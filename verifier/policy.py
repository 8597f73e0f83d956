"""Locality policies: the numbers of policy.md, loaded from TOML and checked on load.

Rates and multipliers are read as exact decimals (never floats) and kept as
``Fraction`` so money arithmetic stays exact until the one rounding step.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import importlib.resources
import json
import re
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from connectors.departments import DEFAULT_DEPARTMENTS
from verifier.request import VerificationRequest

__all__ = [
    "DEFAULT_LOCALITY",
    "Policy",
    "PolicyBook",
    "PolicyError",
    "area_code_of",
    "default_policy",
    "load_policy",
    "parse_policy",
]

DEFAULT_LOCALITY: Final = "default"
_AREA_CODE: Final = re.compile(r"[0-9]{6}")
_LOCALITY: Final = re.compile(r"[^\s/\\\x00-\x1f\x7f]{1,64}")
_VERSION: Final = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
_CATEGORY: Final = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}")
# Upper bounds that no locality's figure can reach (fen): a monthly standard, a cap or a vehicle value.
MAX_MONEY_FEN: Final = 10**12
# The departments a policy may require unless the service declares more.
DEFAULT_DEPARTMENT_IDS: Final = frozenset(d.id for d in DEFAULT_DEPARTMENTS)
MAX_MULTIPLIER: Final = 10


class PolicyError(ValueError):
    """A policy file that is not valid; the message names the key."""


@dataclass(frozen=True, slots=True)
class Policy:
    """One locality's figures and rules (policy.md), read from its TOML file; every rate an exact fraction."""

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
    # Optional keys: the version the locality gives its file (default: the effective date) and the
    # 6-digit area codes whose organisations it applies to (default: the locality, when it is one).
    version: str = ""
    area_codes: tuple[str, ...] = ()

    def standard_fen(self, area: str) -> int:
        """The monthly dibao standard per person for an urban or rural household, in fen."""
        return self.standard_urban_fen if area == "urban" else self.standard_rural_fen

    @property
    def version_label(self) -> str:
        """The version a report names: the file's own label, else its effective date."""
        return self.version or self.effective_from.isoformat()

    def sha256(self) -> str:
        """SHA-256 of the policy's values as canonical JSON: which numbers a report was computed with (computed
        once per policy: it is frozen, and every report names it)."""
        return _policy_digest(self)


@functools.lru_cache(maxsize=256)
def _policy_digest(policy: Policy) -> str:
    """:meth:`Policy.sha256`, computed."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(policy):
        value = getattr(policy, f.name)
        if isinstance(value, Fraction):
            value = f"{value.numerator}/{value.denominator}"
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        values[f.name] = value
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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


def _whole(key: str, kind: str, value: Any) -> int:
    """An amount in fen, a count or a number of months: a plain integer in its possible range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{key}: must be an integer")
    if value < 0 or (kind == "months" and not 1 <= value <= 120):
        raise PolicyError(f"{key}: {value} is not a possible value")
    if kind == "money" and value > MAX_MONEY_FEN:
        raise PolicyError(f"{key}: {value} fen is not a possible amount")
    if kind == "count" and value > 1000:
        raise PolicyError(f"{key}: {value} is not a possible value")
    return value


def _exact(key: str, kind: str, value: Any) -> Fraction:
    """A rate (0 to 1) or a multiplier (1 to MAX_MULTIPLIER), kept exact as a fraction."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PolicyError(f"{key}: must be a number")
    if isinstance(value, Decimal) and not value.is_finite():
        raise PolicyError(f"{key}: {value} is not a finite number")
    exact = Fraction(value)
    if kind == "rate" and not 0 <= exact <= 1:
        raise PolicyError(f"{key}: {value} is not between 0 and 1")
    if kind == "multiplier" and not 1 <= exact <= MAX_MULTIPLIER:
        raise PolicyError(f"{key}: {value} must be at least 1 and at most {MAX_MULTIPLIER}")
    return exact


def _names(key: str, kind: str, value: Any, departments: Collection[str]) -> list[str]:
    """A list of distinct department ids (declared ones) or income category names."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{key}: must be a list of strings")
    for item in value:
        if value.count(item) > 1:
            raise PolicyError(f"{key}: {item!r} is listed twice")
        if kind == "departments" and item not in departments:
            raise PolicyError(f"{key}: unknown department {item!r}")
        if kind == "strings" and not _CATEGORY.fullmatch(item):
            raise PolicyError(f"{key}: {item!r} is not a category name (1 to 64 characters, no spaces)")
    return value


def _check(key: str, kind: str, value: Any, departments: Collection[str]) -> Any:
    """One policy value of the schema's ``kind``, checked; a :class:`PolicyError` names ``key``."""
    if kind in ("money", "count", "months"):
        return _whole(key, kind, value)
    if kind in ("rate", "multiplier"):
        return _exact(key, kind, value)
    return _names(key, kind, value, departments)


def _area_codes(raw: Mapping[str, Any], locality: str) -> tuple[str, ...]:
    if "area_codes" not in raw:
        return (locality,) if _AREA_CODE.fullmatch(locality) else ()
    value = raw["area_codes"]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError("area_codes: must be a list of strings")
    if locality == DEFAULT_LOCALITY and value:
        raise PolicyError("area_codes: the default policy applies everywhere; it names no area codes")
    for code in value:
        if not _AREA_CODE.fullmatch(code):
            raise PolicyError(f"area_codes: {code!r} is not a 6-digit administrative area code")
        if value.count(code) > 1:
            raise PolicyError(f"area_codes: {code!r} is listed twice")
    return tuple(value)


def _locality(raw: Mapping[str, Any]) -> str:
    """The policy's locality: a short name without spaces or '/', or a 6-digit area code."""
    locality = raw.get("locality")
    if not isinstance(locality, str) or not locality:
        raise PolicyError("locality: must be a non-empty string")
    if not _LOCALITY.fullmatch(locality):
        raise PolicyError(f"locality: {locality!r} must be at most 64 characters without spaces, '/' or controls")
    return locality


def _version(raw: Mapping[str, Any]) -> str:
    """The policy's optional version label (a TOML integer is read as its digits)."""
    version = raw.get("version", "")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str):
        raise PolicyError("version: must be a string")
    if "version" in raw and not _VERSION.fullmatch(version):
        raise PolicyError("version: must be 1 to 64 characters without control characters")
    return version


def _effective_from(raw: Mapping[str, Any]) -> dt.date:
    """The date the policy takes effect: a TOML date or an ISO date string."""
    effective = raw.get("effective_from")
    if isinstance(effective, str):
        try:
            effective = dt.date.fromisoformat(effective)
        except ValueError:
            raise PolicyError("effective_from: must be a date YYYY-MM-DD") from None
    if not isinstance(effective, dt.date) or isinstance(effective, dt.datetime):
        raise PolicyError("effective_from: must be a date YYYY-MM-DD")
    return effective


def _tables(raw: Mapping[str, Any], departments: Collection[str]) -> dict[str, Any]:
    """Every value of the schema's tables, checked, by dotted key; then the rules across values."""
    values: dict[str, Any] = {}
    for table, keys in _SCHEMA.items():
        section = raw.get(table)
        if section is None:
            raise PolicyError(f"{table}: missing table")
        if not isinstance(section, Mapping):
            raise PolicyError(f"{table}: must be a table [{table}]")
        extra = sorted(set(section) - set(keys))
        if extra:
            raise PolicyError(f"{table}.{extra[0]}: unknown key")
        for key, kind in keys.items():
            if key not in section:
                raise PolicyError(f"{table}.{key}: missing")
            values[f"{table}.{key}"] = _check(f"{table}.{key}", kind, section[key], departments)
    for area in ("urban", "rural"):
        if values[f"standard.{area}"] <= 0:
            raise PolicyError(f"standard.{area}: the dibao standard must be positive")
    if values["recheck.recheck_months_variable"] > values["recheck.recheck_months_stable"]:
        raise PolicyError(
            "recheck.recheck_months_variable: households with variable income are rechecked at least as often "
            "as stable ones (must not exceed recheck.recheck_months_stable)"
        )
    return values


def parse_policy(raw: Mapping[str, Any], *, departments: Collection[str] = DEFAULT_DEPARTMENT_IDS) -> Policy:
    """Build a policy from parsed TOML (floats read as ``Decimal``), checking every key.

    ``departments`` are the ids ``departments.required`` may name: the declared departments (a
    :class:`~connectors.departments.DepartmentCatalogue` will do); the six defaults unless given.
    """
    unknown = sorted(set(raw) - {"locality", "effective_from", "version", "area_codes", *_SCHEMA})
    if unknown:
        raise PolicyError(f"{unknown[0]}: unknown key")
    locality = _locality(raw)
    version = _version(raw)
    effective = _effective_from(raw)
    values = _tables(raw, departments)
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
        version=version,
        area_codes=_area_codes(raw, locality),
    )


def _parse_text(text: str, where: str, departments: Collection[str] = DEFAULT_DEPARTMENT_IDS) -> Policy:
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{where}: not TOML: {exc}") from None
    return parse_policy(raw, departments=departments)


def load_policy(path: Path, *, departments: Collection[str] = DEFAULT_DEPARTMENT_IDS) -> Policy:
    """One policy file, checked (:func:`parse_policy`); an error names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None
    return _parse_text(text, str(path), departments)


def default_policy() -> Policy:
    """The policy shipped with the package."""
    text = importlib.resources.files("verifier").joinpath("policies/default.toml").read_text("utf-8")
    return _parse_text(text, "default.toml")


def area_code_of(commissioned_by: str) -> str | None:
    """The commissioning organisation's administrative area code: the first 6 characters, when digits."""
    code = commissioned_by[:6]
    return code if _AREA_CODE.fullmatch(code) else None


def _areas_from_specific(code: str) -> tuple[str, ...]:
    """A county code and the prefecture and province codes above it (GB/T 2260): 533401, 533400, 530000."""
    return tuple(dict.fromkeys((code, code[:4] + "00", code[:2] + "0000")))


class PolicyBook:
    """The locality policies in force, chosen per verification.

    The first policy given is the built-in default; a policy whose locality is the default's
    replaces it. Several files of one locality are its versions: a verification gets the one in
    effect on its application date (the latest ``effective_from`` not after it; the earliest when
    none is yet). Which locality: the one the request names, else the one whose ``area_codes``
    hold the commissioning organisation's area code (county, then its prefecture, then its
    province), else the default.
    """

    def __init__(self, policies: Sequence[Policy]) -> None:
        if not policies:
            raise ValueError("a policy book needs at least the default policy")
        builtin, files = policies[0], list(policies[1:])
        self.default_locality = builtin.locality
        if not any(p.locality == builtin.locality for p in files):
            files.insert(0, builtin)
        self._versions: dict[str, list[Policy]] = {}
        for policy in files:
            versions = self._versions.setdefault(policy.locality, [])
            if any(v.effective_from == policy.effective_from for v in versions):
                raise PolicyError(
                    f"effective_from: locality {policy.locality!r} has two policies effective "
                    f"{policy.effective_from.isoformat()}"
                )
            versions.append(policy)
            versions.sort(key=lambda v: v.effective_from)
        self._by_area: dict[str, str] = {}
        for locality, versions in self._versions.items():
            for code in sorted({c for v in versions for c in v.area_codes}):
                other = self._by_area.setdefault(code, locality)
                if other != locality:
                    raise PolicyError(f"area_codes: {code} is claimed by localities {other!r} and {locality!r}")

    @classmethod
    def load(cls, files: Sequence[Path], *, departments: Collection[str] = DEFAULT_DEPARTMENT_IDS) -> PolicyBook:
        """The built-in default and the policy files (an error names the file and the key).

        ``departments``: the declared department ids a policy may require (:func:`parse_policy`).
        """
        loaded = [default_policy()]
        for path in files:
            try:
                loaded.append(load_policy(path, departments=departments))
            except PolicyError as exc:
                message = str(exc)
                raise PolicyError(message if message.startswith(str(path)) else f"{path}: {message}") from None
        return cls(loaded)

    @property
    def default(self) -> Policy:
        """The default locality's newest policy."""
        return self._versions[self.default_locality][-1]

    def localities(self) -> tuple[str, ...]:
        """Every locality with a policy, sorted."""
        return tuple(sorted(self._versions))

    def versions(self, locality: str) -> tuple[Policy, ...]:
        """A locality's policies, oldest first."""
        return tuple(self._versions.get(locality, ()))

    def knows(self, locality: str) -> bool:
        """Whether a request may name ``locality`` (empty: no locality named)."""
        return not locality or locality in self._versions

    def locality_for(self, commissioned_by: str, explicit: str = "") -> str:
        """The locality whose policy applies: the one named, else by area code (county, prefecture, province)."""
        if explicit:
            if explicit not in self._versions:
                raise PolicyError(f"policy: no policy for locality {explicit!r}")
            return explicit
        code = area_code_of(commissioned_by)
        if code is not None:
            for candidate in _areas_from_specific(code):
                if candidate in self._by_area:
                    return self._by_area[candidate]
        return self.default_locality

    def choose(self, commissioned_by: str, application_date: dt.date, explicit: str = "") -> Policy:
        """The version in effect on the application date (the earliest when none is yet)."""
        versions = self._versions[self.locality_for(commissioned_by, explicit)]
        in_effect = [v for v in versions if v.effective_from <= application_date]
        return in_effect[-1] if in_effect else versions[0]

    def for_request(self, request: VerificationRequest) -> Policy:
        """The policy of a verification request: named, or by its commissioning organisation's area."""
        return self.choose(request.commissioned_by, request.application_date, request.policy)
