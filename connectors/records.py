"""Normalised department records: the typed models every connector returns.

Field names and vocabularies are those of the sandbox format in interfaces.md.
Each record carries the department's own ``record_id`` as evidence. Records are
input from outside: :func:`parse_record` checks every field before a record exists.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from connectors.departments import Department, RecordKind

__all__ = [
    "DATA_CATEGORIES",
    "RECORD_TYPES",
    "SANDBOX_SECTIONS",
    "AccountRecord",
    "BenefitRecord",
    "ContributionRecord",
    "DepartmentRecord",
    "EnterpriseRecord",
    "InsurancePremiumRecord",
    "PensionRecord",
    "PersonRecord",
    "PropertyRecord",
    "ProvidentFundRecord",
    "RecordError",
    "RentalRecord",
    "TaxIncomeRecord",
    "VehicleRecord",
    "adds_register_mates",
    "declared_kinds",
    "is_about",
    "parse_record",
    "record_from_plain",
    "record_to_plain",
    "records_about",
    "registers_of",
]

_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class RecordError(ValueError):
    """A department record that does not match its schema."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class _Record:
    """What every record type has: its kind, its vocabularies and date fields, and its record id."""

    kind: ClassVar[RecordKind]
    vocabularies: ClassVar[Mapping[str, frozenset[str]]] = {}
    date_fields: ClassVar[frozenset[str]] = frozenset()

    record_id: str

    @property
    def subject(self) -> str:
        """Identity number of the person the record is about."""
        value = getattr(self, "id_number", None) or getattr(self, "owner_id", None)
        assert isinstance(value, str)
        return value


@dataclass(frozen=True, slots=True)
class PersonRecord(_Record):
    """A person in a household register (户): who, which register, their relation to its head and status."""

    kind: ClassVar[RecordKind] = RecordKind.PERSON
    vocabularies: ClassVar[Mapping[str, frozenset[str]]] = {
        "relation_to_head": frozenset({"head", "spouse", "child", "parent", "other"}),
        "status": frozenset({"active", "deceased", "in_custody"}),
    }
    date_fields: ClassVar[frozenset[str]] = frozenset({"status_date"})
    id_number: str
    name: str
    hukou_id: str
    relation_to_head: str
    status: str
    status_date: str | None = None


@dataclass(frozen=True, slots=True)
class PropertyRecord(_Record):
    """A property registered to its owner: usage, floor area, value, when acquired and disposed of."""

    kind: ClassVar[RecordKind] = RecordKind.PROPERTY
    vocabularies: ClassVar[Mapping[str, frozenset[str]]] = {
        "usage": frozenset({"residential", "commercial", "office", "industrial"}),
    }
    date_fields: ClassVar[frozenset[str]] = frozenset({"acquired", "disposed"})
    owner_id: str
    usage: str
    area_m2: float
    value_fen: int
    acquired: str | None = None
    disposed: str | None = None


@dataclass(frozen=True, slots=True)
class ProvidentFundRecord(_Record):
    """One month's housing provident fund contributions of a person."""

    kind: ClassVar[RecordKind] = RecordKind.PROVIDENT_FUND
    id_number: str
    period: str
    employer: str | None
    employer_part_fen: int
    personal_part_fen: int


@dataclass(frozen=True, slots=True)
class RentalRecord(_Record):
    """One month's rent a property owner received."""

    kind: ClassVar[RecordKind] = RecordKind.RENTAL
    owner_id: str
    period: str
    rent_fen: int


@dataclass(frozen=True, slots=True)
class TaxIncomeRecord(_Record):
    """One month's income of a person as the tax bureau knows it, by category."""

    kind: ClassVar[RecordKind] = RecordKind.TAX_INCOME
    vocabularies: ClassVar[Mapping[str, frozenset[str]]] = {
        "category": frozenset({"wages", "business", "property", "other"}),
    }
    id_number: str
    period: str
    category: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class EnterpriseRecord(_Record):
    """A person's role in a registered enterprise (legal representative, shareholder, executive)."""

    kind: ClassVar[RecordKind] = RecordKind.ENTERPRISE
    vocabularies: ClassVar[Mapping[str, frozenset[str]]] = {
        "role": frozenset({"legal_representative", "shareholder", "executive"}),
    }
    date_fields: ClassVar[frozenset[str]] = frozenset({"registered"})
    id_number: str
    enterprise: str
    role: str
    registered: str | None = None


