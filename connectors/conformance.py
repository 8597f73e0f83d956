"""The conformance kit: standard checks any department connector must pass before hedui uses it.

Modelled on Singer's tap tests and Airbyte's acceptance tests: one run asks the connector about a
sample of people (one by one, then as one full batch), then standard suites look at everything it
answered. Run it on any :class:`~connectors.base.Connector` — a Python connector from an entry point
or a :class:`~connectors.remote.RemoteConnector` in front of a department's server::

    results = await check_connector(connector, id_numbers=people_the_department_knows)
    assert all(r.passed for r in results)

or from the command line: ``hedui connector check --entry-point NAME`` / ``--address HOST:PORT --cert PEM``.

The checks (:data:`CHECKS`, always reported in this order):

``describe``
    ``describe()`` names a declared department (of the ``catalogue``; the expected one, if given), at
    least one data category, each a record kind the department declares, a batch size, query rate
    and concurrency of at least 1 and no negative identity rate.
``records-schema``
    Every record of every answer is of a kind the department declares and passes
    :func:`~connectors.records.parse_record` (types, vocabularies, dates, periods, no negative money),
    names a valid identity number, and the answer is labelled with the department.
``evidence-ids``
    Every record has its department record id, unique within its answer.
``records-about-asked``
    Records are only about the people asked about — except for a department answering ``person``
    records (the police), whose answer is the whole household register (户) of each person asked about.
``batching``
    A batch of ``max_batch_size`` identity numbers (fewer if ``max_identities_per_second`` is smaller:
    :func:`~connectors.resilience.effective_batch_size`) is answered by one call, with the same records
    as the single queries of the same people.
``refusal``
    A query without an authorization reference raises :class:`~connectors.base.DepartmentRefused`; and (issue
    13) for a remote connector holding hedui's query token key, so does a query without a query token or
    under the token of another query (:mod:`connectors.query_token`).
``unknown-identities``
    Identity numbers the department does not know give an answer without records, not an error.
``deadline``
    Every call is answered (or ticketed) within ``deadline_seconds``.
``async-tickets``
    An asynchronous connector returns tickets from ``query``, answers them through ``poll``, and a ticket
    still works on a new connector instance (a restart of hedui); a synchronous one never returns tickets.
``idempotency``
    A query asked again under the same ``idempotency_key`` is answered from the first answer: the same
    records and the same ``answered_at`` (the kit waits a little in between, so that a second look-up
    would carry a later time), and an asynchronous connector gives the same ticket or its answer. When
    the connector takes shared batches, a part of a batch (one of its keys, some of its people) asked
    again alone gets the batch's records about them and the batch's ``answered_at`` (compared only when
    the ``batching`` check passed). When it is asynchronous, the same key asked again about fewer of the
    people while the first asking's ticket is pending (hedui resending after a crash, someone's consent
    withdrawn meanwhile) gets, once resolved, the first answer's records about them and its
    ``answered_at``, and no record about the one left out.

Every query of the kit has its own key (``conformance-kit.RUN.N``), except where the idempotency
check repeats one.

Transient :class:`~connectors.base.DepartmentUnavailable` errors are retried a few times, as hedui does.
If the connector has an ``async def start()`` (as :class:`~connectors.remote.RemoteConnector` has), the
kit awaits it before ``describe()``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from connectors.base import (
    Connector,
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
)
from connectors.departments import Department, DepartmentCatalogue
from connectors.records import (
    RECORD_TYPES,
    RecordError,
    adds_register_mates,
    is_about,
    parse_record,
    record_to_plain,
    registers_of,
)
from connectors.registry import category_problem
from connectors.resilience import effective_batch_size
from consent.identity import IdentityNumberError, check_character, validate_identity_number

__all__ = [
    "CHECKS",
    "CheckResult",
    "ConnectorOpener",
    "check_connector",
    "unknown_identity_numbers",
]

CHECKS: Final = (
    "describe",
    "records-schema",
    "evidence-ids",
    "records-about-asked",
    "batching",
    "refusal",
    "unknown-identities",
    "deadline",
    "async-tickets",
    "idempotency",
)
AUTHORIZATION_REFERENCE: Final = "authorizations/conformance-kit"
PURPOSE: Final = "ASSESSMENT"
ATTEMPTS: Final = 3
MAX_GENERATED: Final = 10_000
MAX_PROBLEMS_SHOWN: Final = 3
REPEAT_AFTER_SECONDS: Final = 0.02
"""How long the idempotency check waits before asking again: a fresh look-up would have a later ``answered_at``."""

ConnectorOpener = Callable[[], Awaitable[Connector]]
"""Opens a new instance of the connector under test (a restart, for the ticket check)."""

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: its name (one of :data:`CHECKS`), whether it passed, and what was seen."""

    name: str
    passed: bool
    detail: str


