"""What hedui accepts from a department: the check of an answer against the department's declaration.

An answer is input from outside. It is accepted only when it is labelled with the department, holds
at most :data:`MAX_RECORDS_PER_ANSWER` records, each of a kind the department declares
(:meth:`~connectors.departments.Department.answers_with`), with a unique record id, every field valid
(checked again as if it came as JSON: a connector in Python can build any record), a valid identity
number, and about the people asked about (a department answering ``person`` records — the police —
may add their household-register mates: :func:`connectors.records.is_about`). Anything else raises
:class:`AnswerRejected`, and the whole answer is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from connectors.base import DepartmentAnswer
from connectors.departments import Department
from connectors.records import DepartmentRecord, RecordError, is_about, record_from_plain, record_to_plain, registers_of
from consent.identity import IdentityNumberError, validate_identity_number

__all__ = ["MAX_RECORDS_PER_ANSWER", "AnswerRejected", "check_answer"]

MAX_RECORDS_PER_ANSWER: Final = 10_000


class AnswerRejected(Exception):
    """A department's answer that breaks the record rules; never merged into a report."""


def _check_fields(record: DepartmentRecord) -> None:
    """One record on its own: every field valid, a valid identity number."""
    try:
        record_from_plain(record.kind, record_to_plain(record))
    except RecordError as exc:
        raise AnswerRejected(f"record {record.record_id}: {exc}") from None
    try:
        validate_identity_number(record.subject)
    except IdentityNumberError:
        raise AnswerRejected(f"record {record.record_id} names an invalid identity number") from None


def check_answer(department: Department, asked: Sequence[str], answer: DepartmentAnswer) -> None:
    """Refuse answers with foreign records, records of people not asked about, duplicates or oversize."""
    if answer.department != department.id:
        raise AnswerRejected(f"answer is labelled {answer.department!r}")
    if len(answer.records) > MAX_RECORDS_PER_ANSWER:
        raise AnswerRejected(f"more than {MAX_RECORDS_PER_ANSWER} records")
    wanted = frozenset(asked)
    registers = registers_of(answer.records, wanted)
    seen: set[str] = set()
    for record in answer.records:
        if not department.answers_with(record.kind):
            raise AnswerRejected(
                f"record {record.record_id} is of kind {record.kind}, which {department.id} does not declare"
            )
        if record.record_id in seen:
            raise AnswerRejected(f"duplicate record id {record.record_id}")
        _check_fields(record)
        seen.add(record.record_id)
        if not is_about(department, record, wanted, registers):
            raise AnswerRejected(f"record {record.record_id} is about a person not asked about")