@dataclass(frozen=True, slots=True)
class VehicleRecord(_Record):
    """A vehicle registered to its owner: plate, type, use and value."""

    kind: ClassVar[RecordKind] = RecordKind.VEHICLE
    vocabularies: ClassVar[Mapping[str, frozenset[str]]] = {
        "type": frozenset({"car", "truck", "motorcycle", "tricycle", "disability"}),
        "use": frozenset({"private", "operating"}),
    }
    date_fields: ClassVar[frozenset[str]] = frozenset({"registered"})
    owner_id: str
    plate: str
    type: str
    use: str
    value_fen: int
    registered: str | None = None


@dataclass(frozen=True, slots=True)
class AccountRecord(_Record):
    """A financial account's balance on a date: deposits, funds, wealth products, securities."""

    kind: ClassVar[RecordKind] = RecordKind.ACCOUNT
    vocabularies: ClassVar[Mapping[str, frozenset[str]]] = {
        "account_kind": frozenset({"deposit", "fund", "wealth", "securities", "insurance_cash_value"}),
    }
    date_fields: ClassVar[frozenset[str]] = frozenset({"as_of"})
    id_number: str
    institution: str
    # ``kind`` is a record field here; the record type's kind is "account".
    account_kind: str
    balance_fen: int
    as_of: str


@dataclass(frozen=True, slots=True)
class InsurancePremiumRecord(_Record):
    """One month's commercial insurance premium a person paid."""

    kind: ClassVar[RecordKind] = RecordKind.INSURANCE_PREMIUM
    id_number: str
    insurer: str
    period: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class ContributionRecord(_Record):
    """One month's social insurance contribution of a person, with its base and the two parts."""

    kind: ClassVar[RecordKind] = RecordKind.CONTRIBUTION
    vocabularies: ClassVar[Mapping[str, frozenset[str]]] = {
        "scheme": frozenset({"enterprise_employee", "public_institution", "urban_rural_resident"}),
    }
    id_number: str
    period: str
    scheme: str
    employer: str | None
    base_fen: int
    employer_part_fen: int
    personal_part_fen: int


@dataclass(frozen=True, slots=True)
class PensionRecord(_Record):
    """One month's pension paid to a person."""

    kind: ClassVar[RecordKind] = RecordKind.PENSION
    id_number: str
    period: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class BenefitRecord(_Record):
    """One month's benefit paid to a person (unemployment, injury …)."""

    kind: ClassVar[RecordKind] = RecordKind.BENEFIT
    id_number: str
    period: str
    kind_of_benefit: str
    amount_fen: int


DepartmentRecord = (
    PersonRecord
    | PropertyRecord
    | ProvidentFundRecord
    | RentalRecord
    | TaxIncomeRecord
    | EnterpriseRecord
    | VehicleRecord
    | AccountRecord
    | InsurancePremiumRecord
    | ContributionRecord
    | PensionRecord
    | BenefitRecord
)

RECORD_TYPES: Final[dict[str, type[DepartmentRecord]]] = {
    cls.kind: cls
    for cls in (
        PersonRecord,
        PropertyRecord,
        ProvidentFundRecord,
        RentalRecord,
        TaxIncomeRecord,
        EnterpriseRecord,
        VehicleRecord,
        AccountRecord,
        InsurancePremiumRecord,
        ContributionRecord,
        PensionRecord,
        BenefitRecord,
    )
}

