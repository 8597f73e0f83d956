"""The connector interface: how hedui asks one department about a batch of people."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from connectors.records import DepartmentRecord

__all__ = [
    "Connector",
    "ConnectorDescription",
    "DepartmentAnswer",
    "DepartmentQuery",
    "DepartmentRefused",
    "DepartmentUnavailable",
    "Ticket",
]


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
    """One batched question to one department, made under an authorization."""

    query_id: str
    id_numbers: tuple[str, ...]
    authorization_reference: str
    purpose: str
    idempotency_key: str = ""


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
