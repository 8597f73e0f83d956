"""The verification request: parsed and checked before anything is stored or queried."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from consent.authorization import RegisteredAuthorization
from consent.identity import IdentityNumberError, china_today, mask, scrub, validate_identity_number
from consent.text import UNPRINTABLE_CATEGORIES, one_line_problem, shown, unprintable
from verifier.errors import FieldViolation
from verifier.vocabulary import Area, DeductionKind, EmploymentCategory, Purpose, Relation

__all__ = [
    "AREAS",
    "DEDUCTION_KINDS",
    "EMPLOYMENT_CATEGORIES",
    "MAX_AUTHORIZATIONS",
    "MAX_DEDUCTIONS",
    "MAX_EVIDENCE",
    "MAX_FILTER",
    "MAX_MEMBERS",
    "MAX_NAME",
    "MAX_POLICY",
    "MAX_PRINTED_TEXT",
    "MAX_REASON",
    "MAX_TEXT",
    "PURPOSES",
    "RELATIONS",
    "UNPRINTABLE_CATEGORIES",
    "DeclaredDeduction",
    "FieldViolation",
    "Member",
    "RequestError",
    "VerificationRequest",
    "filter_violations",
    "identity_filter",
    "in_instant_range",
    "names_differing",
    "parse_request",
    "revocation_reason",
    "stored_request",
    "unprintable",
]

# The request's vocabularies, in interfaces.md's order: the StrEnums of verifier.vocabulary, each once.
AREAS: Final = tuple(Area)
PURPOSES: Final = tuple(Purpose)
RELATIONS: Final = tuple(Relation)
EMPLOYMENT_CATEGORIES: Final = tuple(EmploymentCategory)
DEDUCTION_KINDS: Final = tuple(DeductionKind)
MAX_MONEY_FEN: Final = 10**13
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_MEMBERS: Final = 30
EARLIEST_APPLICATION: Final = dt.date(2000, 1, 1)
# The longest household address or case number a request may carry (characters).
MAX_PRINTED_TEXT: Final = 200
# Issue 13 (input): every other string and list of a request is bounded too (docs/api.md, "Input limits").
MAX_TEXT: Final = 200  # commissioned_by, the vocabularies, application_date
MAX_NAME: Final = 100  # a member's name
MAX_EVIDENCE: Final = 200  # a declared deduction's evidence reference
MAX_POLICY: Final = 64  # a policy's locality
MAX_DEDUCTIONS: Final = 100
MAX_AUTHORIZATIONS: Final = 16  # authorizations one verification names
MAX_FILTER: Final = 200  # a list filter (commissioned_by, operator, department, verification)
MAX_REASON: Final = 500  # a revocation's reason
_ID_SHAPE: Final = re.compile(r"[0-9]{17}[0-9X]")


class RequestError(ValueError):
    """An invalid request; carries every field violation found (AIP-193 BadRequest)."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = violations
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        super().__init__(f"{first.field}: {first.description}{more}")


def filter_violations(**filters: str) -> list[FieldViolation]:
    """One violation per list filter (keyword: the field's name) that is not one-line text of at most
    :data:`MAX_FILTER` characters: nothing stranger reaches a database's comparison (a NUL breaks PostgreSQL's)."""
    found = []
    for name, value in filters.items():
        problem = one_line_problem(value, MAX_FILTER)
        if problem is not None:
            found.append(FieldViolation(name, problem))
    return found


EARLIEST_INSTANT: Final = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST_INSTANT: Final = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def in_instant_range(instant: dt.datetime) -> bool:
    """Whether an aware instant lies from 1900 to 9998 (UTC): nothing near year 1 or 9999, where moving it to
    UTC or a day on overflows."""
    try:
        return EARLIEST_INSTANT <= instant.astimezone(dt.UTC) < LATEST_INSTANT
    except OverflowError:
        return False


def identity_filter(value: str, field_name: str) -> str:
    """A filter by identity number (a list of a member's authorizations): empty, or an identity number's shape
    (18 characters, 17 digits then a digit or X), normalised; anything else raises :class:`RequestError`."""
    number = value.strip().upper()
    if number and not _ID_SHAPE.fullmatch(number):
        raise RequestError([FieldViolation(field_name, "must be an identity number: 17 digits then a digit or X")])
    return number


