"""Anomaly report for supervisors: audit/anomalies.py over hand-built log entries."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import pytest

from audit.anomalies import (
    ANOMALY_KINDS,
    BULK_LOOKUP_OUTSIDE_OFFICE_HOURS,
    PERSON_QUERIED_BY_MANY_OPERATORS,
    QUERY_WITHOUT_CASE,
    REPORT_READ_BY_OTHER_CLIENT,
    Anomaly,
    AnomalyRules,
    client_host,
    find_anomalies,
)
from audit.log import StoredEntry
from consent.identity import CHINA_TIME

MONDAY = dt.date(2026, 3, 2)
SATURDAY = dt.date(2026, 3, 7)
CLIENT = "ipv4:10.1.2.3:53312"


def china(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """An instant given in China time, as the log stores it (aware UTC)."""
    return dt.datetime.combine(day, dt.time(hour, minute, second), CHINA_TIME).astimezone(dt.UTC)


def person(name: str) -> str:
    """A stand-in for a keyed hash of an identity number."""
    return hashlib.sha256(name.encode()).hexdigest()


class Log:
    """Builds StoredEntry lists in log order; ``add`` returns the new entry's leaf index."""

    def __init__(self) -> None:
        self.entries: list[StoredEntry] = []

    def add(
        self,
        kind: str,
        at: dt.datetime,
        *,
        operator: str = "caseworker-li",
        client: str = CLIENT,
        verification: str = "v-1",
        department: str = "",
        subjects: tuple[str, ...] = (),
    ) -> int:
        index = len(self.entries)
        self.entries.append(
            StoredEntry(
                index=index,
                seq=index + 100,
                kind=kind,
                recorded_at=at,
                operator=operator,
                client=client,
                verification=verification,
                authorization="auth-1",
                department=department,
                subjects=tuple(sorted(subjects)),
                entry=b"{}",
            )
        )
        return index

    def created(self, at: dt.datetime, verification: str = "v-1", **kw: object) -> int:
        return self.add("VERIFICATION_CREATED", at, verification=verification, **kw)  # type: ignore[arg-type]

    def query(self, at: dt.datetime, verification: str = "v-1", **kw: object) -> int:
        kw.setdefault("department", "mca")
        return self.add("DEPARTMENT_QUERY_SENT", at, verification=verification, **kw)  # type: ignore[arg-type]

    def cases(self, *verifications: str) -> None:
        """Open cases (no subjects, in office hours) so that later queries have one behind them."""
        for verification in verifications:
            self.created(china(MONDAY, 9), verification=verification, operator="registrar")

    def find(self, rules: AnomalyRules | None = None) -> list[Anomaly]:
        return find_anomalies(self.entries) if rules is None else find_anomalies(self.entries, rules)


def kinds(anomalies: list[Anomaly]) -> list[str]:
    return [a.kind for a in anomalies]


def test_calendar_assumptions() -> None:
    assert MONDAY.weekday() == 0
    assert SATURDAY.weekday() == 5


# --- a normal verification ---------------------------------------------------------------------------


def test_a_normal_verification_gives_no_anomalies() -> None:
    log = Log()
    household = (person("applicant"), person("spouse"))
    t = china(MONDAY, 10)
    log.created(t, subjects=household)
    for n, department in enumerate(("mca", "pbc", "tax")):
        at = t + dt.timedelta(seconds=n)
        log.add("CONSENT_DECISION", at, department=department, subjects=household)
        log.query(at, department=department, subjects=household)
        log.add("DEPARTMENT_ANSWER_RECEIVED", at + dt.timedelta(minutes=1), department=department, subjects=household)
    log.add("REPORT_CREATED", t + dt.timedelta(minutes=2), subjects=household)
    log.add("REPORT_READ", t + dt.timedelta(minutes=5), client="ipv4:10.1.2.3:60001")  # same host, new port
    log.add("AUTHORIZATION_REGISTERED", t, verification="", subjects=household)
    assert log.find() == []
    assert find_anomalies([]) == []