class _Failed(Exception):
    """A call of the connector under test that did not give what the protocol promises."""


def unknown_identity_numbers(count: int, exclude: Iterable[str] = ()) -> list[str]:
    """Valid identity numbers (check character and all) that no department should know.

    Region 990000 is no real administrative division; birth dates count up from 1900-01-01.
    """
    excluded = set(exclude)
    numbers: list[str] = []
    day = 0
    while len(numbers) < count:
        born = (dt.date(1900, 1, 1) + dt.timedelta(days=day)).strftime("%Y%m%d")
        for sequence in range(1000):
            first17 = f"990000{born}{sequence:03d}"
            number = first17 + check_character(first17)
            if number not in excluded:
                numbers.append(number)
            if len(numbers) == count:
                break
        day += 1
    return numbers


async def _maybe_start(connector: object) -> None:
    start = getattr(connector, "start", None)
    if start is not None and inspect.iscoroutinefunction(start):
        await start()


async def _maybe_close(connector: object) -> None:
    close = getattr(connector, "close", None)
    if close is not None and inspect.iscoroutinefunction(close):
        await close()


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _summary(problems: Sequence[str]) -> str:
    shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
    more = len(problems) - MAX_PROBLEMS_SHOWN
    return shown + (f" (and {more} more)" if more > 0 else "")


def _department_problems(d: ConnectorDescription, expected: str | None, catalogue: DepartmentCatalogue) -> list[str]:
    """The described department: declared (the expected one, if given); data categories it declares."""
    if d.department not in catalogue:
        return [f"department {d.department!r} is not one of {', '.join(catalogue)}"]
    if expected is not None and d.department != expected:
        return [f"department is {d.department}, expected {expected}"]
    categories = d.data_categories
    if not isinstance(categories, tuple) or not categories:
        return ["names no data categories"]
    if not all(isinstance(c, str) and c for c in categories):
        return ["data categories must be non-empty strings"]
    problem = category_problem(catalogue[d.department], d)
    return [f"data_categories: {problem}"] if problem else []


def _describe_problems(description: object, expected: str | None, catalogue: DepartmentCatalogue) -> list[str]:
    """Everything wrong with a connector's ``describe()``: its department, categories and limits."""
    if not isinstance(description, ConnectorDescription):
        return [f"describe() returned {type(description).__name__}, not a ConnectorDescription"]
    d = description
    problems = _department_problems(d, expected, catalogue)
    for name in ("max_batch_size", "max_queries_per_second", "max_concurrent_queries"):
        value = getattr(d, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{name} must be an integer >= 1, got {value!r}")
    value = d.max_identities_per_second
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"max_identities_per_second must be an integer >= 0, got {value!r}")
    if not isinstance(d.asynchronous, bool) or not isinstance(d.shared_batches, bool):
        problems.append("asynchronous and shared_batches must be booleans")
    return problems


