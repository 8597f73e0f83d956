"""The connector interface: how hedui asks one department about a batch of people."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

from connectors.records import DepartmentRecord

__all__ = [
    "IDEMPOTENCY_KEY",
    "Connector",
    "ConnectorDescription",
    "DepartmentAnswer",
    "DepartmentQuery",
    "DepartmentRefused",
    "DepartmentUnavailable",
    "Ticket",
    "idempotency_keys",
]

IDEMPOTENCY_KEY: Final = re.compile(r"[A-Za-z0-9._:-]{1,200}")
"""One idempotency key: 1 to 200 letters, digits, ``.``, ``_``, ``:`` or ``-`` (no commas: they join a batch's keys)."""


@dataclass(frozen=True, slots=True)
class ConnectorDescription:
    """What a connector says about itself; hedui keeps to these limits whatever the load.

    ``max_identities_per_second`` caps identity numbers asked about per second (0: only the query
    rate limits). ``shared_batches`` says whether identity numbers of several verifications (under
    their own authorization references, joined by commas) may share one call.
    """

    department: str
    data_categories: tuple[str, ...]
    max_batch_size: int = 100
    max_queries_per_second: int = 50
    asynchronous: bool = False
    max_identities_per_second: int = 0
    max_concurrent_queries: int = 8
    shared_batches: bool = False


@dataclass(frozen=True, slots=True)
class DepartmentQuery:
    """One batched question to one department, made under an authorization.

    ``idempotency_key`` names this asking (:data:`IDEMPOTENCY_KEY`; hedui's pipeline sets
    ``VERIFICATION.DEPARTMENT.REASON``, reason ``1`` for a verification's first asking). A shared
    batch carries its parts' keys joined by commas, in the order of ``authorization_reference``'s
    (:func:`idempotency_keys` splits and checks them). The rule every department keeps: an identity
    number is looked up at most once per key; a repeated (key, identity number) is answered from
    what was answered the first time (the same records, the same ``answered_at``) without looking
    the person up again, and in a shared batch every (key, identity number) pair of the call counts
    as looked up. A department that answers with tickets answers a repeated key with the same ticket
    (or, once it is ready, its answer). hedui asks again with the same key when it cannot know
    whether the first asking arrived.
    """

    query_id: str
    id_numbers: tuple[str, ...]
    authorization_reference: str
    purpose: str
    idempotency_key: str


def idempotency_keys(text: str, most: int | None = None) -> tuple[str, ...]:
    """The keys of an ``idempotency_key`` (one, or a shared batch's joined by commas), each checked, in order.

    A ``ValueError`` says what is wrong (the caller names the field): an empty or malformed key, or
    more than ``most`` keys (a shared batch has no more parts than identity numbers it may carry).
    Repeated keys count once.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("required: the key of this asking")
    keys = tuple(dict.fromkeys(text.split(",")))
    if most is not None and len(keys) > most:
        raise ValueError(f"{len(keys)} keys; at most {most} (one per part of a shared batch)")
    for index, key in enumerate(keys):
        if not IDEMPOTENCY_KEY.fullmatch(key):
            # The key itself is not echoed: whatever it holds goes no further than here.
            which = f"key {index + 1} of {len(keys)}" if len(keys) > 1 else "the key"
            raise ValueError(f"{which} must be 1 to 200 letters, digits, '.', '_', ':' or '-'")
    return keys


@dataclass(frozen=True, slots=True)
class DepartmentAnswer:
    """A department's answer: normalised records, each with its record id as evidence."""

    department: str
    records: tuple[DepartmentRecord, ...]
    answered_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Ticket:
    """An accepted query whose answer comes later; poll it after ``ready_after``.

    ``ticket_id`` must let the connector find the answer again after hedui restarts.
    """

    department: str
    ticket_id: str
    ready_after: dt.datetime


@dataclass(slots=True)
class DepartmentUnavailable(Exception):
    """The department could not answer now (down, timed out, overloaded). Transient."""

    department: str
    reason: str
    transient: bool = field(default=True)

    def __str__(self) -> str:
        return f"{self.department}: {self.reason}"


@dataclass(slots=True)
class DepartmentRefused(Exception):
    """The department refused the query (e.g. no authorization reference). Not retried."""

    department: str
    reason: str

    def __str__(self) -> str:
        return f"{self.department} refused: {self.reason}"


@runtime_checkable
class Connector(Protocol):
    """A department connector. Implementations must be safe to call concurrently."""

    def describe(self) -> ConnectorDescription:
        """Department, data categories, batch size, rate limit, asynchronous or not."""
        ...

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        """Ask about every identity number of the batch; answer now or hand back a ticket.

        Raises :class:`DepartmentUnavailable` or :class:`DepartmentRefused`.
        """
        ...

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        """Ask for a ticket's answer; the same or a new ticket while it is not ready."""
        ...
