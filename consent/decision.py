"""The one place that decides whom hedui may query: a pure function of authorizations.

A member may be queried at a department when one of the named authorizations names the member, is not
revoked, was given for this purpose and to this organisation, is valid on the day, covers the
department, and holds a valid signature for the member: the commissioning organisation's (vouching
for the paper form) or the member's own certified key. Signatures are checked when an authorization is
loaded (:func:`consent.check.registered_authorization`), so a key revoked since counts here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from consent.authorization import RegisteredAuthorization

__all__ = ["ConsentDecision", "Refusal", "decide"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A member that must not be queried at a department, and why."""

    id_number: str
    department: str
    reason: str


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    """Per department, the members that may be queried and the authorization that allows it."""

    allowed: dict[str, dict[str, str]] = field(default_factory=dict)
    refused: tuple[Refusal, ...] = ()

    def members_for(self, department: str) -> tuple[str, ...]:
        """The identity numbers of the members that may be asked about at ``department``."""
        return tuple(self.allowed.get(department, {}))

    def authorizations_for(self, department: str) -> tuple[str, ...]:
        """The ids of the authorizations that allow asking ``department``, sorted."""
        return tuple(sorted(set(self.allowed.get(department, {}).values())))


_NOT_NAMED = "member not named in the authorization"


def _why_not_member(
    auth: RegisteredAuthorization,
    named: frozenset[str],
    id_number: str,
    commissioned_by: str,
    on: dt.date,
    purpose: str | None,
) -> str | None:
    """Why ``auth`` does not cover this member at any department (None: it may, department permitting)."""
    payload = auth.payload
    if id_number not in named:
        return _NOT_NAMED
    if auth.revoked_at is not None:
        return f"authorization {auth.name} was revoked"
    if auth.signature_problem is not None:
        return f"authorization {auth.name} is no longer validly signed: {auth.signature_problem}"
    if not auth.signed_for(id_number):
        return f"authorization {auth.name} names this member but holds neither their signature nor the organisation's"
    if purpose is not None and payload.purpose != purpose:
        return f"authorization {auth.name} was given for {payload.purpose}, not {purpose}"
    if payload.commissioned_by != commissioned_by:
        return f"authorization {auth.name} was given to {payload.commissioned_by}, not {commissioned_by}"
    if on < payload.valid_from:
        return f"authorization {auth.name} is valid only from {payload.valid_from.isoformat()}"
    if on > payload.valid_until:
        return f"authorization {auth.name} expired on {payload.valid_until.isoformat()}"
    return None


def decide(
    members: Sequence[str],
    departments: Iterable[str],
    authorizations: Sequence[RegisteredAuthorization],
    commissioned_by: str,
    on: dt.date,
    purpose: str | None = None,
) -> ConsentDecision:
    """Decide, per department and member, whether a valid authorization covers the query.

    With ``purpose``, an authorization covers only queries for the purpose it was given for.
    """
    named = [auth.payload.member_ids() for auth in authorizations]
    # What holds for a member whatever the department, computed once per member and authorization.
    member_reasons = {
        id_number: [
            _why_not_member(auth, names, id_number, commissioned_by, on, purpose)
            for auth, names in zip(authorizations, named, strict=True)
        ]
        for id_number in members
    }
    allowed: dict[str, dict[str, str]] = {}
    refused: list[Refusal] = []
    for department in departments:
        allowed[department] = {}
        for id_number in members:
            reasons: list[str] = []
            for auth, why in zip(authorizations, member_reasons[id_number], strict=True):
                if why is None and not auth.payload.covers_department(department):
                    why = f"authorization {auth.name} does not cover {department}"
                if why is None:
                    allowed[department][id_number] = auth.authorization_id
                    break
                if why != _NOT_NAMED:
                    reasons.append(why)
            else:
                reason = "; ".join(reasons) if reasons else "no authorization signed by this member"
                refused.append(Refusal(id_number, department, reason))
    return ConsentDecision(allowed=allowed, refused=tuple(refused))