# --- QUERY_WITHOUT_CASE ------------------------------------------------------------------------------


def test_query_and_consent_for_a_verification_never_created() -> None:
    log = Log()
    log.created(china(MONDAY, 9), verification="v-real")
    consent = log.add(
        "CONSENT_DECISION", china(MONDAY, 9, 5), verification="v-ghost", department="pbc", operator="wang"
    )
    query = log.query(china(MONDAY, 9, 5), verification="v-ghost", department="pbc", operator="wang")
    log.add("DEPARTMENT_ANSWER_RECEIVED", china(MONDAY, 9, 6), verification="v-ghost", department="pbc")

    [anomaly] = log.find()
    assert anomaly.kind == QUERY_WITHOUT_CASE
    assert anomaly.entries == (consent, query)
    assert anomaly.description.startswith("Verification 'v-ghost': ")
    assert "1 department query and 1 consent decision" in anomaly.description
    assert "'pbc'" in anomaly.description and "'wang'" in anomaly.description
    assert CLIENT in anomaly.description


def test_query_naming_no_verification_is_reported_per_entry() -> None:
    log = Log()
    first = log.query(china(MONDAY, 9), verification="", department="tax", operator="zhao")
    second = log.query(china(MONDAY, 9, 1), verification="", department="mca", operator="zhao")
    anomalies = log.find()
    assert kinds(anomalies) == [QUERY_WITHOUT_CASE, QUERY_WITHOUT_CASE]
    assert [a.entries for a in anomalies] == [(first,), (second,)]
    assert "'tax'" in anomalies[0].description and "names no verification" in anomalies[0].description


def test_query_with_its_case_is_not_reported() -> None:
    log = Log()
    log.created(china(MONDAY, 9), verification="v-7")
    log.add("CONSENT_DECISION", china(MONDAY, 9), verification="v-7", department="pbc")
    log.query(china(MONDAY, 9), verification="v-7", department="pbc")
    # Only queries and consent decisions need a case; an orphan answer or failure is not this rule.
    log.add("DEPARTMENT_QUERY_FAILED", china(MONDAY, 9), verification="v-8", department="pbc")
    assert log.find() == []


# --- PERSON_QUERIED_BY_MANY_OPERATORS ----------------------------------------------------------------


def test_exactly_three_operators_within_the_window() -> None:
    log = Log()
    log.cases("v-b", "v-c")
    target = person("neighbour")
    a = log.created(china(MONDAY, 9), verification="v-a", operator="li", subjects=(target, person("x")))
    b = log.query(china(MONDAY, 11), verification="v-b", operator="wang", subjects=(target,))
    log.query(china(MONDAY, 12), verification="v-c", operator="wang", subjects=(person("unrelated"),))
    c = log.query(china(MONDAY + dt.timedelta(days=10), 9), verification="v-c", operator="zhang", subjects=(target,))

    [anomaly] = log.find()
    assert anomaly.kind == PERSON_QUERIED_BY_MANY_OPERATORS
    assert anomaly.entries == (a, b, c)
    assert target[:12] in anomaly.description and target not in anomaly.description
    assert "3 distinct operators ('li', 'wang', 'zhang')" in anomaly.description
    assert "'v-a', 'v-b', 'v-c'" in anomaly.description
    assert "3 operators within 30 days" in anomaly.description


def test_two_operators_many_times_is_not_reported() -> None:
    log = Log()
    target = person("applicant")
    for day in range(6):
        at = china(MONDAY + dt.timedelta(days=day), 10)
        log.created(at, verification=f"v-{day}", operator=("li", "wang")[day % 2], subjects=(target,))
        log.query(at, verification=f"v-{day}", operator=("li", "wang")[day % 2], subjects=(target,))
    assert log.find() == []