SANDBOX_SECTIONS: Final[dict[str, RecordKind]] = {
    "persons": RecordKind.PERSON,
    "properties": RecordKind.PROPERTY,
    "provident_fund": RecordKind.PROVIDENT_FUND,
    "rentals": RecordKind.RENTAL,
    "income": RecordKind.TAX_INCOME,
    "enterprises": RecordKind.ENTERPRISE,
    "vehicles": RecordKind.VEHICLE,
    "accounts": RecordKind.ACCOUNT,
    "insurance_premiums": RecordKind.INSURANCE_PREMIUM,
    "contributions": RecordKind.CONTRIBUTION,
    "pensions": RecordKind.PENSION,
    "benefits": RecordKind.BENEFIT,
}
"""interfaces.md's sandbox list names and the record kind each list holds; connectors also use them as data
categories ("income", "enterprises")."""

DATA_CATEGORIES: Final[dict[str, RecordKind]] = {**{kind.value: kind for kind in RecordKind}, **SANDBOX_SECTIONS}
"""What a connector's ``describe().data_categories`` may name: a record kind, or a sandbox list's name of one."""

# Field names whose wire name is ``kind`` (a word the record types use themselves).
_WIRE_NAMES: Final[dict[str, str]] = {"account_kind": "kind", "kind_of_benefit": "kind"}
_MAX_TEXT = 500


def _wire(field: str) -> str:
    """The wire name of a record field."""
    return _WIRE_NAMES.get(field, field)


_HINTS: dict[type, dict[str, Any]] = {}


def _field_types(cls: type[DepartmentRecord]) -> dict[str, Any]:
    """The resolved type hints of a record type, cached."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _check_date(path: str, value: str) -> None:
    """A real calendar date written ``YYYY-MM-DD``."""
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        dt.date.fromisoformat(value)
    except ValueError:
        raise RecordError(path, f"{value!r} is not a date YYYY-MM-DD") from None


def _check_int(name: str, value: object, where: str) -> int:
    """An integer field: no bools, no negative money, within range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(where, "must be an integer (money is integer fen)")
    if name.endswith("_fen") and value < 0:
        raise RecordError(where, f"must not be negative, got {value}")
    if abs(value) > 10**15:
        raise RecordError(where, "is out of range")
    return value


