"""The rule every department keeps: an identity number is looked up at most once per idempotency key.

hedui names each asking with a key (:attr:`connectors.base.DepartmentQuery.idempotency_key`) and
asks again with the same key when it cannot know whether its first asking arrived. A department
answers a repeated (key, identity number) from what it answered the first time — the same records,
the same ``answered_at`` — without looking the person up again.

:class:`AnswerStore` keeps those first answers for a connector (the sandbox's and the reference
server's): per (key, identity number) the records about that person and the answer's time, so
that a shared batch (keys joined by commas) and a later query of one of its parts agree. It also
remembers the tickets of asynchronous askings, so that a repeated key gets the same ticket, and per
(key, identity number) the ticket whose answer will answer that person, so that a query of some of
a ticket's people under its key (fewer people, a part of a shared batch) is no second look-up.
:class:`OncePerKey` keeps the rule in front of any connector (``hedui connector serve --entry-point``
serves a department's own connector through it). :class:`QueryLog` writes one line per identity
number actually looked up (``hedui connector serve --query-log``), for a test or an auditor to count.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import hashlib
import json
import secrets
import threading
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Generic, TypeVar

from connectors.base import (
    Connector,
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    Ticket,
    idempotency_keys,
)
from connectors.records import AnswersWith, DepartmentRecord, records_about
from connectors.wire import format_instant

__all__ = [
    "DEFAULT_MAX_PAIRS",
    "OWN_TICKET_PREFIX",
    "AnswerStore",
    "KeptAnswer",
    "OncePerKey",
    "QueryLog",
    "subject_digest",
]

DEFAULT_MAX_PAIRS: Final = 100_000
"""(key, identity number) pairs an :class:`AnswerStore` keeps by default (and as many tickets)."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """What was answered about one person under one key: the records about them, and when."""

    records: tuple[DepartmentRecord, ...]
    answered_at: dt.datetime


class _FirstIn(Generic[K, V]):
    """A mapping of at most ``limit`` items; the oldest goes first when a new one would pass the limit."""

    def __init__(self, limit: int) -> None:
        self._items: collections.OrderedDict[K, V] = collections.OrderedDict()
        self._limit = limit

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def add(self, key: K, value: V) -> None:
        """Keep ``value`` unless ``key`` is already kept (the first answer stays)."""
        if key in self._items:
            return
        self._items[key] = value
        while len(self._items) > self._limit:
            self._items.popitem(last=False)


class AnswerStore:
    """The first answer per (key, identity number), and the ticket per asking: in memory, bounded.

    A ticket is kept per asking (the whole key and the same people: :meth:`ticket_for`) and per
    (key, identity number) pair it looks up (:meth:`pending`, until the pair's answer is kept).

    Bounded: at most ``max_pairs`` (key, identity number) pairs, as many tickets and as many pending
    pairs; when a new one
    would pass the bound, the oldest is forgotten (first in, first out). A pair holds references to
    the records about one person (the records themselves are the connector's), some 300 bytes, and
    a ticket its id (some 500 bytes for a household): at the default bound, a few tens of MB. A pair
    forgotten — after ``max_pairs`` newer ones, or when the process restarts — is looked up again if
    asked again: keep the bound above the pairs hedui can have in doubt at once (a few verifications'
    worth per second of its lease time; the default :data:`DEFAULT_MAX_PAIRS` is far above that).

    ``about`` is the department (or its record kinds): which records of an answer are about whom
    (police: the household register of each person asked about). Not safe across threads; one event
    loop, and no ``await`` between :meth:`missing` and :meth:`settle`.
    """

    def __init__(self, about: AnswersWith, max_pairs: int = DEFAULT_MAX_PAIRS) -> None:
        if max_pairs < 1:
            raise ValueError("max_pairs must be at least 1")
        self._about = about
        self._pairs: _FirstIn[tuple[str, str], KeptAnswer] = _FirstIn(max_pairs)
        self._tickets: _FirstIn[tuple[str, frozenset[str]], Ticket] = _FirstIn(max_pairs)
        self._pending: _FirstIn[tuple[str, str], Ticket] = _FirstIn(max_pairs)

    def __len__(self) -> int:
        """(key, identity number) pairs kept."""
        return len(self._pairs)

    def _kept(self, keys: Sequence[str], id_number: str) -> KeptAnswer | None:
        for key in keys:
            kept = self._pairs.get((key, id_number))
            if kept is not None:
                return kept
        return None

    def missing(self, keys: Sequence[str], id_numbers: Sequence[str]) -> tuple[str, ...]:
        """The identity numbers not yet answered under any of ``keys``: the ones to look up, in order."""
        return tuple(dict.fromkeys(n for n in id_numbers if self._kept(keys, n) is None))

    def settle(
        self,
        department: str,
        keys: Sequence[str],
        id_numbers: Sequence[str],
        looked_up: Sequence[DepartmentRecord] = (),
        at: dt.datetime | None = None,
    ) -> DepartmentAnswer:
        """The answer to ``id_numbers`` under ``keys``; what was looked up now (``looked_up`` at ``at``) is kept.

        ``looked_up`` holds the records found for :meth:`missing`'s identity numbers (``at``: when);
        every other identity number is answered from what was kept. Every (key, identity number)
        pair of the call is kept, with the answer's ``answered_at``: the earliest of the kept answers
        it is made of (and ``at`` if anyone was looked up now), so that asking again gives it again.
        Records come in the order of the identity numbers, each once.
        """
        fresh = self.missing(keys, id_numbers)
        if fresh and at is None:
            raise ValueError("identity numbers were looked up, but not when")
        parts: dict[str, KeptAnswer] = {}
        for number in dict.fromkeys(id_numbers):
            kept = self._kept(keys, number)
            if kept is None:
                assert at is not None
                kept = KeptAnswer(records_about(self._about, looked_up, [number]), at)
            parts[number] = kept
        answered_at = min(kept.answered_at for kept in parts.values())
        for number, kept in parts.items():
            shared = KeptAnswer(kept.records, answered_at)  # one object for every key of the call
            for key in keys:
                self._pairs.add((key, number), shared)
        records = {r.record_id: r for kept in parts.values() for r in kept.records}
        return DepartmentAnswer(department=department, records=tuple(records.values()), answered_at=answered_at)

    def ticket_for(self, key: str, id_numbers: Sequence[str]) -> Ticket | None:
        """The ticket handed out for this asking (the whole ``idempotency_key`` and the same people), if any."""
        return self._tickets.get((key, frozenset(id_numbers)))

    def keep_ticket(
        self, key: str, id_numbers: Sequence[str], ticket: Ticket, looked_up: Sequence[str] | None = None
    ) -> None:
        """Remember the ticket of an asking, so that asking again gives the same ticket.

        ``looked_up`` (default: everyone of ``id_numbers``) are the people the ticket's answer looks up:
        each (key, identity number) pair of them, for every key of ``key``, is pending under the
        ticket (:meth:`pending`) until its answer is kept (the first ticket of a pair stays).
        """
        self._tickets.add((key, frozenset(id_numbers)), ticket)
        for part in idempotency_keys(key):
            for number in id_numbers if looked_up is None else looked_up:
                self._pending.add((part, number), ticket)

    def pending(self, keys: Sequence[str], id_numbers: Sequence[str]) -> dict[str, Ticket]:
        """Who of ``id_numbers`` is not answered under ``keys`` but being looked up under one: the ticket of each."""
        tickets: dict[str, Ticket] = {}
        for number in self.missing(keys, id_numbers):
            ticket = next((t for k in keys if (t := self._pending.get((k, number))) is not None), None)
            if ticket is not None:
                tickets[number] = ticket
        return tickets


OWN_TICKET_PREFIX: Final = "once-per-key:"
"""How a ticket of :class:`OncePerKey`'s own begins (one that waits on the department's tickets)."""


@dataclass(frozen=True, slots=True)
class _Asked:
    """What a ticket was handed out for: the whole key and everyone asked.

    ``waits_on``: for a ticket of :class:`OncePerKey`'s own, the department's tickets under which the
    people asked are being looked up (empty for a ticket of the department's).
    """

    key: str
    id_numbers: tuple[str, ...]
    waits_on: tuple[Ticket, ...] = ()


class OncePerKey:
    """Any connector behind the rule: each (key, identity number) is passed on to it at most once.

    A query asks ``inner`` only about the people not yet answered under its keys (and not being
    looked up under them right now: a repeat that arrives while the first asking is still under way
    waits for it), and the answer is kept in an :class:`AnswerStore` (in memory, bounded like it).
    Once passed on, a look-up runs to its end even if the caller goes (hedui's process dies, its call
    is cancelled), so that its answer is kept for the repeat. A ticket of ``inner`` is handed out
    again for a repeated asking (the same key, the same people), and its answer, once polled, is
    kept too. The people of a ticket are pending under each (key, identity number) pair until its
    answer is kept: a query under the key about some of them (a resend with fewer people, a part of
    a shared batch alone) is not passed on again but gets a ticket of this class's own (beginning
    with :data:`OWN_TICKET_PREFIX`) that waits on the department's ticket and answers with the
    records about those people only; once the department's answer is kept, such a query gets the
    kept answer at once. A ticket of its own lives in this process's memory only: polled after a
    restart, it is an unknown ticket (:class:`DepartmentRefused`). ``query_log`` gets a line per
    identity number the inner connector answered for (or handed out a ticket for). What ``inner``
    raises passes through, and nothing is kept (nor logged): the people were not answered. A
    malformed key is refused (:class:`DepartmentRefused`).

    ``about`` is the department's declaration (or its record kinds): whose records an answer holds.
    """

    def __init__(
        self,
        inner: Connector,
        about: AnswersWith,
        *,
        max_pairs: int = DEFAULT_MAX_PAIRS,
        query_log: QueryLog | None = None,
    ) -> None:
        self.inner = inner
        self.department = inner.describe().department
        self._store = AnswerStore(about, max_pairs)
        self._asked: _FirstIn[str, _Asked] = _FirstIn(max_pairs)
        self._renewed: _FirstIn[str, Ticket] = _FirstIn(max_pairs)
        self._under_way: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._query_log = query_log
        self.passed_on = 0
        """Identity numbers passed on to the inner connector (a call that failed included)."""

    def describe(self) -> ConnectorDescription:
        """The inner connector's description."""
        return self.inner.describe()

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        """The kept answer (or ticket) for whoever was asked about under the key; the inner connector for the rest."""
        try:
            keys = idempotency_keys(query.idempotency_key, self.inner.describe().max_batch_size)
        except ValueError as exc:
            raise DepartmentRefused(self.department, f"idempotency_key: {exc}") from None
        await self._wait_for_others(keys, query.id_numbers)
        ticket = self._store.ticket_for(query.idempotency_key, query.id_numbers)
        if ticket is not None:
            kept = self._kept(ticket)
            return self._latest(ticket) if kept is None else kept
        missing = self._store.missing(keys, query.id_numbers)
        if not missing:
            return self._store.settle(self.department, keys, query.id_numbers)
        pending = self._store.pending(keys, missing)
        fresh = tuple(n for n in missing if n not in pending)
        if not fresh:
            return self._own_ticket(query, pending.values())
        reply = await self._look_up(query, keys, fresh, whole=not pending)
        if not pending:
            return reply
        return self._own_ticket(query, [*pending.values(), *([reply] if isinstance(reply, Ticket) else [])])

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        """The kept answer of a ticket already answered; else the inner connector's, kept."""
        kept = self._kept(ticket)
        if kept is not None:
            return kept
        asked = self._asked.get(ticket.ticket_id)
        if asked is None and ticket.ticket_id.startswith(OWN_TICKET_PREFIX):
            raise DepartmentRefused(self.department, "unknown ticket")
        if asked is not None and asked.waits_on:
            return await self._poll_own(ticket, asked)
        reply = await self.inner.poll(ticket)
        if asked is None:
            return reply  # a ticket handed out before this process started: nothing to keep it under
        if isinstance(reply, Ticket) and reply.ticket_id != ticket.ticket_id:
            self._renewed.add(ticket.ticket_id, reply)
        return self._settled(reply, asked)

    async def _poll_own(self, ticket: Ticket, asked: _Asked) -> DepartmentAnswer | Ticket:
        """A ticket of this class's own: the department's tickets it waits on polled; its people's kept answer."""
        later = []
        for waited in asked.waits_on:
            reply = await self.poll(self._latest(waited))
            if isinstance(reply, Ticket):
                later.append(reply.ready_after)
        if later:
            return Ticket(self.department, ticket.ticket_id, max(later))
        kept = self._kept(ticket)
        if kept is None:  # the department's answer was forgotten (the store's bound): nothing to answer from
            raise DepartmentRefused(self.department, "unknown ticket")
        return kept

    def _latest(self, ticket: Ticket) -> Ticket:
        """The ticket the department last gave in place of ``ticket`` (a poll may hand out a new one)."""
        seen = {ticket.ticket_id}
        while (newer := self._renewed.get(ticket.ticket_id)) is not None and newer.ticket_id not in seen:
            seen.add(newer.ticket_id)
            ticket = newer
        return ticket

    def _own_ticket(self, query: DepartmentQuery, waits_on: Iterable[Ticket]) -> Ticket:
        """A ticket of this class's own for ``query``, whose people are looked up under the tickets ``waits_on``."""
        tickets = tuple({t.ticket_id: self._latest(t) for t in waits_on}.values())
        ticket = Ticket(
            self.department, OWN_TICKET_PREFIX + secrets.token_urlsafe(24), max(t.ready_after for t in tickets)
        )
        self._asked.add(ticket.ticket_id, _Asked(query.idempotency_key, query.id_numbers, tickets))
        self._store.keep_ticket(query.idempotency_key, query.id_numbers, ticket, looked_up=())
        return ticket

    def _kept(self, ticket: Ticket) -> DepartmentAnswer | None:
        asked = self._asked.get(ticket.ticket_id)
        if asked is None:
            return None
        keys = idempotency_keys(asked.key)
        if self._store.missing(keys, asked.id_numbers):
            return None
        return self._store.settle(self.department, keys, asked.id_numbers)

    async def _wait_for_others(self, keys: Sequence[str], id_numbers: Sequence[str]) -> None:
        """Until nobody of ``id_numbers`` is being looked up under ``keys`` by another caller."""
        while True:
            others = {self._under_way[(k, n)] for k in keys for n in id_numbers if (k, n) in self._under_way}
            if not others:
                return
            await asyncio.wait(others)

    async def _look_up(
        self, query: DepartmentQuery, keys: Sequence[str], fresh: tuple[str, ...], *, whole: bool
    ) -> DepartmentAnswer | Ticket:
        """Pass ``fresh`` on to the inner connector, to its end even if the caller goes; ``whole``: answer all."""
        # Under way from now on (before any await): a repeat arriving meanwhile waits for this look-up.
        pairs = [(k, n) for k in keys for n in fresh]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for pair in pairs:
            self._under_way[pair] = done
        asked = _Asked(query.idempotency_key, query.id_numbers if whole else fresh)
        work = asyncio.ensure_future(self._pass_on(dataclasses.replace(query, id_numbers=fresh), asked))
        work.add_done_callback(lambda task: self._finished(task, pairs, done))
        return await asyncio.shield(work)

    async def _pass_on(self, query: DepartmentQuery, asked: _Asked) -> DepartmentAnswer | Ticket:
        """Ask the inner connector about the fresh people of ``asked``; keep (and log) its answer or ticket."""
        self.passed_on += len(query.id_numbers)
        reply = await self.inner.query(query)
        if isinstance(reply, Ticket):
            self._store.keep_ticket(asked.key, asked.id_numbers, reply, looked_up=query.id_numbers)
        if self._query_log is not None:  # only now: a call that failed looked nobody up
            for number in query.id_numbers:
                self._query_log.looked_up(self.department, query.idempotency_key, number)
        return self._settled(reply, asked)

    def _finished(
        self, task: asyncio.Future[DepartmentAnswer | Ticket], pairs: list[tuple[str, str]], done: asyncio.Future[None]
    ) -> None:
        """A look-up ended (answered, failed, or never started): its pairs are no longer under way."""
        for pair in pairs:
            if self._under_way.get(pair) is done:
                del self._under_way[pair]
        done.set_result(None)
        if not task.cancelled():
            task.exception()  # a caller gone: its look-up's failure is nobody's to report

    def _settled(self, reply: DepartmentAnswer | Ticket, asked: _Asked) -> DepartmentAnswer | Ticket:
        """An answer of the inner connector, kept, and completed with what was kept before; a ticket as it is."""
        if isinstance(reply, Ticket):
            self._asked.add(reply.ticket_id, asked)
            return reply
        keys = idempotency_keys(asked.key)
        return self._store.settle(self.department, keys, asked.id_numbers, reply.records, reply.answered_at)


def subject_digest(id_number: str) -> str:
    """The query log's name for a person: the first 16 hex digits of SHA-256 of the identity number."""
    return hashlib.sha256(id_number.encode()).hexdigest()[:16]


class QueryLog:
    """An append-only JSON-lines file: one line per identity number a department actually looked up.

    ``{"department": ..., "key": ..., "subject": ..., "at": ...}``: ``key`` is the query's whole
    ``idempotency_key`` as sent (a shared batch's: its parts' keys joined by commas), ``subject``
    :func:`subject_digest` (never the identity number), ``at`` an RFC 3339 instant. Each line is
    flushed to the operating system at once, so that a reader counts it whatever happens to the
    process that asked, or to this one. Safe across threads.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def looked_up(self, department: str, key: str, id_number: str, at: dt.datetime | None = None) -> None:
        """Write the line for one look-up and flush it."""
        line = {
            "department": department,
            "key": key,
            "subject": subject_digest(id_number),
            "at": format_instant(at or dt.datetime.now(dt.UTC)),
        }
        with self._lock:
            self._file.write(json.dumps(line, separators=(",", ":")) + "\n")
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()