@dataclass
class _Run:
    """One run of the kit: the connector under test, what it said, and the problems seen so far."""

    connector: Connector
    declaration: Department
    description: ConnectorDescription
    deadline: float
    ticket_timeout: float
    reopen: ConnectorOpener | None
    problems: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in CHECKS})
    durations: list[tuple[str, float]] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    tickets: int = 0
    direct_answers: int = 0
    retried: int = 0
    answers: int = 0
    records: int = 0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    keys_used: int = 0
    _next_call: float = 0.0
    _pacing: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def department(self) -> str:
        """The id of the department under test."""
        return self.description.department

    # --- calling the connector, within its limits and the deadline -----------------------------------

    async def _pace(self, identities: int) -> None:
        """Keep to the connector's query and identity rates: one caller at a time waits out the interval, and the
        next interval counts from when that caller went on (slots reserved ahead let a caller woken late call
        right before the next one on a busy machine: 0.05 s apart at 10 queries a second)."""
        d = self.description
        interval = 1 / d.max_queries_per_second
        if d.max_identities_per_second:
            interval = max(interval, identities / d.max_identities_per_second)
        async with self._pacing:
            wait = self._next_call - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_call = time.monotonic() + interval

    async def call(self, what: str, identities: int, work: Callable[[], Awaitable[R]]) -> R:
        """One call within the connector's limits and the deadline; transient errors retried a few times."""
        for attempt in range(1, ATTEMPTS + 1):
            await self._pace(identities)
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.deadline):
                    result = await work()
            except TimeoutError:
                self.late.append(f"{what}: no answer within {self.deadline:g} s")
                raise _Failed(f"{what}: no answer within {self.deadline:g} s") from None
            except DepartmentUnavailable as exc:
                if exc.transient and attempt < ATTEMPTS:
                    self.retried += 1
                    await asyncio.sleep(0.2 * attempt)
                    continue
                raise
            finally:
                self.durations.append((what, time.monotonic() - started))
            return result
        raise AssertionError("unreachable")

    def new_key(self) -> str:
        """An idempotency key no query of this run has used."""
        self.keys_used += 1
        return f"conformance-kit.{self.run_id}.{self.keys_used}"

    async def ask(
        self,
        what: str,
        id_numbers: Sequence[str],
        *,
        reference: str = AUTHORIZATION_REFERENCE,
        key: str | None = None,
    ) -> DepartmentAnswer | Ticket:
        """Query the connector about ``id_numbers`` under ``reference``, with ``key`` (default: a new one)."""
        query = DepartmentQuery(
            query_id=f"conformance-{what.replace(' ', '-')}",
            id_numbers=tuple(id_numbers),
            authorization_reference=reference,
            purpose=PURPOSE,
            idempotency_key=key or self.new_key(),
        )
        return await self.call(f"query ({what})", len(id_numbers), lambda: self.connector.query(query))

    async def resolve(
        self, what: str, result: DepartmentAnswer | Ticket, connector: Connector | None = None, *, counted: bool = True
    ) -> DepartmentAnswer:
        """Poll a ticket until its answer comes (within ``ticket_timeout``).

        ``counted``: the answer counts in the summaries of the checks that look at every answer (the
        idempotency check's repeats do not: they are the same answers again).
        """
        poller = connector or self.connector
        if counted and isinstance(result, Ticket):
            self.tickets += 1
        elif counted:
            self.direct_answers += 1
        give_up = time.monotonic() + self.ticket_timeout
        while isinstance(result, Ticket):
            ticket = result
            if not isinstance(ticket.ticket_id, str) or not ticket.ticket_id:
                raise _Failed(f"{what}: a ticket without a ticket id")
            if ticket.department != self.department:
                self.problems["async-tickets"].append(f"{what}: ticket of department {ticket.department!r}")
            if ticket.ready_after.tzinfo is None:
                raise _Failed(f"{what}: ticket.ready_after has no time zone")
            wait = (ticket.ready_after - dt.datetime.now(dt.UTC)).total_seconds()
            if time.monotonic() + wait > give_up:
                raise _Failed(
                    f"{what}: ticket ready only after {ticket.ready_after.isoformat()}, "
                    f"later than the kit waits ({self.ticket_timeout:g} s)"
                )
            await asyncio.sleep(min(max(wait, 0.05), 1.0))
            result = await self.call(f"poll ({what})", 0, functools.partial(poller.poll, ticket))
        if counted:
            self.answers += 1
            self.records += len(result.records)
        return result

    async def answer(self, what: str, id_numbers: Sequence[str]) -> DepartmentAnswer:
        """Ask, resolve any ticket and inspect the answer."""
        answer = await self.resolve(what, await self.ask(what, id_numbers))
        self.inspect(what, id_numbers, answer)
        return answer

    # --- what every answer must look like -------------------------------------------------------------

    def inspect(self, what: str, asked: Sequence[str], answer: object) -> None:
        schema, evidence, about = (self.problems[n] for n in ("records-schema", "evidence-ids", "records-about-asked"))
        if not isinstance(answer, DepartmentAnswer):
            schema.append(f"{what}: answered {type(answer).__name__}, not a DepartmentAnswer")
            return
        if answer.department != self.department:
            schema.append(f"{what}: the answer is labelled {answer.department!r}")
        if not isinstance(answer.answered_at, dt.datetime) or answer.answered_at.tzinfo is None:
            schema.append(f"{what}: answered_at must be a datetime with a time zone")
        wanted = set(asked)
        records = answer.records if isinstance(answer.records, tuple | list) else ()
        if records is not answer.records:
            schema.append(f"{what}: records must be a tuple of records")
        registers = registers_of(records, wanted)
        seen: set[str] = set()
        for index, record in enumerate(records):
            where = f"{what}: record {index}"
            kind = getattr(record, "kind", None)
            if not isinstance(kind, str) or RECORD_TYPES.get(kind) is not type(record):
                schema.append(f"{where} is a {type(record).__name__}, not a department record")
                continue
            where = f"{what}: record {index} ({record.record_id!r})"
            if not self.declaration.answers_with(kind):
                schema.append(f"{where} is of kind {kind}, not one of {self.department}'s record kinds")
            try:
                parse_record(type(record), record_to_plain(record), f"{self.department}.{kind}")
            except RecordError as exc:
                schema.append(f"{where}: {exc}")
            record_id = record.record_id
            if not isinstance(record_id, str) or not record_id:
                evidence.append(f"{where} has no record id")
            elif record_id in seen:
                evidence.append(f"{what}: record id {record_id!r} appears twice")
            else:
                seen.add(record_id)
            subject = getattr(record, "id_number", None) or getattr(record, "owner_id", None)
            if not isinstance(subject, str):
                continue  # a schema problem, reported above
            try:
                validate_identity_number(subject)
            except IdentityNumberError as exc:
                schema.append(f"{where} names an invalid identity number: {exc}")
            if not is_about(self.declaration, record, wanted, registers):
                about.append(f"{where} is about a person not asked about")


