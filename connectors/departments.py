"""Departments as declarations: who hedui may ask, under which names, answering with which record kinds.

A department is data, not code. hedui ships the six of interfaces.md (:data:`DEFAULT_DEPARTMENTS`);
a verification centre declares more in its configuration (``[departments.market_regulation]`` with
``name_zh``, ``name_en``, ``record_kinds`` and ``connector``), and a department's package brings the
connector as an entry point. The record kinds are the vocabulary the assessment's rules read: a rule
asks for ``enterprise`` records, whichever department supplied them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from consent.departments import DEPARTMENT_ID

__all__ = [
    "DEFAULT_DEPARTMENTS",
    "DEPARTMENT_ID",
    "Department",
    "DepartmentCatalogue",
    "DepartmentDeclarationError",
    "RecordKind",
]


class RecordKind(StrEnum):
    """The kinds of record a department may answer with (interfaces.md's sandbox format)."""

    PERSON = "person"
    PROPERTY = "property"
    PROVIDENT_FUND = "provident_fund"
    RENTAL = "rental"
    TAX_INCOME = "tax_income"
    ENTERPRISE = "enterprise"
    VEHICLE = "vehicle"
    ACCOUNT = "account"
    INSURANCE_PREMIUM = "insurance_premium"
    CONTRIBUTION = "contribution"
    PENSION = "pension"
    BENEFIT = "benefit"


class DepartmentDeclarationError(ValueError):
    """A department declaration that cannot be used; the message names the department and the key."""


@dataclass(frozen=True, slots=True)
class Department:
    """One department hedui may query: its id, its names and the record kinds it answers with."""

    id: str
    name_zh: str
    name_en: str
    record_kinds: frozenset[RecordKind]

    def answers_with(self, kind: str) -> bool:
        """Whether a record of ``kind`` may come in this department's answers."""
        return kind in self.record_kinds


def _declared(department: str, name_zh: str, name_en: str, kinds: Iterable[str]) -> Department:
    """Check one declaration; every problem names ``departments.<id>.<key>``."""
    where = f"departments.{department}"
    if not DEPARTMENT_ID.fullmatch(department):
        raise DepartmentDeclarationError(f"{where}: a department id is 2-40 of a-z, 0-9 and _, starting with a letter")
    if not name_zh.strip() or not name_en.strip():
        raise DepartmentDeclarationError(f"{where}.name_zh/name_en: a department needs a Chinese and an English name")
    checked: set[RecordKind] = set()
    for kind in kinds:
        try:
            checked.add(RecordKind(kind))
        except ValueError:
            known = ", ".join(k.value for k in RecordKind)
            raise DepartmentDeclarationError(
                f"{where}.record_kinds: {kind!r} is not a record kind hedui knows (one of {known})"
            ) from None
    if not checked:
        raise DepartmentDeclarationError(f"{where}.record_kinds: name at least one record kind")
    return Department(department, name_zh.strip(), name_en.strip(), frozenset(checked))


K = RecordKind
DEFAULT_DEPARTMENTS: Final[tuple[Department, ...]] = (
    Department("police", "公安部门", "Public security (household register)", frozenset({K.PERSON})),
    Department(
        "housing",
        "住房和不动产部门",
        "Housing and real estate",
        frozenset({K.PROPERTY, K.PROVIDENT_FUND, K.RENTAL}),
    ),
    Department("tax", "税务部门", "Taxation", frozenset({K.TAX_INCOME, K.ENTERPRISE})),
    Department("vehicles", "车辆管理部门", "Vehicle administration", frozenset({K.VEHICLE})),
    Department(
        "banks",
        "银行等金融机构",
        "Banks and financial institutions",
        frozenset({K.ACCOUNT, K.INSURANCE_PREMIUM}),
    ),
    Department(
        "social_security",
        "人力资源和社会保障部门",
        "Human resources and social security",
        frozenset({K.CONTRIBUTION, K.PENSION, K.BENEFIT}),
    ),
)
del K


class DepartmentCatalogue(Mapping[str, Department]):
    """The departments of one service: the defaults plus what the configuration declares, by id.

    Iterates in a stable order (the defaults as interfaces.md lists them, then the declared ones
    by id), so reports, tables and audit entries list departments the same way every time.
    """

    def __init__(self, departments: Iterable[Department] = DEFAULT_DEPARTMENTS) -> None:
        self._by_id: dict[str, Department] = {}
        for department in departments:
            if department.id in self._by_id:
                raise DepartmentDeclarationError(f"departments.{department.id}: declared twice")
            self._by_id[department.id] = department

    @classmethod
    def declare(cls, declarations: Mapping[str, Mapping[str, object]]) -> DepartmentCatalogue:
        """The defaults, with each declaration added (a new id) or renamed/re-kinded (a default's id).

        ``declarations`` maps a department id to ``name_zh``, ``name_en`` and ``record_kinds``; a
        default department needs none of them, a new one needs all three.
        """
        merged = {d.id: d for d in DEFAULT_DEPARTMENTS}
        for department, raw in declarations.items():
            base = merged.get(department)
            name_zh = raw.get("name_zh", base.name_zh if base else "")
            name_en = raw.get("name_en", base.name_en if base else "")
            kinds = raw.get("record_kinds", sorted(base.record_kinds) if base else [])
            if not isinstance(name_zh, str) or not isinstance(name_en, str):
                raise DepartmentDeclarationError(f"departments.{department}.name_zh/name_en: must be strings")
            if not isinstance(kinds, list | tuple) or not all(isinstance(k, str) for k in kinds):
                raise DepartmentDeclarationError(f"departments.{department}.record_kinds: must be a list of strings")
            merged[department] = _declared(department, name_zh, name_en, kinds)
        defaults = [d.id for d in DEFAULT_DEPARTMENTS]
        order = defaults + sorted(set(merged) - set(defaults))
        return cls(merged[d] for d in order)

    def __getitem__(self, department: str) -> Department:
        """The department of id ``department``; ``KeyError`` if it is not declared."""
        return self._by_id[department]

    def __iter__(self) -> Iterator[str]:
        """Department ids in the catalogue's stable order."""
        return iter(self._by_id)

    def __len__(self) -> int:
        """How many departments are declared."""
        return len(self._by_id)

    def name_zh(self, department: str) -> str:
        """The Chinese name of a department, or its id if it is not declared (old reports, other centres)."""
        found = self._by_id.get(department)
        return found.name_zh if found is not None else department

    def name_en(self, department: str) -> str:
        """The English name of a department, or its id if it is not declared."""
        found = self._by_id.get(department)
        return found.name_en if found is not None else department
