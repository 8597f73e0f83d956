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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = ["EVENT_KINDS", "AuditEvent", "JsonValue", "canonical_entry", "subject_hash"]

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


def canonical_entry(event: AuditEvent, recorded_at: dt.datetime) -> bytes:
    """The exact bytes of the log entry for ``event``."""
    body = {
        "kind": event.kind,
        "time": recorded_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "operator": event.operator,
        "client": event.client,
        "verification": event.verification,
        "authorization": event.authorization,
        "department": event.department,
        "subjects": sorted(event.subjects),
        "details": dict(event.details),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