@pytest.mark.parametrize(
    ("gap", "reported"), [(dt.timedelta(days=30), True), (dt.timedelta(days=30, seconds=1), False)]
)
def test_window_edge(gap: dt.timedelta, reported: bool) -> None:
    log = Log()
    target = person("applicant")
    start = china(MONDAY, 10)
    log.created(start, operator="li", subjects=(target,))
    log.query(start + dt.timedelta(days=15), operator="wang", subjects=(target,))
    log.query(start + gap, operator="zhang", subjects=(target,))
    assert kinds(log.find()) == ([PERSON_QUERIED_BY_MANY_OPERATORS] if reported else [])


def test_overlapping_windows_give_one_finding_and_distant_ones_two() -> None:
    log = Log()
    log.cases("v-1")
    target = person("applicant")
    start = china(MONDAY, 10)
    first = [
        log.query(start + dt.timedelta(days=d), operator=op, subjects=(target,))
        for d, op in ((0, "a"), (1, "b"), (2, "c"), (3, "d"), (20, "a"))
    ]
    later = start + dt.timedelta(days=200)
    second = [
        log.query(later + dt.timedelta(days=d), operator=op, subjects=(target,))
        for d, op in ((0, "e"), (1, "f"), (2, "g"))
    ]
    anomalies = log.find()
    assert kinds(anomalies) == [PERSON_QUERIED_BY_MANY_OPERATORS] * 2
    assert anomalies[0].entries == tuple(first)
    assert "4 distinct operators" in anomalies[0].description
    assert anomalies[1].entries == tuple(second)


def test_many_operators_is_configurable() -> None:
    log = Log()
    log.cases("v-1")
    target = person("applicant")
    log.query(china(MONDAY, 10), operator="li", subjects=(target,))
    log.query(china(MONDAY, 11), operator="wang", subjects=(target,))
    assert log.find() == []
    rules = AnomalyRules(many_operators=2, many_operators_window=dt.timedelta(hours=1))
    assert kinds(log.find(rules)) == [PERSON_QUERIED_BY_MANY_OPERATORS]
    assert "2 operators within 1:00:00" in log.find(rules)[0].description


# --- BULK_LOOKUP_OUTSIDE_OFFICE_HOURS -----------------------------------------------------------------


def test_five_verifications_in_the_evening() -> None:
    log = Log()
    evening = [log.created(china(MONDAY, 19 + n), verification=f"v-{n}", operator="night-owl") for n in range(5)]
    log.created(china(MONDAY, 10), verification="v-day", operator="night-owl")  # in office hours: not evidence

    [anomaly] = log.find()
    assert anomaly.kind == BULK_LOOKUP_OUTSIDE_OFFICE_HOURS
    assert anomaly.entries == tuple(evening)
    assert "'night-owl' created 5 verifications" in anomaly.description
    assert "2026-03-02 (Monday), 19:00-23:00 China time" in anomaly.description
    assert "outside 08:00-18:00 on Mon, Tue, Wed, Thu, Fri" in anomaly.description


def test_four_verifications_in_the_evening_is_below_the_threshold() -> None:
    log = Log()
    for n in range(4):
        log.created(china(MONDAY, 19 + n), verification=f"v-{n}", operator="night-owl")
    # Other operators' evening work does not add up with hers.
    log.created(china(MONDAY, 20), verification="v-x", operator="colleague")
    assert log.find() == []


@pytest.mark.parametrize(("hour", "minute", "reported"), [(7, 59, True), (8, 0, False), (17, 59, False), (18, 0, True)])
def test_office_hour_boundaries(hour: int, minute: int, reported: bool) -> None:
    log = Log()
    for n in range(4):
        log.created(china(MONDAY, 6, n), verification=f"v-{n}")
    last = log.created(china(MONDAY, hour, minute), verification="v-last")
    anomalies = log.find()
    assert kinds(anomalies) == ([BULK_LOOKUP_OUTSIDE_OFFICE_HOURS] if reported else [])
    if reported:
        assert last in anomalies[0].entries


