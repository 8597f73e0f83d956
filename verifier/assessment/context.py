"""What the rules read: the request, the policy, and the records the departments supplied, looked up by type.

:meth:`Context.records` returns the record type asked for (``records(PersonRecord)`` is a
``list[PersonRecord]``), from every department that answered, whichever department that is; the
department that supplied a record is :meth:`Context.supplier`, and it is the one its evidence and
its warning name. Records about a member who was not queried somewhere (no consent) are never used,
even when they came with another member's answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from connectors.departments import DepartmentCatalogue, RecordKind
from connectors.records import DepartmentRecord
from verifier.assessment.arithmetic import window_periods
from verifier.assessment.figures import SourceOutcome, SuppliedRecord
from verifier.assessment.flags import DEFAULT_CATALOGUE, Evidence, WarningFlag, flag
from verifier.policy import Policy
from verifier.request import VerificationRequest
from verifier.vocabulary import DepartmentStatus

__all__ = ["Context"]

R = TypeVar("R", bound=DepartmentRecord)


def _usable(sources: Mapping[str, SourceOutcome]) -> tuple[SuppliedRecord, ...]:
    """Every record of an answered source, except those about members not queried there."""
    return tuple(
        SuppliedRecord(source.department, record)
        for source in sources.values()
        if source.status == DepartmentStatus.OK
        for record in source.records
        if record.subject not in source.not_queried
    )


@dataclass(frozen=True, slots=True)
class Context:
    """One assessment's inputs: request, policy, sources, the window and the standard, and the department names."""

    request: VerificationRequest
    policy: Policy
    sources: Mapping[str, SourceOutcome]
    catalogue: DepartmentCatalogue
    periods: frozenset[str]
    standard: int
    _supplied: tuple[SuppliedRecord, ...] = field(repr=False)
    _suppliers: Mapping[int, str] = field(repr=False)

    @classmethod
    def of(
        cls,
        request: VerificationRequest,
        policy: Policy,
        sources: Mapping[str, SourceOutcome],
        catalogue: DepartmentCatalogue = DEFAULT_CATALOGUE,
    ) -> Context:
        """The context of one assessment: the window of the application date, the standard of its area."""
        supplied = _usable(sources)
        return cls(
            request=request,
            policy=policy,
            sources=sources,
            catalogue=catalogue,
            periods=frozenset(window_periods(request.application_date)),
            standard=policy.standard_fen(request.area),
            _supplied=supplied,
            _suppliers={id(s.record): s.department for s in supplied},
        )

    @property
    def day(self) -> dt.date:
        """The application date."""
        return self.request.application_date

    def records(self, kind: type[R], id_number: str | None = None) -> list[R]:
        """Every usable record of type ``kind`` (about ``id_number`` when given), ordered by record id."""
        found = [
            s.record
            for s in self._supplied
            if isinstance(s.record, kind) and (id_number is None or s.record.subject == id_number)
        ]
        return sorted(found, key=lambda r: r.record_id)

    def in_window(self, kind: type[R], id_number: str | None = None) -> list[R]:
        """:meth:`records` whose ``period`` lies inside the assessment window."""
        return [r for r in self.records(kind, id_number) if getattr(r, "period", None) in self.periods]

    def about(self, id_number: str) -> tuple[SuppliedRecord, ...]:
        """Every usable record about ``id_number``, by supplying department (by id), then as answered."""
        return tuple(sorted((s for s in self._supplied if s.record.subject == id_number), key=lambda s: s.department))

    def supplier(self, record: DepartmentRecord) -> str:
        """The department whose answer ``record`` came in."""
        return self._suppliers[id(record)]

    def evidence(self, record: DepartmentRecord, field_name: str, value: object) -> Evidence:
        """``record``'s ``field_name`` as evidence, under the department that supplied it."""
        return Evidence(self.supplier(record), record.record_id, field_name, str(value))

    def flag(
        self, code: str, *, id_number: str | None, department: str, evidence: tuple[Evidence, ...] = (), **params: str
    ) -> WarningFlag:
        """A warning flag (:func:`~verifier.assessment.flags.flag`) naming departments by this context's catalogue."""
        return flag(
            code, id_number=id_number, department=department, evidence=evidence, catalogue=self.catalogue, **params
        )

    def answering(self, kind: RecordKind) -> list[SourceOutcome]:
        """The sources (by department id) whose department is declared to answer with ``kind`` records."""
        return [
            self.sources[d]
            for d in sorted(self.sources)
            if d in self.catalogue and self.catalogue[d].answers_with(kind)
        ]

    def answered(self, kind: RecordKind) -> bool:
        """Whether a department that answers with ``kind`` records answered."""
        return any(s.status == DepartmentStatus.OK for s in self.answering(kind))

    def department_of(self, records: Iterable[DepartmentRecord], kind: RecordKind) -> str:
        """The department a household warning over ``records`` names: their first supplier in catalogue order.

        Without records, the first department declared to answer with ``kind``.
        """
        suppliers = {self.supplier(r) for r in records}
        order: list[str] = [*self.catalogue, *sorted(suppliers - set(self.catalogue))]
        for department in order:
            if department in suppliers:
                return department
        declared: list[str] = [d for d in self.catalogue if self.catalogue[d].answers_with(kind)]
        return declared[0] if declared else str(kind)