def _ids(answer: DepartmentAnswer) -> set[str]:
    return {r.record_id for r in answer.records}


async def check_connector(
    connector: Connector,
    *,
    department: str | None = None,
    id_numbers: Sequence[str] = (),
    reopen: ConnectorOpener | None = None,
    deadline_seconds: float = 10.0,
    ticket_timeout_seconds: float = 60.0,
    sample_size: int = 20,
    catalogue: DepartmentCatalogue | None = None,
) -> list[CheckResult]:
    """Run every check of :data:`CHECKS` against ``connector``; one result per check, in that order.

    ``id_numbers`` are people the department knows (e.g. everyone in its test data; up to
    ``sample_size`` are asked about), so that there are records to check; ``department`` is the
    department the connector must describe; ``reopen`` opens a new instance of the same connector
    for the restart check of tickets; ``catalogue`` holds the declared departments (default: the six).
    """
    departments = catalogue if catalogue is not None else DepartmentCatalogue()
    description, problems = await _described(connector, department, departments, deadline_seconds)
    if description is None:
        return [CheckResult("describe", False, _summary(problems))] + [
            CheckResult(name, False, "not run: describe() failed") for name in CHECKS[1:]
        ]
    run = _Run(
        connector, departments[description.department], description, deadline_seconds, ticket_timeout_seconds, reopen
    )
    notes: dict[str, str] = {}
    known = list(dict.fromkeys(n.strip().upper() for n in id_numbers if n.strip()))[:sample_size]
    singles = await _ask_singles(run, known)
    await _check_batch(run, known, singles, notes)
    await _check_refusal(run, known, notes)
    await _check_unknown_people(run, known, notes)
    await _check_tickets(run, known, singles, notes)
    await _check_idempotency(run, known, notes)
    _summarise(run, notes)
    results = [CheckResult("describe", True, _describe_summary(description))]
    for name in CHECKS[1:]:
        found = run.problems[name]
        results.append(CheckResult(name, not found, _summary(found) if found else notes.get(name, "")))
    return results