def test_saturday_office_hours_count_as_outside() -> None:
    log = Log()
    saturday = [log.created(china(SATURDAY, 10, n), verification=f"v-{n}") for n in range(5)]
    [anomaly] = log.find()
    assert anomaly.entries == tuple(saturday)
    assert "2026-03-07 (Saturday)" in anomaly.description
    # An office that works Saturdays says so.
    assert log.find(AnomalyRules(office_days=(0, 1, 2, 3, 4, 5))) == []


def test_queries_about_five_distinct_people_at_night() -> None:
    log = Log()
    log.cases("v-1")
    household = tuple(person(f"member-{n}") for n in range(5))
    sent = [
        log.query(china(MONDAY, 22), department=d, operator="night-owl", subjects=household) for d in ("mca", "tax")
    ]
    [anomaly] = log.find()
    assert anomaly.kind == BULK_LOOKUP_OUTSIDE_OFFICE_HOURS
    assert anomaly.entries == tuple(sent)
    assert "created 0 verifications and sent 2 department queries about 5 distinct subjects" in anomaly.description


def test_many_queries_about_four_people_is_below_the_threshold() -> None:
    log = Log()
    log.cases("v-1")
    household = tuple(person(f"member-{n}") for n in range(4))
    for department in ("mca", "tax", "pbc", "hrss", "housing", "vehicles"):
        log.query(china(MONDAY, 22), department=department, subjects=household)
    assert log.find() == []


def test_days_are_china_calendar_days() -> None:
    # 23:30 Monday and 00:30 Tuesday China time are the same UTC day, but two China days.
    log = Log()
    for n in range(3):
        log.created(china(MONDAY, 23, n), verification=f"v-a{n}")
    tuesday = MONDAY + dt.timedelta(days=1)
    for n in range(2):
        log.created(china(tuesday, 0, 30 + n), verification=f"v-b{n}")
    assert log.find() == []

    # 06:00 and 20:00 Tuesday China time are different UTC days, but one China day.
    log = Log()
    early = [log.created(china(tuesday, 6, n), verification=f"v-c{n}") for n in range(3)]
    late = [log.created(china(tuesday, 20, n), verification=f"v-d{n}") for n in range(2)]
    assert log.entries[early[0]].recorded_at.date() != log.entries[late[0]].recorded_at.date()
    [anomaly] = log.find()
    assert anomaly.entries == (*early, *late)
    assert "2026-03-03 (Tuesday)" in anomaly.description


# --- REPORT_READ_BY_OTHER_CLIENT ---------------------------------------------------------------------


def test_report_read_from_another_host() -> None:
    log = Log()
    created = log.created(china(MONDAY, 9), client="ipv4:10.1.2.3:40000", operator="li")
    reads = [
        log.add("REPORT_READ", china(MONDAY, 15, n), client=f"ipv4:192.168.9.9:{5000 + n}", operator="zhou")
        for n in range(2)
    ]
    log.add("REPORT_READ", china(MONDAY, 16), client="ipv4:10.1.2.3:40001", operator="li")

    [anomaly] = log.find()
    assert anomaly.kind == REPORT_READ_BY_OTHER_CLIENT
    assert anomaly.entries == (created, *reads)
    assert "verification 'v-1' was read 2 times from client host 'ipv4:192.168.9.9'" in anomaly.description
    assert "operator(s) 'zhou'" in anomaly.description
    assert "created from client host 'ipv4:10.1.2.3' by operator 'li'" in anomaly.description


def test_report_read_with_no_verification_created() -> None:
    log = Log()
    read = log.add("REPORT_READ", china(MONDAY, 15), verification="v-unknown")
    [anomaly] = log.find()
    assert anomaly.kind == REPORT_READ_BY_OTHER_CLIENT
    assert anomaly.entries == (read,)
    assert "'v-unknown'" in anomaly.description and "no VERIFICATION_CREATED" in anomaly.description