def _check_float(value: object, where: str) -> float:
    """A measure (floor area): a finite number of at least 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(where, "must be a number")
    if not math.isfinite(value) or value < 0:
        raise RecordError(where, f"must be a finite number >= 0, got {value}")
    return float(value)


def _check_str(cls: type[DepartmentRecord], name: str, value: object, where: str) -> str:
    """A text field: bounded, in its vocabulary, a valid period or date where the field is one."""
    if not isinstance(value, str):
        raise RecordError(where, "must be a string")
    if len(value) > _MAX_TEXT:
        raise RecordError(where, f"is longer than {_MAX_TEXT} characters")
    allowed = cls.vocabularies.get(name)
    if allowed is not None and value not in allowed:
        raise RecordError(where, f"{value!r} is not one of {', '.join(sorted(allowed))}")
    if name == "period" and not _PERIOD.fullmatch(value):
        raise RecordError(where, f"{value!r} is not a period YYYY-MM")
    if name in cls.date_fields:
        _check_date(where, value)
    if name == "record_id" and not value:
        raise RecordError(where, "must not be empty")
    return value


def _check_field(cls: type[DepartmentRecord], name: str, raw: Mapping[str, object], path: str) -> object:
    """The checked value of field ``name`` of ``raw`` (the record at ``path``), or ``None`` for an absent optional."""
    hint = _field_types(cls)[name]
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    wire = _wire(name)
    where = f"{path}.{wire}"
    if wire not in raw:
        if optional:
            return None
        raise RecordError(where, "is required")
    value = raw[wire]
    if value is None:
        if not optional:
            raise RecordError(where, "must not be null")
        return None
    base = typing.get_args(hint)[0] if optional else hint
    if base is int:
        return _check_int(name, value, where)
    if base is float:
        return _check_float(value, where)
    if base is str:
        return _check_str(cls, name, value, where)
    return value


def parse_record(cls: type[DepartmentRecord], raw: object, path: str) -> DepartmentRecord:
    """Build a record of type ``cls`` from a JSON object, checking every field.

    Unknown keys, missing keys, wrong types, negative money, values outside a
    vocabulary and malformed dates or periods raise :class:`RecordError` naming the path.
    """
    if not isinstance(raw, Mapping):
        raise RecordError(path, "must be an object")
    wire_to_field = {_wire(f.name): f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(wire_to_field))
    if unknown:
        raise RecordError(f"{path}.{unknown[0]}", "unknown field")
    values = {f.name: _check_field(cls, f.name, raw, path) for f in wire_to_field.values()}
    return cls(**values)  # type: ignore[arg-type]


def record_to_plain(record: DepartmentRecord) -> dict[str, Any]:
    """The record as a JSON object with its wire field names."""
    return {_wire(f.name): getattr(record, f.name) for f in dataclasses.fields(record)}


def record_from_plain(kind: str, raw: Mapping[str, Any]) -> DepartmentRecord:
    """Inverse of :func:`record_to_plain` for a record kind (e.g. ``"tax_income"``)."""
    try:
        cls = RECORD_TYPES[kind]
    except KeyError:
        raise RecordError(kind, "unknown record kind") from None
    return parse_record(cls, raw, kind)


# --- who a record is about ------------------------------------------------------------------------------

AnswersWith = Department | Collection[str]
"""Whose answer: a :class:`~connectors.departments.Department`, or the record kinds it declares."""


def declared_kinds(department: AnswersWith) -> frozenset[str]:
    """The record kinds a department answers with, from its declaration (or its kinds)."""
    if isinstance(department, Department):
        return frozenset(department.record_kinds)
    if isinstance(department, str):
        # A department id would pass as a collection of its letters: whose answer it is must be declared.
        raise TypeError(f"whose answer: a Department or its record kinds, not the id {department!r}")
    return frozenset(department)


def adds_register_mates(department: AnswersWith) -> bool:
    """Whether a department's answer may hold its household-register mates: it answers with ``person`` records.

    A household-register lookup returns the whole register (户) of each person asked about; today only
    the police declare ``person`` records.
    """
    return RecordKind.PERSON in declared_kinds(department)


def registers_of(records: Iterable[object], id_numbers: Collection[str]) -> frozenset[str]:
    """The household registers (户) of the people in ``id_numbers``, as the person records name them."""
    return frozenset(r.hukou_id for r in records if isinstance(r, PersonRecord) and r.id_number in id_numbers)


def is_about(
    department: AnswersWith, record: DepartmentRecord, id_numbers: Collection[str], registers: Collection[str]
) -> bool:
    """Whether ``record``, in an answer of ``department``, is about the people asked about.

    A record is about its subject. A household-register lookup returns the whole register of each
    person asked about, so a department answering with ``person`` records (the police) — and only
    such a department — may add the person records of their register mates; ``registers`` is
    :func:`registers_of` the same answer.
    """
    if record.subject in id_numbers:
        return True
    return adds_register_mates(department) and isinstance(record, PersonRecord) and record.hukou_id in registers


def records_about(
    department: AnswersWith, records: Iterable[DepartmentRecord], id_numbers: Iterable[str]
) -> tuple[DepartmentRecord, ...]:
    """The records of ``department``'s answer (or data) that are about ``id_numbers``: see :func:`is_about`.

    The one rule for "records about the people asked about", shared by the sandbox (what it answers),
    the resilience layer (how a shared answer is split back), the conformance kit (what it accepts)
    and :mod:`connectors.answers` (what hedui accepts).
    """
    records = tuple(records)
    wanted = frozenset(id_numbers)
    registers = registers_of(records, wanted) if adds_register_mates(department) else frozenset()
    return tuple(r for r in records if is_about(department, r, wanted, registers))