async def _described(
    connector: Connector, department: str | None, catalogue: DepartmentCatalogue, deadline: float
) -> tuple[ConnectorDescription | None, list[str]]:
    """The connector's description (started first, if it has ``start``), or ``None`` and what is wrong."""
    try:
        async with asyncio.timeout(deadline):
            await _maybe_start(connector)
        description: object = connector.describe()
        problems = _describe_problems(description, department, catalogue)
    except Exception as exc:  # the connector under test may fail in any way
        return None, [f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__]
    if problems or not isinstance(description, ConnectorDescription):
        return None, problems
    return description, []


async def _ask_singles(run: _Run, known: Sequence[str]) -> dict[str, DepartmentAnswer]:
    """1. One query per known person: the reference answers, within the connector's concurrency."""
    singles: dict[str, DepartmentAnswer] = {}
    semaphore = asyncio.Semaphore(run.description.max_concurrent_queries)

    async def single(index: int, number: str) -> None:
        async with semaphore:
            try:
                singles[number] = await run.answer(f"single {index + 1}", [number])
            except (_Failed, DepartmentUnavailable, DepartmentRefused) as exc:
                run.problems["records-schema"].append(f"query of one known person failed: {exc}")
            except Exception as exc:
                run.problems["records-schema"].append(f"query of one known person raised {type(exc).__name__}: {exc}")

    await asyncio.gather(*(single(i, n) for i, n in enumerate(known)))
    return singles


async def _check_batch(
    run: _Run, known: Sequence[str], singles: dict[str, DepartmentAnswer], notes: dict[str, str]
) -> None:
    """2. One full batch: the same records as the single queries of the same people."""
    d = run.description
    size = min(effective_batch_size(d), MAX_GENERATED)
    batch = list(known[:size]) + unknown_identity_numbers(size - len(known[:size]), known)
    try:
        answer = await run.answer(f"batch of {len(batch)}", batch)
    except Exception as exc:
        run.problems["batching"].append(f"a batch of {len(batch)} identity numbers failed: {type(exc).__name__}: {exc}")
        return
    missing, extra = set(), set()
    if all(n in singles for n in known[:size]):
        expected = set().union(*(_ids(singles[n]) for n in known[:size])) if known else set()
        missing, extra = expected - _ids(answer), _ids(answer) - expected
    if missing or extra:
        run.problems["batching"].append(
            f"the batch answer differs from the single answers: missing {sorted(missing)[:3]}, "
            f"extra {sorted(extra)[:3]}"
        )
    capped = ""
    if size < effective_batch_size(d):
        capped = " (capped by the kit)"
    elif size < d.max_batch_size:
        capped = f" (capped by the limit of {d.max_identities_per_second} identity numbers per second)"
    notes["batching"] = (
        f"{len(batch)} identity numbers{capped} in one query: {_n(len(answer.records), 'record')}, "
        f"the same as {_n(len(known[:size]), 'single query', 'single queries')}"
    )


