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
from typing import Final

import orjson

__all__ = [
    "ENTRY_FIELDS",
    "EVENT_KINDS",
    "AuditEvent",
    "JsonValue",
    "canonical_entry",
    "canonical_json",
    "entry_problem",
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
    body = {
        "kind": event.kind,
        "time": recorded_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
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
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


ENTRY_FIELDS: Final = frozenset(
    {"kind", "time", "operator", "client", "verification", "authorization", "department", "subjects", "details"}
)
"""The keys of every entry, exactly (what :func:`canonical_entry` writes)."""

_KEYED_HASH = re.compile(r"[0-9a-f]{64}")


def _detail_problem(details: object) -> str | None:
    if not isinstance(details, dict):
        return "its details are not an object"
    for key, value in details.items():
        plain = value is None or isinstance(value, str | int | bool)
        if not (plain or (isinstance(value, list) and all(isinstance(item, str) for item in value))):
            return f"its detail {key!r} is neither a string, a number, a truth value nor a list of strings"
    return None


def _time_problem(value: object) -> str | None:
    if not isinstance(value, str) or len(value) != 32 or not value.endswith("+00:00"):
        return "its time is not a UTC instant with microseconds"
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return "its time is not a UTC instant with microseconds"
    return None


def entry_problem(body: object) -> str | None:
    """What makes a decoded entry something :func:`canonical_entry` never writes (``None``: nothing): an object
    with exactly :data:`ENTRY_FIELDS`, a known kind, a UTC time, strings, sorted keyed-hash subjects, plain details."""
    if not isinstance(body, dict):
        return "not a JSON object"
    if body.keys() != ENTRY_FIELDS:
        missing, extra = sorted(ENTRY_FIELDS - set(body)), sorted(set(body) - ENTRY_FIELDS)
        return f"not an entry's fields (missing {missing}, unknown {extra})"
    if body["kind"] not in EVENT_KINDS:
        return f"unknown kind {body['kind']!r}"
    for name in ("operator", "client", "verification", "authorization", "department"):
        if not isinstance(body[name], str):
            return f"its {name} is not a string"
    subjects = body["subjects"]
    if not isinstance(subjects, list) or any(not isinstance(s, str) or not _KEYED_HASH.fullmatch(s) for s in subjects):
        return "its subjects are not keyed hashes (64 lowercase hex digits)"
    if len(subjects) > 1 and subjects != sorted(set(subjects)):
        return "its subjects are not sorted and distinct"
    return _time_problem(body["time"]) or _detail_problem(body["details"])
