"""Audit events and their canonical bytes.

An entry is UTF-8 JSON with sorted keys and no insignificant whitespace: the one
encoding the log hashes. Entries never carry plaintext identity numbers, only a
keyed hash (HMAC-SHA256) so supervisors can search by person.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

__all__ = [
    "ENTRY_FIELDS",
    "EVENT_KINDS",
    "AuditEvent",
    "JsonValue",
    "canonical_entry",
    "canonical_json",
    "entry_problem",
    "entry_time",
    "subject_hash",
]

EVENT_KINDS: Final = frozenset(
    {
        "AUTHORIZATION_REGISTERED",
        "AUTHORIZATION_REVOKED",
        "TRUSTED_KEY_ADDED",
        "TRUSTED_KEY_ROTATED",
        "TRUSTED_KEY_REVOKED",
        "VERIFICATION_CREATED",
        "CONSENT_DECISION",
        "DEPARTMENT_QUERY_SENT",
        "DEPARTMENT_ANSWER_RECEIVED",
        "DEPARTMENT_QUERY_FAILED",
        "DEPARTMENT_ANSWER_PENDING",
        "REPORT_CREATED",
        "REPORT_READ",
        # Issue 13: the API's clients, and calls refused (one entry per client and minute, with a count).
        "CLIENT_ADDED",
        "CLIENT_REVOKED",
        "CALL_REFUSED",
        # Issue 17: data keys of the cells sealed at rest rotated, and destroyed by retention (crypto-shredding).
        "DATA_KEYS_ROTATED",
        "DATA_KEY_DESTROYED",
    }
)

JsonValue = str | int | bool | None | list[str]
"""What an audit entry's details may hold: no floats, no nesting beyond a list of strings."""