async def _check_refusal(run: _Run, known: Sequence[str], notes: dict[str, str]) -> None:
    """3. No authorization reference: refused."""
    probe = list(known[:1]) or unknown_identity_numbers(1)
    try:
        result = await run.ask("without authorization reference", probe, reference="")
    except DepartmentRefused as exc:
        notes["refusal"] = f"refused: {exc.reason}"
    except Exception as exc:
        run.problems["refusal"].append(f"raised {type(exc).__name__} ({exc}), not DepartmentRefused")
    else:
        given = "a ticket" if isinstance(result, Ticket) else f"an answer with {_n(len(result.records), 'record')}"
        run.problems["refusal"].append(f"a query without authorization reference was accepted ({given})")
    await _check_token_refusal(run, probe, notes)


async def _check_token_refusal(run: _Run, probe: Sequence[str], notes: dict[str, str]) -> None:
    """3b. Issue 13: a remote connector with hedui's query token key: a query without a token, and one under the
    token of another query, are refused."""
    send = getattr(run.connector, "query_with_token", None)
    token_for = getattr(run.connector, "token_for", None)
    if send is None or token_for is None:
        return
    query = DepartmentQuery("conformance-token", tuple(probe), AUTHORIZATION_REFERENCE, PURPOSE, run.new_key())
    other = dataclasses.replace(query, idempotency_key=run.new_key())
    if not token_for(query):
        notes["refusal"] = notes.get("refusal", "") + "; no query token key given: the token check was not run"
        return
    for what, token in (("without a query token", ""), ("under another query's token", token_for(other))):
        try:
            result = await run.call(f"query ({what})", len(probe), functools.partial(send, query, token))
        except DepartmentRefused:
            continue
        except Exception as exc:
            run.problems["refusal"].append(f"a query {what} raised {type(exc).__name__} ({exc}), not DepartmentRefused")
        else:
            given = "a ticket" if isinstance(result, Ticket) else f"an answer with {_n(len(result.records), 'record')}"
            run.problems["refusal"].append(f"a query {what} was accepted ({given})")
    if not run.problems["refusal"]:
        notes["refusal"] = notes.get("refusal", "") + "; a query without its query token is refused"


async def _check_unknown_people(run: _Run, known: Sequence[str], notes: dict[str, str]) -> None:
    """4. Unknown people: an empty answer, not an error."""
    strangers = unknown_identity_numbers(3, known)
    try:
        answer = await run.answer("unknown people", strangers)
    except Exception as exc:
        run.problems["unknown-identities"].append(f"raised {type(exc).__name__}: {exc} (expected an empty answer)")
        return
    if answer.records:
        run.problems["unknown-identities"].append(
            f"{_n(len(answer.records), 'record')} for identity numbers no department knows ({strangers[0]} …)"
        )
    notes["unknown-identities"] = f"{len(strangers)} unknown identity numbers: an answer without records"


def _summarise(run: _Run, notes: dict[str, str]) -> None:
    """The details of the checks that look at everything the connector answered."""
    notes["records-schema"] = (
        f"{_n(run.records, 'record')} in {_n(run.answers, 'answer')}, every one valid"
        if run.records
        else f"{_n(run.answers, 'answer')}, no records to check (give identity numbers the department knows)"
    )
    notes["evidence-ids"] = f"{_n(run.records, 'record')}, each with a record id unique in its answer"
    notes["records-about-asked"] = "every record is about a person asked about" + (
        " (or a household-register mate)" if adds_register_mates(run.declaration) else ""
    )
    if run.late:
        run.problems["deadline"].extend(run.late)
    slowest = max(run.durations, key=lambda x: x[1], default=("", 0.0))
    notes["deadline"] = f"{len(run.durations)} calls, the slowest {slowest[1]:.3f} s (limit {run.deadline:g} s)"
    if run.retried:
        notes["deadline"] += f"; {run.retried} transient errors retried"


