"""The authorization artefact (授权书): who, what, why, for whom, when, and the signing evidence."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final

from consent.departments import ALL_DEPARTMENTS, is_department_id
from consent.errors import FieldError, json_object
from consent.identity import IdentityNumberError, validate_identity_number
from consent.instants import format_rfc3339, parse_rfc3339
from consent.signers import Signer
from consent.text import one_line_problem, shown

__all__ = [
    "ALL_DEPARTMENTS",
    "AUTHORIZATION_PAYLOAD_TYPE",
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_AUTHORIZED_MEMBERS",
    "MAX_DEPARTMENTS",
    "MAX_EVIDENCE_ENTRIES",
    "MAX_EVIDENCE_KEY",
    "MAX_EVIDENCE_VALUE",
    "MAX_JSON_DEPTH",
    "MAX_MEMBER_NAME",
    "MAX_ORGANISATION",
    "PURPOSES",
    "AuthorizationError",
    "AuthorizationPayload",
    "AuthorizedMember",
    "RegisteredAuthorization",
    "authorization_payload",
    "json_too_deep",
    "parse_authorization_payload",
    "parse_instant",
    "require_declared_departments",
    "unknown_departments",
]

AUTHORIZATION_PAYLOAD_TYPE: Final = "application/vnd.hedui.authorization+json; version=1"
PURPOSES: Final = ("ASSESSMENT", "RECHECK", "TEMPORARY_ASSISTANCE")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Longest validity per purpose: a recheck authorization may stand for the assistance period.
MAX_VALIDITY_DAYS: Final = {"ASSESSMENT": 366, "TEMPORARY_ASSISTANCE": 366, "RECHECK": 5 * 366}
# Issue 13 (input): the payload's bounds (docs/api.md, "Input limits"); names and evidence are one-line text.
MAX_AUTHORIZED_MEMBERS: Final = 30  # as many as a verification request may declare
MAX_MEMBER_NAME: Final = 100
MAX_ORGANISATION: Final = 200
MAX_DEPARTMENTS: Final = 64
MAX_EVIDENCE_ENTRIES: Final = 16
MAX_EVIDENCE_KEY: Final = 64
MAX_EVIDENCE_VALUE: Final = 1024
# The deepest nesting of arrays and objects a signed payload may have (an authorization needs 3).
MAX_JSON_DEPTH: Final = 16
# The calendar dates an authorization may name: nothing near year 1 or 9999, where a day more overflows.
EARLIEST_DATE: Final = dt.date(2000, 1, 1)
LATEST_DATE: Final = dt.date(2199, 12, 31)
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class AuthorizationError(FieldError):
    """An authorization payload that is not acceptable; ``field`` names where."""


@dataclass(frozen=True, slots=True)
class AuthorizedMember:
    """A household member the authorization names: identity number and name, as signed."""

    id_number: str
    name: str


@dataclass(frozen=True, slots=True)
class AuthorizationPayload:
    """The signed content of an authorization, as the case system wrote it."""

    commissioned_by: str
    purpose: str
    members: tuple[AuthorizedMember, ...]
    departments: tuple[str, ...]
    valid_from: dt.date
    valid_until: dt.date
    evidence: Mapping[str, str]
    # When the signatures were made, as the signer claims it (optional): every key must be valid then too.
    signed_at: dt.datetime | None = None

    def covers_department(self, department: str) -> bool:
        """Whether the authorization lets hedui ask ``department`` (named, or all departments)."""
        return ALL_DEPARTMENTS in self.departments or department in self.departments

    def member_ids(self) -> frozenset[str]:
        """The identity numbers of the members named."""
        return frozenset(m.id_number for m in self.members)


@dataclass(frozen=True, slots=True)
class RegisteredAuthorization:
    """An authorization the service accepted, with its lifecycle state.

    ``signers`` are the signatures that hold now (checked again against the trust store each time the
    authorization is loaded); ``signature_problem`` says why none does any more (a key revoked with
    effect from before the registration). A member counts as having signed only through ``signers``.
    """

    authorization_id: str
    payload: AuthorizationPayload
    signed_by: tuple[str, ...]
    registered_at: dt.datetime
    revoked_at: dt.datetime | None = None
    revoke_reason: str | None = None
    signers: tuple[Signer, ...] = ()
    signature_problem: str | None = None

    @property
    def name(self) -> str:
        """The resource name, ``authorizations/{id}``."""
        return f"authorizations/{self.authorization_id}"

    def signed_for(self, id_number: str) -> bool:
        """Whether a valid signature covers this member: the organisation's, or the member's own."""
        return self.signature_problem is None and any(s.covers(id_number) for s in self.signers)


def json_too_deep(data: bytes, deepest: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than ``deepest`` in JSON text ``data`` (strings skipped), found
    without parsing it: the check that keeps a payload of 100,000 ``[`` away from the recursive parser."""
    if data.count(b"[") + data.count(b"{") <= deepest:
        return False  # not even that many brackets
    depth = 0
    for token in _JSON_TOKEN.finditer(data):
        mark = token.group(0)
        if mark in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                return True
        elif mark in (b"]", b"}"):
            depth -= 1
    return False


