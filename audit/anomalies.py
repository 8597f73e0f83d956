"""Patterns in the audit log that a supervisor should look at.

The log proves *what* happened; it does not say whether it should have. Civil-affairs supervisors, the
audit bureau and discipline inspectors read it looking for misuse: departments queried with no case
behind them, one person looked up by many caseworkers, bulk look-ups at night or at weekends, and
reports read from somewhere other than where the case was opened. This module finds those patterns.

It is pure: it reads a sequence of :class:`audit.log.StoredEntry` in log order and returns findings,
each naming the leaf indices of its evidence so that the entries (and their inclusion proofs) can be
pulled and checked. A finding is a reason to look, not proof of wrongdoing.

Descriptions never contain an identity number; the log holds only keyed hashes of them, and a
description names a person by a prefix of that hash.

If the entries are a time window of the log (``--since``/``--until``), a verification created before
the window looks as if it had no case: read such findings against the whole log.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from audit.log import StoredEntry, as_utc
from consent.identity import CHINA_TIME

__all__ = [
    "ANOMALY_KINDS",
    "BULK_LOOKUP_OUTSIDE_OFFICE_HOURS",
    "PERSON_QUERIED_BY_MANY_OPERATORS",
    "QUERY_WITHOUT_CASE",
    "REPORT_READ_BY_OTHER_CLIENT",
    "Anomaly",
    "AnomalyRules",
    "client_host",
    "find_anomalies",
]

QUERY_WITHOUT_CASE: Final = "QUERY_WITHOUT_CASE"
"""A department was queried (or consent decided) for a verification the log never saw created."""

PERSON_QUERIED_BY_MANY_OPERATORS: Final = "PERSON_QUERIED_BY_MANY_OPERATORS"
"""One person was looked up by several different operators within a short period."""

BULK_LOOKUP_OUTSIDE_OFFICE_HOURS: Final = "BULK_LOOKUP_OUTSIDE_OFFICE_HOURS"
"""One operator created many verifications, or queried many people, outside office hours on one day."""

REPORT_READ_BY_OTHER_CLIENT: Final = "REPORT_READ_BY_OTHER_CLIENT"
"""A report was read from a client host other than the one that created its verification.

Today ``client`` is the gRPC peer address, so this compares hosts (ports change per connection).
Once callers authenticate with certificates, ``client`` will be the certificate's identity and this
compares organisations: a report read by an organisation other than the one that opened the case.
"""

ANOMALY_KINDS: Final = (
    QUERY_WITHOUT_CASE,
    PERSON_QUERIED_BY_MANY_OPERATORS,
    BULK_LOOKUP_OUTSIDE_OFFICE_HOURS,
    REPORT_READ_BY_OTHER_CLIENT,
)

_CREATED = "VERIFICATION_CREATED"
_QUERY_SENT = "DEPARTMENT_QUERY_SENT"
_CONSENT = "CONSENT_DECISION"
_REPORT_READ = "REPORT_READ"
_HASH_PREFIX = 12
_NAMES_SHOWN = 10


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One finding: what it is, in words, and the leaf indices of the entries that show it."""

    kind: str
    description: str
    entries: tuple[int, ...]

    def to_plain(self) -> dict[str, object]:
        """A JSON-ready form: ``{"kind", "description", "entries"}``."""
        return {"kind": self.kind, "description": self.description, "entries": list(self.entries)}