def test_report_read_from_the_same_ipv6_host_in_either_spelling() -> None:
    log = Log()
    log.created(china(MONDAY, 9), client="ipv6:%5B::1%5D:51456")
    log.add("REPORT_READ", china(MONDAY, 10), client="ipv6:[::1]:5000")
    assert log.find() == []
    log.add("REPORT_READ", china(MONDAY, 11), client="ipv6:[2001:db8::7]:5000")
    [anomaly] = log.find()
    assert "'ipv6:[2001:db8::7]'" in anomaly.description and "'ipv6:[::1]'" in anomaly.description


@pytest.mark.parametrize(
    ("client", "host"),
    [
        ("ipv4:127.0.0.1:53312", "ipv4:127.0.0.1"),
        ("ipv6:[::1]:5000", "ipv6:[::1]"),
        ("ipv6:%5B::1%5D:51456", "ipv6:[::1]"),
        ("ipv6:[fe80::1%25eth0]:5000", "ipv6:[fe80::1%eth0]"),
        ("unix:/run/hedui.sock", "unix:/run/hedui.sock"),
        ("CN=Haidian District Civil Affairs Bureau", "CN=Haidian District Civil Affairs Bureau"),
        ("", ""),
    ],
)
def test_client_host(client: str, host: str) -> None:
    assert client_host(client) == host


# --- the report as a whole ---------------------------------------------------------------------------


def test_findings_are_sorted_by_first_evidence_and_deterministic() -> None:
    log = Log()
    read = log.add("REPORT_READ", china(MONDAY, 15), verification="v-unknown")
    orphan = log.query(china(MONDAY, 9), verification="v-ghost")
    bulk = [log.created(china(SATURDAY, 9, n), verification=f"v-{n}") for n in range(5)]
    anomalies = log.find()
    assert [(a.kind, a.entries[0]) for a in anomalies] == [
        (REPORT_READ_BY_OTHER_CLIENT, read),
        (QUERY_WITHOUT_CASE, orphan),
        (BULK_LOOKUP_OUTSIDE_OFFICE_HOURS, bulk[0]),
    ]
    assert find_anomalies(list(reversed(log.entries))) == anomalies
    assert set(ANOMALY_KINDS) == {
        QUERY_WITHOUT_CASE,
        PERSON_QUERIED_BY_MANY_OPERATORS,
        BULK_LOOKUP_OUTSIDE_OFFICE_HOURS,
        REPORT_READ_BY_OTHER_CLIENT,
    }


def test_to_plain() -> None:
    anomaly = Anomaly(QUERY_WITHOUT_CASE, "something", (3, 5))
    assert anomaly.to_plain() == {"kind": QUERY_WITHOUT_CASE, "description": "something", "entries": [3, 5]}


@pytest.mark.parametrize(
    "bad",
    [
        {"many_operators": 1},
        {"many_operators_window": dt.timedelta(days=-1)},
        {"bulk_threshold": 0},
        {"office_start": dt.time(18), "office_end": dt.time(8)},
        {"office_days": (0, 7)},
    ],
)
def test_rules_are_checked(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        AnomalyRules(**bad)  # type: ignore[arg-type]


def test_descriptions_never_carry_whole_subject_hashes() -> None:
    log = Log()
    household = tuple(person(f"member-{n}") for n in range(6))
    for n, op in zip(range(6), itertools.cycle(("a", "b", "c")), strict=False):
        log.query(china(MONDAY, 9, n), verification="v-ghost", operator=op, subjects=household)
    anomalies = log.find()
    assert set(kinds(anomalies)) == {QUERY_WITHOUT_CASE, PERSON_QUERIED_BY_MANY_OPERATORS}
    for anomaly in anomalies:
        assert not any(s in anomaly.description for s in household)