def _describe_summary(d: ConnectorDescription) -> str:
    mode = "asynchronous" if d.asynchronous else "synchronous"
    return (
        f"{d.department} ({', '.join(d.data_categories)}): batches of {d.max_batch_size}, "
        f"{d.max_queries_per_second} queries/s, {d.max_concurrent_queries} at once, {mode}"
    )


async def _check_tickets(
    run: _Run, known: Sequence[str], singles: dict[str, DepartmentAnswer], notes: dict[str, str]
) -> None:
    problems = run.problems["async-tickets"]
    if not run.description.asynchronous:
        if run.tickets:
            problems.append(f"describe() says synchronous, but {run.tickets} queries returned a ticket")
        else:
            notes["async-tickets"] = f"synchronous: {run.direct_answers} queries answered directly"
        return
    if not run.tickets:
        problems.append("describe() says asynchronous, but no query returned a ticket")
        return
    probe = known[:1] or unknown_identity_numbers(1)
    try:
        result = await run.ask("ticket across a restart", probe)
    except Exception as exc:
        problems.append(f"query raised {type(exc).__name__}: {exc}")
        return
    if not isinstance(result, Ticket):
        problems.append("an asynchronous query answered at once; could not check a ticket across a restart")
        return
    if run.reopen is None:
        await _resolve_checked(run, result, run.connector, probe, singles, problems)
        notes["async-tickets"] = (
            f"{run.tickets} tickets answered through poll; restart not checked (no way to open a new instance)"
        )
        return
    try:
        fresh = await run.reopen()
        await _maybe_start(fresh)
    except Exception as exc:
        problems.append(f"could not open a new instance: {type(exc).__name__}: {exc}")
        return
    try:
        await _resolve_checked(run, result, fresh, probe, singles, problems)
    finally:
        await _maybe_close(fresh)
    notes["async-tickets"] = f"{run.tickets} tickets answered through poll, one of them by a new connector instance"


async def _resolve_checked(
    run: _Run,
    ticket: Ticket,
    connector: Connector,
    probe: Sequence[str],
    singles: dict[str, DepartmentAnswer],
    problems: list[str],
) -> None:
    try:
        answer = await run.resolve("ticket across a restart", ticket, connector)
    except Exception as exc:
        problems.append(f"polling the ticket on a new instance failed: {type(exc).__name__}: {exc}")
        return
    run.inspect("ticket across a restart", probe, answer)
    reference = singles.get(probe[0])
    if reference is not None and _ids(reference) != _ids(answer):
        problems.append("the ticket's answer on a new instance differs from the answer to the same query")


def _plain(answer: DepartmentAnswer) -> list[tuple[str, str]]:
    """An answer's records, comparable whatever their order: (record id, the record as JSON-like text), sorted."""
    return sorted((r.record_id, repr(sorted(record_to_plain(r).items()))) for r in answer.records)


def _differences(first: DepartmentAnswer, again: DepartmentAnswer, what: str) -> list[str]:
    """How ``again`` differs from ``first``: its records, its ``answered_at``."""
    problems = []
    if _plain(first) != _plain(again):
        problems.append(
            f"{what}: the records differ from the first answer's ({_n(len(first.records), 'record')} then "
            f"{_n(len(again.records), 'record')}): looked up again, not answered from the first answer"
        )
    if first.answered_at != again.answered_at:
        problems.append(
            f"{what}: answered_at {again.answered_at.isoformat()} is not the first answer's "
            f"{first.answered_at.isoformat()}: looked up again, not answered from the first answer"
        )
    return problems