def revocation_reason(reason: str) -> str:
    """A revocation's reason as it will be kept for good (in the audit log too): required, bounded,
    and with any identity number typed into it masked."""
    if not reason.strip():
        raise RequestError([FieldViolation("reason", "a revocation needs a reason")])
    if len(reason) > MAX_REASON or "\x00" in reason:
        raise RequestError([FieldViolation("reason", f"at most {MAX_REASON} characters, no NUL")])
    return scrub(reason.strip())


@dataclass(frozen=True, slots=True)
class Member:
    """A declared household member."""

    id_number: str
    name: str
    relation: str
    declared_annual_income_fen: int
    employment_category: str | None = None
    signed: bool = True


@dataclass(frozen=True, slots=True)
class DeclaredDeduction:
    """A rigid expenditure the household declares, with its evidence."""

    id_number: str
    kind: str
    amount_fen: int
    evidence: str


@dataclass(frozen=True, slots=True)
class VerificationRequest:
    """A checked verification request: the household, its declarations and what it is for."""

    application_date: dt.date
    area: str
    purpose: str
    commissioned_by: str
    members: tuple[Member, ...]
    deductions: tuple[DeclaredDeduction, ...] = ()
    previous_report_id: str | None = None
    policy: str = ""
    # Shown on the report as given: the household's address and the case system's case number (issue 14).
    household_address: str = ""
    case_number: str = ""

    def member(self, id_number: str) -> Member:
        """The declared member with this identity number."""
        return next(m for m in self.members if m.id_number == id_number)

    def to_plain(self) -> dict[str, Any]:
        """The request in interfaces.md's JSON shape (the address and case number only when given)."""
        optional = {"household_address": self.household_address, "case_number": self.case_number}
        return {
            **{k: v for k, v in optional.items() if v},
            "application_date": self.application_date.isoformat(),
            "area": self.area,
            "purpose": self.purpose,
            "previous_report_id": self.previous_report_id,
            "commissioned_by": self.commissioned_by,
            "policy": self.policy,
            "members": [
                {
                    "id_number": m.id_number,
                    "name": m.name,
                    "relation": m.relation,
                    "declared_annual_income_fen": m.declared_annual_income_fen,
                    "employment_category": m.employment_category,
                    "signed": m.signed,
                }
                for m in self.members
            ],
            "deductions": [
                {"id_number": d.id_number, "kind": d.kind, "amount_fen": d.amount_fen, "evidence": d.evidence}
                for d in self.deductions
            ],
        }


@dataclass
class _Checker:
    """Collects every violation of one request, so a caller learns all its problems at once."""

    violations: list[FieldViolation] = field(default_factory=list)

    def fail(self, where: str, description: str) -> None:
        self.violations.append(FieldViolation(where, description))

    def text(
        self, raw: Mapping[str, Any], key: str, where: str, *, choices: tuple[str, ...] = (), longest: int = MAX_TEXT
    ) -> str:
        """A required one-line text of at most ``longest`` characters (one of ``choices`` when given)."""
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "is required and must be a non-empty string")
            return ""
        problem = one_line_problem(value, longest)
        if problem is not None:
            self.fail(where, problem)
            return ""
        if choices and value not in choices:
            self.fail(where, f"{shown(value)} is not one of {', '.join(choices)}")
            return ""
        return value

    def money(self, raw: Mapping[str, Any], key: str, where: str) -> int:
        value = raw.get(key, 0 if key == "declared_annual_income_fen" else None)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, "must be an integer amount of fen")
            return 0
        if value < 0:
            self.fail(where, f"must not be negative, got {value}")
            return 0
        if value > MAX_MONEY_FEN:
            self.fail(where, "is implausibly large")
            return 0
        return value

    def identity(self, raw: Mapping[str, Any], where: str) -> str:
        value = raw.get("id_number")
        if not isinstance(value, str):
            self.fail(where, "is required and must be a string")
            return ""
        try:
            return validate_identity_number(value)
        except IdentityNumberError as exc:
            self.fail(where, f"invalid identity number: {exc}")
            return ""


_TOP_KEYS: Final = {
    "application_date",
    "area",
    "purpose",
    "previous_report_id",
    "commissioned_by",
    "members",
    "deductions",
    "policy",
    "household_address",
    "case_number",
}
_MEMBER_KEYS: Final = {
    "id_number",
    "name",
    "relation",
    "declared_annual_income_fen",
    "employment_category",
    "signed",
}
_DEDUCTION_KEYS: Final = {"id_number", "kind", "amount_fen", "evidence"}


def _unknown(check: _Checker, raw: Mapping[str, Any], known: set[str], prefix: str) -> None:
    for key in sorted(set(raw) - known):
        check.fail(f"{prefix}{key}", "unknown field")


