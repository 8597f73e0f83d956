"""Consent proven by the log alone (issue 12, item 9): nobody was looked up without an authorization.

``hedui audit verify`` feeds every entry, in log order, to a :class:`ConsentLedger`. Each
``DEPARTMENT_QUERY_SENT`` must follow, in the log, the ``VERIFICATION_CREATED`` of its case and, for every
person it asked about, an ``AUTHORIZATION_REGISTERED`` among those the query names that

* names that person (the same keyed hash),
* was given to the organisation that opened the case, for the case's purpose,
* covers the department (named, or all departments),
* was valid on the day of the query (China time; a few minutes' grace either side for clocks),
* was not revoked earlier in the log (``AUTHORIZATION_REVOKED``), and
* still holds a signature by a key not revoked from before it was registered (``TRUSTED_KEY_REVOKED``).

What the log cannot show is *which* signer stands for which member (the entry records the signing keys and
their kinds, not whose they are): that part of the consent rule is checked by the service when it decides,
not here. A supervisor thus proves from the log alone that every person asked about was named in a valid,
unrevoked authorization for that department and purpose, given to that organisation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from consent.departments import ALL_DEPARTMENTS
from consent.identity import CHINA_TIME

__all__ = ["CONSENT_KINDS", "ConsentLedger"]

CONSENT_KINDS: Final = frozenset(
    {
        "VERIFICATION_CREATED",
        "AUTHORIZATION_REGISTERED",
        "AUTHORIZATION_REVOKED",
        "TRUSTED_KEY_REVOKED",
        "DEPARTMENT_QUERY_SENT",
    }
)
"""The kinds of entry :meth:`ConsentLedger.take` reads; the checker hands it no others."""

_GRACE = dt.timedelta(minutes=5)
_SHOWN = 12  # characters of a keyed hash named in a message


@dataclass(frozen=True, slots=True)
class _Registration:
    """An AUTHORIZATION_REGISTERED entry as the check needs it."""

    subjects: frozenset[str]
    purpose: object
    commissioned_by: object
    departments: tuple[str, ...]
    valid_from: dt.date | None
    valid_until: dt.date | None
    signed_by: tuple[str, ...]
    registered_at: dt.datetime


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _registration(body: Mapping[str, Any], at: dt.datetime) -> _Registration:
    details = body["details"]
    return _Registration(
        subjects=frozenset(body["subjects"]),
        purpose=details.get("purpose"),
        commissioned_by=details.get("commissioned_by"),
        departments=tuple(details.get("departments") or ()),
        valid_from=_date(details.get("valid_from")),
        valid_until=_date(details.get("valid_until")),
        signed_by=tuple(details.get("signed_by") or ()),
        registered_at=at,
    )


class ConsentLedger:
    """What the log has said so far about cases, authorizations and keys; checks each query against it."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self._cases: dict[str, tuple[object, object]] = {}
        self._registered: dict[str, _Registration] = {}
        self._revoked: set[str] = set()
        self._keys_revoked: dict[str, dt.datetime] = {}

    def take(self, body: Mapping[str, Any], at: dt.datetime | None = None) -> str | None:
        """The next entry (decoded, its fields checked; ``at`` its time if parsed already); why a query it records
        is not covered, else ``None``. Entries of kinds outside :data:`CONSENT_KINDS` change nothing."""
        kind = body["kind"]
        if at is None:
            at = dt.datetime.fromisoformat(body["time"])
        details = body["details"]
        if kind == "VERIFICATION_CREATED":
            self._cases[body["verification"]] = (details.get("purpose"), details.get("commissioned_by"))
        elif kind == "AUTHORIZATION_REGISTERED":
            self._registered[body["authorization"]] = _registration(body, at)
        elif kind == "AUTHORIZATION_REVOKED":
            self._revoked.add(body["authorization"])
        elif kind == "TRUSTED_KEY_REVOKED":
            revoked_at = details.get("revoked_at")
            try:
                self._keys_revoked[str(details.get("keyid"))] = dt.datetime.fromisoformat(str(revoked_at))
            except ValueError:
                return f"a key revocation whose revoked_at {revoked_at!r} is not an instant"
        elif kind == "DEPARTMENT_QUERY_SENT":
            return self._query(body, at)
        return None

    def _query(self, body: Mapping[str, Any], at: dt.datetime) -> str | None:
        """Why the query is not covered for one of the people it asked about, or ``None``."""
        case = self._cases.get(body["verification"])
        if case is None:
            return f"a query for verification {body['verification']!r}, which the log never saw created"
        names = [name for name in body["authorization"].split(",") if name]
        if not names:
            return "a query naming no authorization"
        for subject in body["subjects"]:
            reasons = [self._why_not(name, subject, body["department"], case, at) for name in names]
            if all(reasons):
                return f"the query at {body['department']} about {subject[:_SHOWN]}…: {'; '.join(reasons)}"
        return None

    def _why_not(self, name: str, subject: str, department: str, case: tuple[object, object], at: dt.datetime) -> str:
        """Why authorization ``name`` does not cover ``subject`` at ``department`` at ``at`` ('' when it does)."""
        registered = self._registered.get(name)
        if registered is None:
            return f"authorization {name} was not registered earlier in the log"
        problem = ""
        if subject not in registered.subjects:
            problem = "does not name this person"
        elif name in self._revoked:
            problem = "was revoked before the query"
        elif (registered.purpose, registered.commissioned_by) != case:
            problem = "was given for another purpose or organisation than the case's"
        elif ALL_DEPARTMENTS not in registered.departments and department not in registered.departments:
            problem = f"does not cover {department}"
        elif not self._valid_on(registered, at):
            problem = "was not valid on the day of the query"
        elif not any(self._still_signed(key, registered) for key in registered.signed_by):
            problem = "holds no signature by a key that was not revoked before it was registered"
        return f"authorization {name} {problem}" if problem else ""

    @staticmethod
    def _valid_on(registered: _Registration, at: dt.datetime) -> bool:
        if registered.valid_from is None or registered.valid_until is None:
            return False
        early, late = (at + _GRACE).astimezone(CHINA_TIME).date(), (at - _GRACE).astimezone(CHINA_TIME).date()
        return registered.valid_from <= early and late <= registered.valid_until

    def _still_signed(self, key: str, registered: _Registration) -> bool:
        revoked_at = self._keys_revoked.get(key)
        return revoked_at is None or registered.registered_at < revoked_at
