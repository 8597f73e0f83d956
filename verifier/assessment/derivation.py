"""How each figure of the assessment was reached: the records used, the rule, the arithmetic (value types).

A :class:`Derivation` explains one figure of the report's ``assessment`` (``figure`` is its field name;
one income category is ``income_by_category.<category>``): its value, the section of policy.md and the
policy version it was computed under, an :class:`Operation` over its :class:`Term` s and the policy's
:class:`Parameter` s, and the arithmetic in one line. Each term names the records it counted
(:class:`RecordUse`: department, record id, as-of date) or the other figure it is. Anyone holding the
report can recompute every figure from the derivations alone (docs/report.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from connectors.records import DepartmentRecord

__all__ = ["Derivation", "Operation", "Parameter", "PolicySection", "RecordUse", "Term", "as_of"]


class Operation(StrEnum):
    """How a figure is computed from its terms (and parameters)."""

    # The sum of the terms' values.
    SUM = "SUM"
    # round_half_up(max(I − D, 0) / 12 / n) over the terms named I, D (absent: 0) and n; 0 when n = 0.
    PER_CAPITA_MONTHLY = "PER_CAPITA_MONTHLY"
    # round_half_up(the product of the terms' values and the parameters' values).
    PRODUCT = "PRODUCT"
    # The one parameter's value, as the policy sets it.
    POLICY_VALUE = "POLICY_VALUE"


class PolicySection(StrEnum):
    """The section of policy.md whose rule a figure follows (its heading)."""

    MONEY_DATES_WINDOWS = "policy.md § Money, dates, windows"
    INCOME = "policy.md § Income"
    DEDUCTIONS = "policy.md § Rigid-expenditure deductions"
    PER_CAPITA = "policy.md § Per-capita figures"
    ASSETS = "policy.md § Assets"
    CLASSIFICATION = "policy.md § Indicative classification"


@dataclass(frozen=True, slots=True)
class RecordUse:
    """A record a term counted: the department that supplied it, its id, and the date its data is as of."""

    department: str
    record_id: str
    as_of: str


@dataclass(frozen=True, slots=True)
class Term:
    """One operand: its name (``I``, ``D``, ``n``, ``S``, a category or deduction kind, ``member``, ``account``…),
    the member it is about (if any), the figure it is (if another figure), its value and the records it counted."""

    name: str
    value: int
    id_number: str = ""
    figure: str = ""
    records: tuple[RecordUse, ...] = ()


@dataclass(frozen=True, slots=True)
class Parameter:
    """A number of the policy a figure uses: its dotted key in the policy file and its value as written."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Derivation:
    """One figure of the assessment, explained."""

    figure: str
    value: int
    rule: PolicySection
    policy_version: str
    operation: Operation
    terms: tuple[Term, ...]
    arithmetic: str
    parameters: tuple[Parameter, ...] = ()


def as_of(record: DepartmentRecord) -> str:
    """The date a record's data is as of: its period, balance date, status date, acquisition or registration."""
    for name in ("period", "as_of", "status_date", "acquired", "registered"):
        value = getattr(record, name, None)
        if isinstance(value, str) and value:
            return value
    return ""
