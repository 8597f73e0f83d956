"""The protobuf form (``hedui.v1``) of connector descriptions, answers, tickets and records.

Shared by the remote-connector client (:mod:`connectors.remote`) and the reference connector server
(:mod:`connectors.server`). Everything read from the wire is checked: a ``*_from_message`` function
either returns a valid typed value or raises :class:`WireError` naming the field that is wrong.
The oneof case of ``DepartmentRecord`` is the record type's ``kind`` (``tax_income``, ``person`` …)
and the record message's fields are the wire names of :func:`connectors.records.record_to_plain`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, Final

from connectors.base import ConnectorDescription, DepartmentAnswer, Ticket
from connectors.departments import DEPARTMENT_ID
from connectors.records import (
    RECORD_TYPES,
    AnswersWith,
    DepartmentRecord,
    RecordError,
    declared_kinds,
    parse_record,
    record_to_plain,
)
from hedui.v1 import connector_pb2, records_pb2

__all__ = [
    "MAX_TICKET_ID_LENGTH",
    "WireError",
    "answer_from_message",
    "answer_to_message",
    "description_from_message",
    "description_problems",
    "description_to_message",
    "format_instant",
    "parse_instant",
    "record_from_message",
    "record_to_message",
    "ticket_from_message",
    "ticket_to_message",
]

MAX_TICKET_ID_LENGTH: Final = 4096
DEFAULT_MAX_CONCURRENT_QUERIES: Final = ConnectorDescription("default", ()).max_concurrent_queries
MAX_LIMIT: Final = 1_000_000
"""The largest batch size, rate or concurrency a description may declare."""


class WireError(ValueError):
    """A message from the other side that breaks the contract; ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def format_instant(instant: dt.datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, e.g. ``2026-11-23T08:00:00.000Z``."""
    if instant.tzinfo is None:
        raise ValueError("instant without a time zone")
    return instant.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(value: str, path: str) -> dt.datetime:
    """An RFC 3339 instant with an offset (``Z`` or ``+08:00``); anything else is a :class:`WireError`."""
    try:
        if len(value) > 40:
            raise ValueError
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise WireError(path, f"{value[:40]!r} is not an RFC 3339 instant") from None
    if instant.tzinfo is None:
        raise WireError(path, f"{value!r} has no time zone offset")
    return instant.astimezone(dt.UTC)


# --- records ------------------------------------------------------------------------------------------


def record_to_message(record: DepartmentRecord, department: str) -> records_pb2.DepartmentRecord:
    """The record, in an answer of ``department``, as a ``hedui.v1.DepartmentRecord``: the oneof case of its kind."""
    message = records_pb2.DepartmentRecord(department=department)
    body = getattr(message, record.kind)
    body.SetInParent()
    for name, value in record_to_plain(record).items():
        if value is not None:
            setattr(body, name, value)
    return message


def record_from_message(
    message: records_pb2.DepartmentRecord, department: str, path: str, kinds: AnswersWith
) -> DepartmentRecord:
    """A typed record from the wire, checked like any department input (:func:`~connectors.records.parse_record`).

    The record must be labelled with ``department`` and be of one of the record kinds ``kinds`` names
    (the department's declaration or its kinds).
    """
    kind = message.WhichOneof("record")
    if kind is None:
        raise WireError(path, "holds no record (no oneof case set)")
    record_type = RECORD_TYPES[kind]
    if message.department != department:
        raise WireError(f"{path}.department", f"is {message.department[:40]!r}, the answer is from {department}")
    allowed = declared_kinds(kinds)
    if kind not in allowed:
        raise WireError(f"{path}.{kind}", f"kind {kind} is not one of {department}'s record kinds")
    body = getattr(message, kind)
    plain: dict[str, Any] = {}
    for field in body.DESCRIPTOR.fields:
        if field.has_presence and not body.HasField(field.name):
            continue  # an unset ``optional`` field: absent (None)
        plain[field.name] = getattr(body, field.name)
    try:
        return parse_record(record_type, plain, f"{path}.{kind}")
    except RecordError as exc:
        raise WireError(exc.path, exc.message) from None


# --- descriptions -------------------------------------------------------------------------------------


def _department_problem(department: object, catalogue: Collection[str] | None) -> str | None:
    """What is wrong with a described department: not a declared one (``catalogue``), or not an id at all."""
    if catalogue is not None:
        if department in catalogue:
            return None
        return f"{str(department)[:40]!r} is not one of {', '.join(catalogue)}"
    if isinstance(department, str) and DEPARTMENT_ID.fullmatch(department):
        return None
    return f"{str(department)[:40]!r} is not a department id"


def description_problems(description: ConnectorDescription, catalogue: Collection[str] | None = None) -> list[str]:
    """What is wrong with a description's department and limits (empty when nothing is).

    One of the departments of ``catalogue`` (the ids hedui declares), or without it any department
    id (:data:`~connectors.departments.DEPARTMENT_ID`); ``max_batch_size``, ``max_queries_per_second``
    and ``max_concurrent_queries`` whole numbers of at least 1, ``max_identities_per_second`` a whole
    number of at least 0 (0: no identity limit); ``asynchronous`` and ``shared_batches`` booleans.
    Used on both sides of the wire, and by the resilience layer for any connector's ``describe()``.
    """
    problems = []
    department = _department_problem(description.department, catalogue)
    if department is not None:
        problems.append(f"department: {department}")
    for name, least in (
        ("max_batch_size", 1),
        ("max_queries_per_second", 1),
        ("max_concurrent_queries", 1),
        ("max_identities_per_second", 0),
    ):
        value = getattr(description, name)
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{name}: must be a whole number, got {value!r:.40}")
        elif not least <= value <= MAX_LIMIT:
            problems.append(f"{name}: must be from {least} to {MAX_LIMIT}, got {value}")
    for name in ("asynchronous", "shared_batches"):
        if not isinstance(getattr(description, name), bool):
            problems.append(f"{name}: must be true or false")
    return problems


def description_to_message(description: ConnectorDescription) -> connector_pb2.ConnectorDescription:
    """The description as sent by a connector server; a description that breaks the contract is a ``ValueError``."""
    problems = description_problems(description)
    if problems:
        raise ValueError(f"invalid connector description: {'; '.join(problems)}")
    return connector_pb2.ConnectorDescription(
        department=description.department,
        data_categories=list(description.data_categories),
        max_batch_size=description.max_batch_size,
        max_queries_per_second=description.max_queries_per_second,
        asynchronous=description.asynchronous,
        max_identities_per_second=description.max_identities_per_second,
        max_concurrent_queries=description.max_concurrent_queries,
        shared_batches=description.shared_batches,
    )


def description_from_message(
    message: connector_pb2.ConnectorDescription, catalogue: Collection[str] | None = None
) -> ConnectorDescription:
    """A checked description (:func:`description_problems`); a :class:`WireError` names the first wrong field.

    ``max_concurrent_queries`` 0 (a server that predates the field) means hedui's default.
    """
    department = _department_problem(message.department, catalogue)
    if department is not None:
        raise WireError("department", department)
    for name in ("max_batch_size", "max_queries_per_second"):
        if getattr(message, name) < 1:
            raise WireError(name, f"must be at least 1, got {getattr(message, name)}")
    for name in ("max_identities_per_second", "max_concurrent_queries"):
        if getattr(message, name) < 0:
            raise WireError(name, f"must not be negative, got {getattr(message, name)}")
    if len(message.data_categories) > 100 or any(not c or len(c) > 100 for c in message.data_categories):
        raise WireError("data_categories", "must be up to 100 non-empty names")
    description = ConnectorDescription(
        department=message.department,
        data_categories=tuple(message.data_categories),
        max_batch_size=message.max_batch_size,
        max_queries_per_second=message.max_queries_per_second,
        asynchronous=message.asynchronous,
        max_identities_per_second=message.max_identities_per_second,
        max_concurrent_queries=message.max_concurrent_queries or DEFAULT_MAX_CONCURRENT_QUERIES,
        shared_batches=message.shared_batches,
    )
    for problem in description_problems(description, catalogue):
        path, _, text = problem.partition(": ")
        raise WireError(path, text)
    return description


# --- answers and tickets ------------------------------------------------------------------------------


def answer_to_message(answer: DepartmentAnswer) -> connector_pb2.QueryResponse:
    """An answer as a connector server sends it: every record labelled with the answer's department."""
    return connector_pb2.QueryResponse(
        answer=connector_pb2.Answer(
            records=[record_to_message(r, answer.department) for r in answer.records],
            answered_at=format_instant(answer.answered_at),
        )
    )


def ticket_to_message(ticket: Ticket) -> connector_pb2.QueryResponse:
    """A ticket as a connector server sends it."""
    return connector_pb2.QueryResponse(
        ticket=connector_pb2.Ticket(ticket_id=ticket.ticket_id, ready_after=format_instant(ticket.ready_after))
    )


def answer_from_message(message: connector_pb2.Answer, department: str, kinds: AnswersWith) -> DepartmentAnswer:
    """A checked answer of ``department``: every record of one of ``kinds`` (see :func:`record_from_message`)."""
    records = tuple(
        record_from_message(r, department, f"answer.records[{i}]", kinds) for i, r in enumerate(message.records)
    )
    return DepartmentAnswer(
        department=department,
        records=records,
        answered_at=parse_instant(message.answered_at, "answer.answered_at"),
    )


def ticket_from_message(message: connector_pb2.Ticket, department: str) -> Ticket:
    """A checked ticket; an empty ``ready_after`` means "now"."""
    ticket_id = message.ticket_id
    if not ticket_id:
        raise WireError("ticket.ticket_id", "must not be empty")
    if len(ticket_id) > MAX_TICKET_ID_LENGTH or not ticket_id.isprintable():
        raise WireError("ticket.ticket_id", f"must be up to {MAX_TICKET_ID_LENGTH} printable characters")
    ready = parse_instant(message.ready_after, "ticket.ready_after") if message.ready_after else dt.datetime.now(dt.UTC)
    return Ticket(department=department, ticket_id=ticket_id, ready_after=ready)


def response_from_message(
    message: connector_pb2.QueryResponse, department: str, kinds: AnswersWith
) -> DepartmentAnswer | Ticket:
    """The answer or ticket of a ``Query``/``Poll`` response."""
    case = message.WhichOneof("result")
    if case == "answer":
        return answer_from_message(message.answer, department, kinds)
    if case == "ticket":
        return ticket_from_message(message.ticket, department)
    raise WireError("result", "holds neither an answer nor a ticket")