def parse_request(raw: object, *, today: dt.date | None = None) -> VerificationRequest:
    """Check a request in interfaces.md's JSON shape; raise :class:`RequestError` listing every problem."""
    check = _Checker()
    if not isinstance(raw, Mapping):
        raise RequestError([FieldViolation("request", "must be a JSON object")])
    _unknown(check, raw, _TOP_KEYS, "")
    application_date = _application_date(check, raw, today)
    area = check.text(raw, "area", "area", choices=AREAS)
    purpose = check.text(raw, "purpose", "purpose", choices=PURPOSES)
    commissioned_by = check.text(raw, "commissioned_by", "commissioned_by")
    previous = _previous_report(check, raw, purpose)
    policy = raw.get("policy") or ""
    if not isinstance(policy, str):
        check.fail("policy", "must be a string")
        policy = ""
    elif (problem := one_line_problem(policy, MAX_POLICY)) is not None:
        check.fail("policy", problem)
        policy = ""
    address, case_number = _optional_text(check, raw, "household_address"), _optional_text(check, raw, "case_number")
    members, seen, given = _members(check, raw)
    deductions = _deductions(check, raw, seen, given)
    if check.violations:
        raise RequestError(check.violations)
    return VerificationRequest(
        application_date=application_date,
        area=area,
        purpose=purpose,
        commissioned_by=commissioned_by,
        members=tuple(members),
        deductions=tuple(deductions),
        previous_report_id=previous,
        policy=policy,
        household_address=address,
        case_number=case_number,
    )


def _optional_text(check: _Checker, raw: Mapping[str, Any], key: str) -> str:
    """An optional one-line text (absent, null or empty: none), printed as given: at most
    :data:`MAX_PRINTED_TEXT` characters, none of them unprintable (:func:`unprintable`)."""
    value = raw.get(key)
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        check.fail(key, "must be a string")
        return ""
    problem = one_line_problem(value, MAX_PRINTED_TEXT)
    if problem is not None:
        check.fail(key, problem)
        return ""
    return value.strip()


def _application_date(check: _Checker, raw: Mapping[str, Any], today: dt.date | None) -> dt.date:
    """The application date: a real date, not in the future (a day's grace), not before 2000."""
    date_text = check.text(raw, "application_date", "application_date")
    if not date_text:
        return dt.date.min
    try:
        if not _DATE.fullmatch(date_text):
            raise ValueError
        application_date = dt.date.fromisoformat(date_text)
    except ValueError:
        check.fail("application_date", f"{shown(date_text)} is not a date YYYY-MM-DD")
        return dt.date.min
    latest = (today or china_today()) + dt.timedelta(days=1)
    if application_date > latest:
        check.fail("application_date", "is in the future")
    elif application_date < EARLIEST_APPLICATION:
        check.fail("application_date", f"is before {EARLIEST_APPLICATION.isoformat()}")
    return application_date


