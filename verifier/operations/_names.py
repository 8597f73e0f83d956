"""What every operation checks the same way: who calls, resource names, request ids, page tokens."""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from dataclasses import dataclass

from verifier.errors import FieldViolation, Reason, ServiceError
from verifier.organisations import Role, Scope, area_prefix, covers

__all__ = [
    "COUNTER",
    "IN_PROCESS",
    "LEAF_INDEX",
    "MAX_PAGE_SIZE",
    "MAX_REQUEST_ID",
    "NOBODY",
    "NO_ORGANISATION",
    "RESOURCE_ID",
    "Caller",
    "check_request_id",
    "count_scope_refusals",
    "id_from",
    "refused_for_scope",
]

MAX_PAGE_SIZE = 100
MAX_REQUEST_ID = 200
# Report versions and page offsets: plain ASCII digits that fit the database's 32-bit integers.
COUNTER = re.compile(r"[0-9]{1,9}")
# Audit page tokens: the last entry's leaf index, a 64-bit integer (18 digits always fit).
LEAF_INDEX = re.compile(r"[0-9]{1,18}")
RESOURCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the operator (case worker) and the client (peer address or certificate name).

    Issue 13: a call through the API also carries the client's ``organisation`` and ``roles`` (role names), which
    the operations scope what it may see by. No organisation: a caller in this process (a command on the
    database, a test), which sees everything — made by :meth:`internal` (or :data:`IN_PROCESS`), never by the API,
    which makes every caller from its client, or :meth:`unidentified` (nothing) when it has none (review S9).
    """

    operator: str = "unknown"
    client: str = "unknown"
    organisation: str = ""
    roles: frozenset[str] = frozenset()

    @classmethod
    def internal(cls, operator: str = "unknown", client: str = "unknown") -> Caller:
        """A caller in hedui's own process (a command on the database): not scoped, it sees everything."""
        return cls(operator, client)

    @classmethod
    def unidentified(cls, operator: str, client: str) -> Caller:
        """A call whose client nobody identified: it reads nothing and acts for no organisation (fails closed)."""
        return cls(operator, client, NO_ORGANISATION)

    def reads(self, organisation: str) -> bool:
        """Whether this caller may see a resource of ``organisation``: a case system its own organisation's, a
        supervisor those of its area (read-only), a caller in this process everything."""
        if not self.organisation:
            return True
        if Role.CASE_SYSTEM in self.roles and organisation == self.organisation:
            return True
        return Role.SUPERVISOR in self.roles and covers(self.organisation, organisation)

    @property
    def scope(self) -> Scope | None:
        """What :meth:`reads` lets through, for a database query to filter by (``None``: everything)."""
        if not self.organisation:
            return None
        area = area_prefix(self.organisation) if Role.SUPERVISOR in self.roles else None
        own = Role.CASE_SYSTEM in self.roles or Role.SUPERVISOR in self.roles
        return Scope(frozenset({self.organisation}) if own else frozenset(), area)

    def acts_for(self, organisation: str) -> bool:
        """Whether this caller may change what belongs to ``organisation`` (register, create, revoke): a case
        system of that organisation, or a caller in this process."""
        return not self.organisation or (Role.CASE_SYSTEM in self.roles and organisation == self.organisation)

    def check_acts_for(self, organisation: str, field_name: str) -> None:
        """PERMISSION_DENIED (NOT_OWN_ORGANISATION, naming ``field_name``) unless :meth:`acts_for`."""
        if not self.acts_for(organisation):
            raise refused_for_scope(
                ServiceError(
                    Reason.NOT_OWN_ORGANISATION,
                    f"{field_name}: {organisation!r} is not the calling client's organisation ({self.organisation})",
                    [FieldViolation(field_name, "must be the calling client's organisation")],
                )
            )


# No organisation's id (a NUL is refused in every organisation id): the organisation of an unidentified caller.
NO_ORGANISATION = "\x00unidentified"
IN_PROCESS = Caller.internal()
NOBODY = IN_PROCESS  # the operations' default caller: hedui's own process (named so before issue 13's review)

# Issue 13 (review S3): how the call being served counts a refusal for another organisation's resource, as the
# access interceptor counts its own (one CALL_REFUSED entry per client and minute); none outside a gRPC call.
_scope_refusals: contextvars.ContextVar[Callable[[ServiceError], None] | None] = contextvars.ContextVar(
    "hedui_scope_refusals", default=None
)


def count_scope_refusals(count: Callable[[ServiceError], None]) -> None:
    """Count the scoping refusals of the call this code runs for with ``count`` (the interceptor sets it)."""
    _scope_refusals.set(count)


def refused_for_scope(error: ServiceError) -> ServiceError:
    """``error``, counted as a refused call: another organisation's resource, or commissioning for one."""
    count = _scope_refusals.get()
    if count is not None:
        count(error)
    return error


def check_request_id(request_id: str) -> None:
    """A caller's idempotency key: bounded, no NUL."""
    if len(request_id) > MAX_REQUEST_ID or "\x00" in request_id:
        raise ServiceError.invalid([FieldViolation("request_id", f"at most {MAX_REQUEST_ID} characters, no NUL")])


def id_from(name: str, collection: str, field_name: str) -> str:
    """The id of a resource name ``{collection}/{id}``; ``field_name`` is blamed when it is not one."""
    prefix = f"{collection}/"
    if not name.startswith(prefix) or not RESOURCE_ID.fullmatch(name[len(prefix) :]):
        raise ServiceError.invalid([FieldViolation(field_name, f"must be a resource name {collection}/{{id}}")])
    return name[len(prefix) :]