@dataclass(frozen=True, slots=True)
class AnomalyRules:
    """Thresholds for :func:`find_anomalies`; the defaults are the supervisors' starting point.

    ``many_operators`` (3) distinct operators touching one person within ``many_operators_window``
    (30 days, inclusive: the first and last look-up may be exactly that far apart) is
    ``PERSON_QUERIED_BY_MANY_OPERATORS``.

    ``bulk_threshold`` (5) verifications created, or distinct people queried, by one operator outside
    office hours on one China calendar day is ``BULK_LOOKUP_OUTSIDE_OFFICE_HOURS``. Office hours are
    ``office_start`` (08:00, inclusive) to ``office_end`` (18:00, exclusive) China time on
    ``office_days`` (weekday numbers, Monday = 0; default Monday to Friday). Public holidays and
    make-up working days (调休) are out of scope: a holiday counts as a working day if it falls on an
    office day, and a make-up Saturday counts as outside office hours.
    """

    many_operators: int = 3
    many_operators_window: dt.timedelta = dt.timedelta(days=30)
    bulk_threshold: int = 5
    office_start: dt.time = dt.time(8, 0)
    office_end: dt.time = dt.time(18, 0)
    office_days: tuple[int, ...] = (0, 1, 2, 3, 4)

    def __post_init__(self) -> None:
        if self.many_operators < 2:
            raise ValueError("many_operators must be at least 2")
        if self.many_operators_window < dt.timedelta(0):
            raise ValueError("many_operators_window must not be negative")
        if self.bulk_threshold < 1:
            raise ValueError("bulk_threshold must be at least 1")
        if self.office_start.tzinfo is not None or self.office_end.tzinfo is not None:
            raise ValueError("office_start and office_end are naive China times")
        if self.office_start > self.office_end:
            raise ValueError("office_start must not be after office_end")
        if any(day not in range(7) for day in self.office_days):
            raise ValueError("office_days are weekday numbers 0 (Monday) to 6 (Sunday)")

    def in_office_hours(self, instant: dt.datetime) -> bool:
        """Whether ``instant`` (aware; naive means UTC) falls in office hours, China time."""
        local = _china(instant)
        return local.weekday() in self.office_days and self.office_start <= local.time() < self.office_end


def find_anomalies(entries: Sequence[StoredEntry], rules: AnomalyRules = AnomalyRules()) -> list[Anomaly]:
    """All anomalies in ``entries`` (log order), sorted by their first evidence index."""
    found = [
        *_queries_without_case(entries),
        *_people_queried_by_many_operators(entries, rules),
        *_bulk_lookups_outside_office_hours(entries, rules),
        *_reports_read_by_other_clients(entries),
    ]
    order = {kind: n for n, kind in enumerate(ANOMALY_KINDS)}
    found.sort(key=lambda a: (a.entries[0] if a.entries else -1, order[a.kind], a.entries, a.description))
    return found


def client_host(client: str) -> str:
    """The client without its port: ``ipv4:127.0.0.1:53312`` is ``ipv4:127.0.0.1``.

    IPv6 peers (``ipv6:[::1]:5000``, or ``ipv6:%5B::1%5D:5000`` as gRPC writes them) become
    ``ipv6:[::1]``. Anything else (``unix:...``, a certificate identity) is returned unchanged.
    """
    scheme, colon, address = client.partition(":")
    if not colon:
        return client
    if scheme == "ipv4":
        host, port_colon, port = address.rpartition(":")
        return f"ipv4:{host}" if port_colon and port.isdigit() else client
    if scheme == "ipv6":
        address = urllib.parse.unquote(address)
        if address.startswith("[") and "]" in address:
            return f"ipv6:{address[: address.index(']') + 1]}"
        return f"ipv6:[{address}]" if address else client
    return client


# --- the four rules ---------------------------------------------------------------------------------