def subject_hash(key: bytes, id_number: str) -> str:
    """Keyed hash of an identity number: searchable with the key, meaningless without it."""
    return hmac.new(key, id_number.encode("ascii"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One thing that happened, as the log records it."""

    kind: str
    operator: str = ""
    client: str = ""
    verification: str = ""
    authorization: str = ""
    department: str = ""
    subjects: tuple[str, ...] = ()
    details: Mapping[str, JsonValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown audit event kind {self.kind!r}")


def canonical_entry(event: AuditEvent, recorded_at: dt.datetime, subjects: Iterable[str] | None = None) -> bytes:
    """The exact bytes of the log entry for ``event`` (with ``subjects`` instead of its own, if given)."""
    time = recorded_at if recorded_at.tzinfo is dt.UTC else recorded_at.astimezone(dt.UTC)
    body = {
        "kind": event.kind,
        # orjson writes an instant with microseconds exactly as isoformat does, seven times faster (a test checks
        # it); one without (a whole second) it writes without the fraction, so isoformat writes those.
        "time": time if time.microsecond else time.isoformat(timespec="microseconds"),
        "operator": event.operator,
        "client": event.client,
        "verification": event.verification,
        "authorization": event.authorization,
        "department": event.department,
        "subjects": sorted(event.subjects if subjects is None else subjects),
        "details": dict(event.details),
    }
    return canonical_json(body)


def canonical_json(value: Mapping[str, object]) -> bytes:
    """``value`` as the log encodes it: Python's ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` in UTF-8. orjson writes the same bytes four times faster whenever nothing needs an
    escape (raw UTF-8, keys in code point order, the same integers; floats never occur in entries), so its
    output is taken when it holds no backslash; anything else is json's."""
    try:
        fast = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        fast = b"\\"
    if b"\\" not in fast:
        return fast
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_instant).encode()


def _instant(value: object) -> str:
    """An aware instant in an entry as its text (json's side of :func:`canonical_json`)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.isoformat(timespec="microseconds")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


ENTRY_FIELDS: Final = frozenset(
    {"kind", "time", "operator", "client", "verification", "authorization", "department", "subjects", "details"}
)
"""The keys of every entry, exactly (what :func:`canonical_entry` writes)."""

_KEYED_HASH = re.compile(r"[0-9a-f]{64}")
_TEXT_FIELDS: Final = ("operator", "client", "verification", "authorization", "department")
_SORTED_FIELDS: Final = tuple(sorted(ENTRY_FIELDS))
_PLAIN: Final = frozenset({str, int, bool, type(None)})  # a detail's types, exactly (subclasses: checked slowly)


def _detail_problem(details: object) -> str | None:
    if not isinstance(details, dict):
        return "its details are not an object"
    for key, value in details.items():
        if value.__class__ in _PLAIN:
            continue
        plain = isinstance(value, str | int | bool)
        if not (plain or (isinstance(value, list) and all(isinstance(item, str) for item in value))):
            return f"its detail {key!r} is neither a string, a number, a truth value nor a list of strings"
    return None


def _entry_time(value: object) -> dt.datetime | None:
    """The entry time ``value`` names, if it is a UTC instant with microseconds as :func:`canonical_entry` writes."""
    if not isinstance(value, str) or len(value) != 32 or not value.endswith("+00:00"):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _subjects_problem(subjects: object) -> str | None:
    if not isinstance(subjects, list) or any(not isinstance(s, str) or not _KEYED_HASH.fullmatch(s) for s in subjects):
        return "its subjects are not keyed hashes (64 lowercase hex digits)"
    if len(subjects) > 1 and subjects != sorted(set(subjects)):
        return "its subjects are not sorted and distinct"
    return None


def entry_time(body: object) -> dt.datetime | str:
    """The time of a decoded entry that :func:`canonical_entry` could have written, else what makes it something
    it never writes (a ``str``): an object with exactly :data:`ENTRY_FIELDS`, a known kind, a UTC time, strings,
    sorted keyed-hash subjects, plain details. ``hedui audit verify`` asks this of every entry: one pass, the time
    parsed once, the common case in few steps (each rare one checked again the slow way for its message)."""
    if not isinstance(body, dict):
        return "not a JSON object"
    if tuple(body) != _SORTED_FIELDS:
        return _shape_problem(body) or _slow_problem(body)
    b: dict[str, Any] = body
    kind, time, subjects = b["kind"], b["time"], b["subjects"]
    texts = b["operator"].__class__ is str is b["client"].__class__ is b["verification"].__class__
    if not (texts and b["authorization"].__class__ is str is b["department"].__class__ and kind in EVENT_KINDS):
        return _slow_problem(b)
    if subjects.__class__ is not list or subjects:
        problem = _subjects_problem(subjects)
        if problem is not None:
            return problem
    try:
        parsed = dt.datetime.fromisoformat(time) if len(time) == 32 and time.endswith("+00:00") else None
    except (TypeError, ValueError):
        parsed = None
    if parsed is None:
        return "its time is not a UTC instant with microseconds"
    details = b["details"]
    if details.__class__ is dict and set(map(type, details.values())) <= _PLAIN:
        return parsed
    return _detail_problem(details) or parsed


def _shape_problem(body: dict[str, Any]) -> str | None:
    """Whether ``body`` lacks an entry's fields or has others, in words."""
    if body.keys() != ENTRY_FIELDS:
        missing, extra = sorted(ENTRY_FIELDS - set(body)), sorted(set(body) - ENTRY_FIELDS)
        return f"not an entry's fields (missing {missing}, unknown {extra})"
    return None


def _slow_problem(body: dict[str, Any]) -> dt.datetime | str:
    """:func:`entry_time` step by step, for an entry off the common path (its fields in another order, a str
    subclass, a problem)."""
    kind = body["kind"]
    if not isinstance(kind, str) or kind not in EVENT_KINDS:
        return f"unknown kind {kind!r}"
    for name in _TEXT_FIELDS:
        if not isinstance(body[name], str):
            return f"its {name} is not a string"
    problem = _subjects_problem(body["subjects"])
    if problem is not None:
        return problem
    time = _entry_time(body["time"])
    if time is None:
        return "its time is not a UTC instant with microseconds"
    return _detail_problem(body["details"]) or time


def entry_problem(body: object) -> str | None:
    """What makes a decoded entry something :func:`canonical_entry` never writes (``None``: nothing): see
    :func:`entry_time`."""
    found = entry_time(body)
    return found if isinstance(found, str) else None
