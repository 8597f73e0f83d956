"""Identity and the household register (warnings.md): who the declared members are, and who was not declared.

The register is whatever the departments declared to answer with ``person`` records supplied (the
police, by default); each warning names that department.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

from connectors.departments import RecordKind
from connectors.records import PersonRecord
from consent.identity import mask
from verifier.assessment.context import Context
from verifier.assessment.figures import SourceOutcome
from verifier.assessment.flags import UNDECLARED_RELATION_ZH, Evidence, WarningCode, WarningFlag
from verifier.assessment.recheck import age_on
from verifier.assessment.rules.base import Facts
from verifier.request import Member
from verifier.vocabulary import DepartmentStatus

__all__ = ["RegisterIdentity", "UndeclaredMembers"]

_PARTNERS = ("head", "spouse")
_STATUS_CODES: dict[str, WarningCode] = {
    "deceased": WarningCode.MEMBER_DECEASED,
    "in_custody": WarningCode.MEMBER_IN_CUSTODY,
}


def _registers(ctx: Context) -> Iterator[tuple[SourceOutcome, list[PersonRecord]]]:
    """Each answered register department with the person records it supplied."""
    for source in ctx.answering(RecordKind.PERSON):
        if source.status == DepartmentStatus.OK:
            persons = [p for p in ctx.records(PersonRecord) if ctx.supplier(p) == source.department]
            yield source, persons


class RegisterIdentity:
    """IDENTITY_MISMATCH, MEMBER_DECEASED, MEMBER_IN_CUSTODY: each declared member against the register."""

    codes: ClassVar[tuple[WarningCode, ...]] = (
        WarningCode.IDENTITY_MISMATCH,
        WarningCode.MEMBER_DECEASED,
        WarningCode.MEMBER_IN_CUSTODY,
    )

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """Per member, in request order: unknown or misnamed, then deceased or in custody."""
        for source, persons in _registers(ctx):
            for member in ctx.request.members:
                if member.id_number not in source.not_queried:
                    yield from self._member(ctx, source.department, member, persons)

    @staticmethod
    def _member(ctx: Context, department: str, member: Member, persons: list[PersonRecord]) -> Iterator[WarningFlag]:
        """One member against the register's records."""
        record = next((p for p in persons if p.id_number == member.id_number), None)
        if record is None:
            yield ctx.flag(
                WarningCode.IDENTITY_MISMATCH,
                id_number=member.id_number,
                department=department,
                evidence=(Evidence(department, "", "id_number", mask(member.id_number)),),
                reason_zh="身份证号在户籍系统中不存在",
                reason_en="the identity number is unknown",
            )
            return
        if record.name != member.name:
            yield ctx.flag(
                WarningCode.IDENTITY_MISMATCH,
                id_number=member.id_number,
                department=department,
                evidence=(ctx.evidence(record, "name", record.name),),
                reason_zh="申报姓名与登记姓名不一致",
                reason_en="the declared name differs from the registered name",
            )
        code = _STATUS_CODES.get(record.status)
        if code is not None:
            yield ctx.flag(
                code,
                id_number=member.id_number,
                department=department,
                evidence=(ctx.evidence(record, "status", record.status),),
                date=record.status_date or "?",
            )


class UndeclaredMembers:
    """UNDECLARED_MEMBER: a spouse or minor child on a declared head's or spouse's register who was not declared."""

    codes: ClassVar[tuple[WarningCode, ...]] = (WarningCode.UNDECLARED_MEMBER,)

    def flags(self, ctx: Context, facts: Facts) -> Iterable[WarningFlag]:
        """Per register department, per person record (by record id)."""
        declared = {m.id_number for m in ctx.request.members}
        for source, persons in _registers(ctx):
            households = {p.hukou_id for p in persons if p.id_number in declared and p.relation_to_head in _PARTNERS}
            for person in persons:
                if person.hukou_id not in households or person.id_number in declared or person.status != "active":
                    continue
                partner = person.relation_to_head in _PARTNERS
                minor = person.relation_to_head == "child" and age_on(person.id_number, ctx.day) < 18
                if partner or minor:
                    yield ctx.flag(
                        WarningCode.UNDECLARED_MEMBER,
                        id_number=None,
                        department=source.department,
                        evidence=(ctx.evidence(person, "relation_to_head", person.relation_to_head),),
                        relation_zh=UNDECLARED_RELATION_ZH.get(person.relation_to_head, person.relation_to_head),
                        relation_en="spouse" if partner else "minor child",
                        masked=mask(person.id_number),
                    )