def _queries_without_case(entries: Sequence[StoredEntry]) -> list[Anomaly]:
    """Department queries and consent decisions whose verification was never created (or is unnamed)."""
    created = {e.verification for e in entries if e.kind == _CREATED and e.verification}
    orphans: dict[str, list[StoredEntry]] = defaultdict(list)
    found: list[Anomaly] = []
    for e in entries:
        if e.kind not in (_QUERY_SENT, _CONSENT):
            continue
        if not e.verification:
            what = "department query" if e.kind == _QUERY_SENT else "consent decision"
            found.append(
                Anomaly(
                    QUERY_WITHOUT_CASE,
                    f"{e.kind} ({what}) for department {_name(e.department)} by operator {_name(e.operator)} "
                    f"from client {_name(e.client)} names no verification",
                    (e.index,),
                )
            )
        elif e.verification not in created:
            orphans[e.verification].append(e)
    for verification, group in orphans.items():
        queries = sum(1 for e in group if e.kind == _QUERY_SENT)
        decisions = len(group) - queries
        departments = _names(e.department for e in group)
        found.append(
            Anomaly(
                QUERY_WITHOUT_CASE,
                f"Verification {_name(verification)}: {_count(queries, 'department query', 'department queries')} and "
                f"{_count(decisions, 'consent decision')} (departments {departments}) by operator(s) "
                f"{_names(e.operator for e in group)} from client(s) {_names(e.client for e in group)}, "
                f"but no {_CREATED} entry in the log",
                _indices(group),
            )
        )
    return found


def _people_queried_by_many_operators(entries: Sequence[StoredEntry], rules: AnomalyRules) -> list[Anomaly]:
    """People touched by ``rules.many_operators`` distinct operators within ``rules.many_operators_window``."""
    touches: dict[str, list[tuple[dt.datetime, int, str, str]]] = defaultdict(list)
    for e in entries:
        if e.kind in (_QUERY_SENT, _CREATED):
            when = as_utc(e.recorded_at)
            for subject in set(e.subjects):
                touches[subject].append((when, e.index, e.operator, e.verification))
    found: list[Anomaly] = []
    for subject in sorted(touches):
        events = sorted(touches[subject])
        for first, last in _dense_runs(events, rules.many_operators, rules.many_operators_window):
            run = events[first : last + 1]
            operators = _names(op for _, _, op, _ in run)
            distinct = len({op for _, _, op, _ in run})
            start, end = _china(run[0][0]), _china(run[-1][0])
            found.append(
                Anomaly(
                    PERSON_QUERIED_BY_MANY_OPERATORS,
                    f"Subject {_subject(subject)} was looked up by {distinct} distinct operators ({operators}) "
                    f"in {_count(len(run), 'entry', 'entries')} of verification(s) "
                    f"{_names(v for _, _, _, v in run)} between {start:%Y-%m-%d %H:%M} and "
                    f"{end:%Y-%m-%d %H:%M} China time; the rule is {rules.many_operators} operators within "
                    f"{_span(rules.many_operators_window)}",
                    tuple(sorted({index for _, index, _, _ in run})),
                )
            )
    return found


def _dense_runs(
    events: Sequence[tuple[dt.datetime, int, str, str]], threshold: int, window: dt.timedelta
) -> list[tuple[int, int]]:
    """Maximal index ranges of ``events`` (time-sorted) covered by windows with ``threshold`` operators.

    A sliding window keeps events at most ``window`` apart; every window holding at least ``threshold``
    distinct operators contributes its range, and overlapping ranges merge, so each event is reported
    in at most one run.
    """
    runs: list[tuple[int, int]] = []
    counts: dict[str, int] = defaultdict(int)
    left = 0
    for right, (when, _, operator, _) in enumerate(events):
        counts[operator] += 1
        while when - events[left][0] > window:
            gone = events[left][2]
            counts[gone] -= 1
            if not counts[gone]:
                del counts[gone]
            left += 1
        if len(counts) >= threshold:
            if runs and runs[-1][1] >= left:
                runs[-1] = (runs[-1][0], right)
            else:
                runs.append((left, right))
    return runs