def _text(raw: Mapping[str, object], key: str, path: str, longest: int = MAX_ORGANISATION) -> str:
    """A required one-line text of at most ``longest`` characters."""
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise AuthorizationError(f"{path}{key}", "is required and must be a non-empty string")
    problem = one_line_problem(value, longest)
    if problem is not None:
        raise AuthorizationError(f"{path}{key}", problem)
    return value


def _date(raw: Mapping[str, object], key: str) -> dt.date:
    value = _text(raw, key, "")
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        date = dt.date.fromisoformat(value)
    except ValueError:
        raise AuthorizationError(key, f"{shown(value)} is not a date YYYY-MM-DD") from None
    if not EARLIEST_DATE <= date <= LATEST_DATE:
        raise AuthorizationError(key, f"must be a date from {EARLIEST_DATE} to {LATEST_DATE}")
    return date


def parse_instant(value: object, field: str) -> dt.datetime:
    """An RFC 3339 instant with its offset (``2026-11-01T09:30:00+08:00`` or ``…Z``), as UTC."""
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise AuthorizationError(field, str(exc)) from None


_FIELDS: Final = frozenset(
    {"commissioned_by", "purpose", "members", "departments", "valid_from", "valid_until", "evidence", "signed_at"}
)


def _purpose(raw: Mapping[str, object]) -> str:
    """The purpose, one of :data:`PURPOSES`."""
    purpose = _text(raw, "purpose", "")
    if purpose not in PURPOSES:
        raise AuthorizationError("purpose", f"{shown(purpose)} is not one of {', '.join(PURPOSES)}")
    return purpose


def _members(raw: Mapping[str, object]) -> tuple[AuthorizedMember, ...]:
    """The members named, each with a valid identity number named once."""
    members_raw = raw.get("members")
    if not isinstance(members_raw, list) or not members_raw:
        raise AuthorizationError("members", "must be a non-empty list")
    if len(members_raw) > MAX_AUTHORIZED_MEMBERS:
        raise AuthorizationError("members", f"more than {MAX_AUTHORIZED_MEMBERS} members")
    members: list[AuthorizedMember] = []
    seen: set[str] = set()
    for index, item in enumerate(members_raw):
        path = f"members[{index}]."
        if not isinstance(item, dict):
            raise AuthorizationError(f"members[{index}]", "must be an object")
        try:
            number = validate_identity_number(_text(item, "id_number", path))
        except IdentityNumberError as exc:
            raise AuthorizationError(f"{path}id_number", str(exc)) from None
        if number in seen:
            raise AuthorizationError(f"{path}id_number", "duplicated member")
        seen.add(number)
        members.append(AuthorizedMember(number, _text(item, "name", path, MAX_MEMBER_NAME)))
    return tuple(members)


def _departments(raw: Mapping[str, object], declared: Collection[str] | None) -> tuple[str, ...]:
    """The departments named (default: all), each a well-formed id named once and, when ``declared`` is given,
    one of those."""
    departments_raw = raw.get("departments", [ALL_DEPARTMENTS])
    if not isinstance(departments_raw, list) or not departments_raw:
        raise AuthorizationError("departments", "must be a non-empty list")
    if len(departments_raw) > MAX_DEPARTMENTS:
        raise AuthorizationError("departments", f"more than {MAX_DEPARTMENTS} departments")
    for index, department in enumerate(departments_raw):
        if department != ALL_DEPARTMENTS and not is_department_id(department):
            raise AuthorizationError(
                f"departments[{index}]",
                f"{shown(department)} is not a department id (2-40 of a-z, 0-9 and _, starting with a letter; or *)",
            )
        if declared is not None and department != ALL_DEPARTMENTS and department not in declared:
            raise AuthorizationError(f"departments[{index}]", f"unknown department {department!r}")
    if len(set(departments_raw)) != len(departments_raw):
        raise AuthorizationError("departments", "a department is named twice")
    return tuple(str(d) for d in departments_raw)