async def _twice(run: _Run, probe: Sequence[str], problems: list[str]) -> DepartmentAnswer:
    """Ask about ``probe`` under one key, then again under the same key; the first answer."""
    key = run.new_key()
    first_reply = await run.ask("first asking under a key", probe, key=key)
    first = await run.resolve("first asking under a key", first_reply, counted=False)
    await asyncio.sleep(REPEAT_AFTER_SECONDS)
    again_reply = await run.ask("the same key again", probe, key=key)
    if (
        isinstance(again_reply, Ticket)
        and isinstance(first_reply, Ticket)
        and again_reply.ticket_id != first_reply.ticket_id
    ):
        problems.append("the same key again: a new ticket, not the first one (or its answer)")
    again = await run.resolve("the same key again", again_reply, counted=False)
    problems.extend(_differences(first, again, "the same key again"))
    return first


def _about(run: _Run, answer: DepartmentAnswer, part: Sequence[str], registers: frozenset[str]) -> DepartmentAnswer:
    """``answer`` with only its records about ``part`` (records about others are records-about-asked's business)."""
    records = tuple(r for r in answer.records if is_about(run.declaration, r, set(part), registers))
    return dataclasses.replace(answer, records=records)


async def _part_of_a_batch(run: _Run, probe: Sequence[str], problems: list[str]) -> None:
    """A shared batch under two keys; then one key's people alone: the batch's records about them, its time."""
    ours, theirs = run.new_key(), run.new_key()
    batch = await run.resolve(
        "shared batch", await run.ask("shared batch", probe, key=f"{ours},{theirs}"), counted=False
    )
    await asyncio.sleep(REPEAT_AFTER_SECONDS)
    part = list(probe[1:])
    alone = await run.resolve("part of the batch", await run.ask("part of the batch", part, key=theirs), counted=False)
    registers = registers_of(batch.records, set(part))
    problems.extend(
        _differences(_about(run, batch, part, registers), _about(run, alone, part, registers), "part of the batch")
    )


async def _fewer_people(run: _Run, probe: Sequence[str], problems: list[str]) -> None:
    """The same key about fewer people while the first ticket is pending: no second look-up of them.

    hedui resends a query after a crash with the members whose consent still stands: the first
    asking's records about them and its ``answered_at`` (and no record about the one left out).
    """
    key = run.new_key()
    first_reply = await run.ask("first asking, ticketed", probe, key=key)
    await asyncio.sleep(REPEAT_AFTER_SECONDS)
    part = list(probe[1:])
    again_reply = await run.ask("the same key, fewer people", part, key=key)
    first = await run.resolve("first asking, ticketed", first_reply, counted=False)
    await asyncio.sleep(REPEAT_AFTER_SECONDS)
    again = await run.resolve("the same key, fewer people", again_reply, counted=False)
    run.inspect("the same key, fewer people", part, again)
    registers = registers_of(first.records, set(part))
    problems.extend(
        _differences(
            _about(run, first, part, registers), _about(run, again, part, registers), "the same key, fewer people"
        )
    )


async def _check_idempotency(run: _Run, known: Sequence[str], notes: dict[str, str]) -> None:
    """6. A repeated key is answered from the first answer (and a part of a shared batch from the batch's)."""
    problems = run.problems["idempotency"]
    probe = list(known[:2]) or unknown_identity_numbers(2, known)
    # A batch that drops people is the batching check's failure; the part of one is compared only when it passed.
    shared = run.description.shared_batches and len(probe) > 1 and not run.problems["batching"]
    fewer = run.description.asynchronous and len(probe) > 1
    try:
        first = await _twice(run, probe, problems)
        if shared and not problems:
            await _part_of_a_batch(run, probe, problems)
        if fewer and not problems:
            await _fewer_people(run, probe, problems)
    except Exception as exc:
        problems.append(f"asking again under a key raised {type(exc).__name__}: {exc}")
        return
    notes["idempotency"] = (
        f"the same key again: the first answer ({_n(len(first.records), 'record')}, the same answered_at)"
        + ("; a part of a shared batch: the batch's" if shared else "")
        + ("; the same key about fewer people while its ticket was pending: the first answer's" if fewer else "")
    )