def _bulk_lookups_outside_office_hours(entries: Sequence[StoredEntry], rules: AnomalyRules) -> list[Anomaly]:
    """Operators with ``rules.bulk_threshold`` verifications or people queried out of hours on one day."""
    days: dict[tuple[str, dt.date], list[StoredEntry]] = defaultdict(list)
    for e in entries:
        if e.kind in (_CREATED, _QUERY_SENT) and not rules.in_office_hours(e.recorded_at):
            days[(e.operator, _china(e.recorded_at).date())].append(e)
    found: list[Anomaly] = []
    for (operator, day), group in days.items():
        verifications = {e.verification or f"#{e.index}" for e in group if e.kind == _CREATED}
        subjects = {s for e in group if e.kind == _QUERY_SENT for s in e.subjects}
        if len(verifications) < rules.bulk_threshold and len(subjects) < rules.bulk_threshold:
            continue
        times = sorted(_china(e.recorded_at) for e in group)
        queries = sum(1 for e in group if e.kind == _QUERY_SENT)
        found.append(
            Anomaly(
                BULK_LOOKUP_OUTSIDE_OFFICE_HOURS,
                f"Operator {_name(operator)} created {_count(len(verifications), 'verification')} and sent "
                f"{_count(queries, 'department query', 'department queries')} about "
                f"{_count(len(subjects), 'distinct subject')} outside office hours on {day:%Y-%m-%d} "
                f"({day:%A}), {times[0]:%H:%M}-{times[-1]:%H:%M} China time; the rule is "
                f"{rules.bulk_threshold} outside {rules.office_start:%H:%M}-{rules.office_end:%H:%M} "
                f"on {_weekdays(rules.office_days)}",
                _indices(group),
            )
        )
    return found


def _reports_read_by_other_clients(entries: Sequence[StoredEntry]) -> list[Anomaly]:
    """Report reads from a client host other than the verification creator's, or with no creation.

    Grouped per verification and reading host; the evidence is the creation entry and the reads.
    """
    creators: dict[str, StoredEntry] = {}
    for e in entries:
        if e.kind == _CREATED and e.verification:
            creators.setdefault(e.verification, e)
    reads: dict[tuple[str, str], list[StoredEntry]] = defaultdict(list)
    for e in entries:
        if e.kind != _REPORT_READ:
            continue
        creator = creators.get(e.verification)
        host = client_host(e.client)
        if creator is None or client_host(creator.client) != host:
            reads[(e.verification, host)].append(e)
    found: list[Anomaly] = []
    for (verification, host), group in reads.items():
        creator = creators.get(verification)
        read = (
            f"The report of verification {_name(verification)} was read "
            f"{_count(len(group), 'time')} from client host {_name(host)} by operator(s) "
            f"{_names(e.operator for e in group)}"
        )
        if creator is None:
            found.append(
                Anomaly(REPORT_READ_BY_OTHER_CLIENT, f"{read}, but no {_CREATED} entry in the log", _indices(group))
            )
        else:
            found.append(
                Anomaly(
                    REPORT_READ_BY_OTHER_CLIENT,
                    f"{read}, but it was created from client host {_name(client_host(creator.client))} by "
                    f"operator {_name(creator.operator)}",
                    _indices([creator, *group]),
                )
            )
    return found


# --- helpers -------------------------------------------------------------------------------------------


def _china(instant: dt.datetime) -> dt.datetime:
    return as_utc(instant).astimezone(CHINA_TIME)


def _indices(group: Iterable[StoredEntry]) -> tuple[int, ...]:
    return tuple(sorted({e.index for e in group}))


def _name(value: str) -> str:
    return repr(value) if value else "(none)"


def _names(values: Iterable[str]) -> str:
    """Distinct values, sorted, the first few quoted: ``'a', 'b' and 3 more``."""
    distinct = sorted(set(values))
    shown = ", ".join(_name(v) for v in distinct[:_NAMES_SHOWN])
    hidden = len(distinct) - _NAMES_SHOWN
    return f"{shown} and {hidden} more" if hidden > 0 else shown


def _subject(subject: str) -> str:
    return f"{subject[:_HASH_PREFIX]}..." if len(subject) > _HASH_PREFIX else subject


def _count(n: int, singular: str, plural: str = "") -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _span(window: dt.timedelta) -> str:
    if window.seconds == 0 and window.microseconds == 0:
        return _count(window.days, "day")
    return str(window)


def _weekdays(days: Sequence[int]) -> str:
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return ", ".join(names[d] for d in sorted(set(days))) or "no days"