def _validity(raw: Mapping[str, object], purpose: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The validity window: in order, not over by ``today``, no longer than the purpose allows."""
    valid_from = _date(raw, "valid_from")
    valid_until = _date(raw, "valid_until")
    if valid_until < valid_from:
        raise AuthorizationError("valid_until", "is before valid_from")
    if valid_until < today:
        raise AuthorizationError("valid_until", "the validity window is in the past")
    longest = MAX_VALIDITY_DAYS[purpose]
    if (valid_until - valid_from).days > longest:
        raise AuthorizationError("valid_until", f"validity longer than {longest} days for {purpose}")
    return valid_from, valid_until


def _evidence(raw: Mapping[str, object]) -> dict[str, str]:
    """The evidence references: an object of at most :data:`MAX_EVIDENCE_ENTRIES` one-line strings (default:
    none), keys of at most :data:`MAX_EVIDENCE_KEY` characters, values of at most :data:`MAX_EVIDENCE_VALUE`."""
    evidence_raw = raw.get("evidence", {})
    if not isinstance(evidence_raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in evidence_raw.items()
    ):
        raise AuthorizationError("evidence", "must be an object of strings")
    if len(evidence_raw) > MAX_EVIDENCE_ENTRIES:
        raise AuthorizationError("evidence", f"more than {MAX_EVIDENCE_ENTRIES} entries")
    for key, value in evidence_raw.items():
        problem = one_line_problem(key, MAX_EVIDENCE_KEY)
        if problem is not None:
            raise AuthorizationError("evidence", f"a key {problem}")
        problem = one_line_problem(value, MAX_EVIDENCE_VALUE)
        if problem is not None:
            raise AuthorizationError("evidence", f"a value {problem}")
    return dict(evidence_raw)


def parse_authorization_payload(
    payload: bytes, today: dt.date, *, declared: Collection[str] | None
) -> AuthorizationPayload:
    """Parse and check the payload bytes of an authorization envelope.

    Every department named must be a well-formed id (or ``*``). ``declared`` are the departments the service
    declares (its catalogue's ids); one it does not is an error ``unknown department``. ``None`` leaves that to
    the caller (:func:`unknown_departments`); the default, today's six, is deprecated: pass the catalogue's ids.
    """
    if json_too_deep(payload):
        raise AuthorizationError("envelope.payload", f"nests arrays and objects deeper than {MAX_JSON_DEPTH}")
    raw = json_object(payload, _FIELDS, where="envelope.payload", error=AuthorizationError)
    commissioned_by = _text(raw, "commissioned_by", "")
    purpose = _purpose(raw)
    members = _members(raw)
    departments = _departments(raw, declared)
    valid_from, valid_until = _validity(raw, purpose, today)
    evidence = _evidence(raw)
    signed_at = parse_instant(raw["signed_at"], "signed_at") if "signed_at" in raw else None
    return AuthorizationPayload(
        commissioned_by=commissioned_by,
        purpose=purpose,
        members=members,
        departments=departments,
        valid_from=valid_from,
        valid_until=valid_until,
        evidence=evidence,
        signed_at=signed_at,
    )


def unknown_departments(payload: AuthorizationPayload, catalogue_ids: Collection[str]) -> tuple[str, ...]:
    """The departments an authorization names that the service does not declare (``*`` names none), in its order.

    The service calls this at registration with its catalogue's ids; an authorization naming one is refused
    (``departments[i]: unknown department 'x'``, :func:`require_declared_departments`).
    """
    return tuple(d for d in payload.departments if d != ALL_DEPARTMENTS and d not in catalogue_ids)


def require_declared_departments(payload: AuthorizationPayload, catalogue_ids: Collection[str]) -> None:
    """Raise :class:`AuthorizationError` at the first department the service does not declare."""
    unknown = unknown_departments(payload, catalogue_ids)
    if unknown:
        index = payload.departments.index(unknown[0])
        raise AuthorizationError(f"departments[{index}]", f"unknown department {unknown[0]!r}")


def authorization_payload(
    *,
    commissioned_by: str,
    purpose: str,
    members: list[AuthorizedMember],
    valid_from: dt.date,
    valid_until: dt.date,
    departments: tuple[str, ...] = (ALL_DEPARTMENTS,),
    evidence: Mapping[str, str] | None = None,
    signed_at: dt.datetime | None = None,
) -> bytes:
    """Payload bytes of an authorization, as a case system would write them before signing."""
    body: dict[str, object] = {
        "commissioned_by": commissioned_by,
        "purpose": purpose,
        "members": [{"id_number": m.id_number, "name": m.name} for m in members],
        "departments": list(departments),
        "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat(),
        "evidence": dict(evidence or {}),
    }
    if signed_at is not None:
        if signed_at.tzinfo is None:
            raise ValueError("signed_at must be timezone-aware")
        body["signed_at"] = format_rfc3339(signed_at)
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")