def _previous_report(check: _Checker, raw: Mapping[str, Any], purpose: str) -> str | None:
    """The previous report a RECHECK names (and only a RECHECK)."""
    previous = raw.get("previous_report_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        check.fail("previous_report_id", "must be a report id or null")
        previous = None
    if purpose == "RECHECK" and not previous:
        check.fail("previous_report_id", "is required when purpose is RECHECK")
    elif purpose and purpose != "RECHECK" and previous:
        check.fail("previous_report_id", "only a RECHECK names a previous report")
    return previous


def _members(check: _Checker, raw: Mapping[str, Any]) -> tuple[list[Member], set[str], set[object]]:
    """The declared members (exactly one applicant), the identity numbers seen, and those given as typed."""
    members_raw = raw.get("members")
    if not isinstance(members_raw, list) or not members_raw:
        check.fail("members", "must be a non-empty list")
        members_raw = []
    elif len(members_raw) > MAX_MEMBERS:
        check.fail("members", f"more than {MAX_MEMBERS} members")
        members_raw = []
    members: list[Member] = []
    seen: set[str] = set()
    given: set[object] = set()
    for index, item in enumerate(members_raw):
        if not isinstance(item, Mapping):
            check.fail(f"members[{index}]", "must be an object")
            continue
        members.append(_member(check, item, f"members[{index}].", seen, given))
    applicants = sum(1 for m in members if m.relation == "applicant")
    if members and applicants != 1:
        check.fail("members", f"must name exactly one applicant, found {applicants}")
    return members, seen, given


def _member(check: _Checker, item: Mapping[str, Any], prefix: str, seen: set[str], given: set[object]) -> Member:
    """One declared member; adds its identity number to ``seen`` (and as typed to ``given``)."""
    _unknown(check, item, _MEMBER_KEYS, prefix)
    if isinstance(item.get("id_number"), str):
        given.add(item["id_number"])
    number = check.identity(item, f"{prefix}id_number")
    if number and number in seen:
        check.fail(f"{prefix}id_number", "duplicated member")
    seen.add(number)
    category = item.get("employment_category")
    if category is not None and category not in EMPLOYMENT_CATEGORIES:
        check.fail(
            f"{prefix}employment_category", f"{shown(category)} is not one of {', '.join(EMPLOYMENT_CATEGORIES)}"
        )
        category = None
    signed = item.get("signed", True)
    if signed is None:
        signed = True
    if not isinstance(signed, bool):
        check.fail(f"{prefix}signed", "must be true or false")
        signed = True
    return Member(
        id_number=number,
        name=check.text(item, "name", f"{prefix}name", longest=MAX_NAME),
        relation=check.text(item, "relation", f"{prefix}relation", choices=RELATIONS),
        declared_annual_income_fen=check.money(
            item, "declared_annual_income_fen", f"{prefix}declared_annual_income_fen"
        ),
        employment_category=category,
        signed=signed,
    )


def _deductions(check: _Checker, raw: Mapping[str, Any], seen: set[str], given: set[object]) -> list[DeclaredDeduction]:
    """The declared deductions, each of a declared member; employment cost is never declared."""
    deductions_raw = raw.get("deductions", [])
    if deductions_raw is None:
        deductions_raw = []
    if not isinstance(deductions_raw, list):
        check.fail("deductions", "must be a list")
        deductions_raw = []
    elif len(deductions_raw) > MAX_DEDUCTIONS:
        check.fail("deductions", f"more than {MAX_DEDUCTIONS} deductions")
        deductions_raw = []
    deductions: list[DeclaredDeduction] = []
    for index, item in enumerate(deductions_raw):
        prefix = f"deductions[{index}]."
        if not isinstance(item, Mapping):
            check.fail(f"deductions[{index}]", "must be an object")
            continue
        _unknown(check, item, _DEDUCTION_KEYS, prefix)
        number = check.identity(item, f"{prefix}id_number")
        if number and number not in seen and item.get("id_number") not in given:
            check.fail(f"{prefix}id_number", "is not a declared member")
        kind = check.text(item, "kind", f"{prefix}kind", choices=DEDUCTION_KINDS)
        if kind == "employment_cost":
            check.fail(f"{prefix}kind", "employment_cost is computed from verified wages, not declared")
        deductions.append(
            DeclaredDeduction(
                id_number=number,
                kind=kind,
                amount_fen=check.money(item, "amount_fen", f"{prefix}amount_fen"),
                evidence=check.text(item, "evidence", f"{prefix}evidence", longest=MAX_EVIDENCE),
            )
        )
    return deductions


def _same_name(first: str, second: str) -> bool:
    """Whether two spellings of a name are the same name: equal once NFC-normalised, outer spaces dropped."""
    return unicodedata.normalize("NFC", first).strip() == unicodedata.normalize("NFC", second).strip()


def names_differing(
    request: VerificationRequest, authorizations: Iterable[RegisteredAuthorization]
) -> list[FieldViolation]:
    """One violation (``members[i].name``) per member whose name differs from the name an authorization the
    request names gives for the same identity number: the person who consented is the person asked about, by
    number and by name (neither name is echoed; the number is masked)."""
    signed_names: dict[str, list[tuple[str, str]]] = {}
    for auth in authorizations:
        for signed in auth.payload.members:
            signed_names.setdefault(signed.id_number, []).append((auth.name, signed.name))
    violations = []
    for index, member in enumerate(request.members):
        differing = [
            where for where, name in signed_names.get(member.id_number, ()) if not _same_name(name, member.name)
        ]
        if differing:
            violations.append(
                FieldViolation(
                    f"members[{index}].name",
                    f"differs from the name {differing[0]} gives for member {mask(member.id_number)}",
                )
            )
    return violations


@functools.lru_cache(maxsize=4096)
def stored_request(text: str) -> VerificationRequest:
    """A stored request, parsed again (it was checked when it was stored); cached, as it never changes."""
    return parse_request(json.loads(text), today=dt.date.max - dt.timedelta(days=2))
