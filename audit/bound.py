"""Rows the log vouches for: each stored report and each stored department answer has its digest in its entry.

``REPORT_CREATED`` records ``report_sha256`` (the report's canonical JSON) and ``DEPARTMENT_ANSWER_RECEIVED``
records ``answer_sha256`` (:func:`answer_digest`: what the assessment reads of the stored answer), both written in
the transaction that stores the row. Whoever edits a row with the database in hand cannot edit the entry too (its
MAC, its leaf, the signed heads), so a row that differs from its entry is told apart — by the service before it
serves or uses the row, and by ``hedui audit verify --db`` for every row (:class:`BoundLedger`).

The service finds a row's entries by their index columns (:func:`recorded_for`) and trusts only what their MAC (or,
for an entry written before MACs, its leaf) vouches for; an edited index column hides the entry, and the row is
then refused as having none — never served as genuine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sqlalchemy import DateTime, Integer, String, Text, column, select, table, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from audit.log import EntryMac, as_utc, audit_entries, audit_leaves
from audit.merkle import leaf_hash

__all__ = [
    "ANSWERED",
    "OUTCOME_KINDS",
    "REPORT_CREATED",
    "BoundLedger",
    "CellKeyDestroyed",
    "CellOpener",
    "Recorded",
    "StoredAnswer",
    "answer_digest",
    "answer_problem",
    "canonical_digest",
    "latest_outcomes",
    "recorded_for",
    "report_problem",
]

REPORT_CREATED: Final = "REPORT_CREATED"
ANSWERED: Final = "DEPARTMENT_ANSWER_RECEIVED"
OUTCOME_KINDS: Final = frozenset({ANSWERED, "DEPARTMENT_ANSWER_PENDING", "DEPARTMENT_QUERY_FAILED"})
"""The entries that record how asking a department ended; the latest of them is what its stored row must say."""
KEY_DESTROYED: Final = "DATA_KEY_DESTROYED"
"""Issue 17: retention destroyed a data key (``details.key_id``): the answers it sealed expired."""
_OK: Final = "ok"


def canonical_digest(value: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``value`` as canonical JSON: sorted keys, no spaces, UTF-8 (the report digest's encoding)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What a stored department result holds that a report is built from (the columns, as text)."""

    verification: str
    department: str
    status: str
    detail: str
    records_json: str
    not_queried_json: str
    answered_at: dt.datetime | None

    @classmethod
    def of(cls, verification: str, row: Any) -> StoredAnswer:
        """The stored answer of ``row`` (anything with the result columns: a Core row, an ORM object, a dict)."""
        get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)
        answered = get("answered_at")
        return cls(
            verification,
            str(get("department")),
            str(get("status")),
            str(get("detail") or ""),
            str(get("records_json")),
            str(get("not_queried_json")),
            None if answered is None else as_utc(answered),
        )


def answer_digest(answer: StoredAnswer) -> str:
    """The digest ``DEPARTMENT_ANSWER_RECEIVED`` records: every column of the answer the assessment reads, with
    the verification and department it belongs to, as canonical JSON (the texts as stored, the time in UTC)."""
    answered = answer.answered_at
    return canonical_digest(
        {
            "verification": answer.verification,
            "department": answer.department,
            "status": answer.status,
            "detail": answer.detail,
            "records_json": answer.records_json,
            "not_queried_json": answer.not_queried_json,
            "answered_at": None if answered is None else answered.astimezone(dt.UTC).isoformat("T", "microseconds"),
        }
    )


@dataclass(frozen=True, slots=True)
class Recorded:
    """A genuine entry about a row, decoded from its bytes: its kind, department and details."""

    kind: str
    department: str
    details: Mapping[str, Any]


def report_problem(report_id: str, digest: str, recorded: Iterable[Recorded]) -> str | None:
    """What is wrong with a stored report whose canonical JSON has ``digest``, against the genuine
    ``REPORT_CREATED`` entries of its verification (``None``: it is the report issued)."""
    entry = next((r for r in recorded if r.kind == REPORT_CREATED and r.details.get("report_id") == report_id), None)
    if entry is None:
        return "no REPORT_CREATED entry of the log records it"
    signed = entry.details.get("report_sha256")
    if not isinstance(signed, str):
        return "its REPORT_CREATED entry records no digest (written before reports were bound to the log)"
    if signed != digest:
        return f"its digest {digest} is not the {signed} its REPORT_CREATED entry recorded (edited)"
    return None


def answer_problem(answer: StoredAnswer, latest: Recorded | None) -> str | None:
    """What is wrong with a stored department result against ``latest``, the newest genuine outcome entry of its
    verification and department (``None``: it is what was received, or no answer at all)."""
    if latest is None or latest.kind != ANSWERED:
        if answer.status == _OK:
            return "it is stored as answered, but no DEPARTMENT_ANSWER_RECEIVED entry of the log records the answer"
        return None
    if answer.status != _OK:
        return f"it is stored as {answer.status!r}, but the log's DEPARTMENT_ANSWER_RECEIVED recorded an answer"
    signed = latest.details.get("answer_sha256")
    if isinstance(signed, str):
        if signed != answer_digest(answer):
            return "it differs from the answer its DEPARTMENT_ANSWER_RECEIVED entry recorded (edited)"
        return None
    # An answer stored before answer_sha256 existed: its entry records the digest of its records alone.
    legacy = latest.details.get("sha256")
    if not isinstance(legacy, str):
        return "its DEPARTMENT_ANSWER_RECEIVED entry records no digest"
    if legacy != hashlib.sha256(answer.records_json.encode()).hexdigest():
        return "its records differ from those its DEPARTMENT_ANSWER_RECEIVED entry recorded (edited)"
    return None


def _decoded(entry: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(entry)
    except ValueError:
        return None
    return body if isinstance(body, dict) and isinstance(body.get("details"), dict) else None


async def recorded_for(session: AsyncSession, mac: EntryMac, verification: str, kinds: Iterable[str]) -> list[Recorded]:
    """The genuine entries of ``kinds`` about ``verification``, in the order they were appended (one statement).

    Found by their index columns, trusted from their bytes: an entry counts only if its MAC verifies under the
    entry key (an entry written before MACs: if its bytes hash to its leaf) and its bytes name this kind and
    verification. A row inserted behind hedui's back is passed over — the integrator refuses it, verify names it.
    """
    wanted = frozenset(kinds)
    e, leaves = audit_entries.c, audit_leaves.c
    rows = (
        await session.execute(
            select(e.entry, e.mac, leaves.leaf_hash)
            .select_from(audit_entries)
            .outerjoin(audit_leaves, leaves.entry_seq == e.seq)
            .where(e.kind.in_(sorted(wanted)), e.verification == verification)
            .order_by(e.seq)
        )
    ).all()
    found: list[Recorded] = []
    for row in rows:
        entry = bytes(row.entry)
        genuine = mac.check(entry, row.mac) if row.mac is not None else _in_tree(entry, row.leaf_hash)
        body = _decoded(entry) if genuine else None
        if body is None or body.get("kind") not in wanted or body.get("verification") != verification:
            continue
        found.append(Recorded(str(body["kind"]), str(body.get("department", "")), body["details"]))
    return found


def _in_tree(entry: bytes, stored_leaf: bytes | None) -> bool:
    """An entry without a MAC (written before revision 0005, integrated before the upgrade) is genuine if it is the
    leaf the tree holds (the tree itself is proven against the signer's state and the signed heads)."""
    return stored_leaf is not None and leaf_hash(entry) == bytes(stored_leaf)


def latest_outcomes(recorded: Iterable[Recorded]) -> dict[str, Recorded]:
    """Per department, the newest of the outcome entries ``recorded`` (in log order)."""
    return {r.department: r for r in recorded if r.kind in OUTCOME_KINDS}


# The verifier's tables of the rows the log vouches for, as far as the audit check reads them (the audit package
# never imports verifier/: the names are the contract, see verifier/storage/models.py).
_reports = table(
    "reports",
    column("id", String),
    column("verification_id", String),
    column("version", Integer),
    column("body_json", Text),
)
_results = table(
    "department_results",
    column("verification_id", String),
    column("department", String),
    column("status", String),
    column("detail", Text),
    column("records_json", Text),
    column("not_queried_json", Text),
    column("answered_at", DateTime(timezone=True)),
)
_PAGE: Final = 2_000


class CellKeyDestroyed(LookupError):
    """Issue 17: the cell's data key was destroyed (crypto-shredded); which key, to match its ``DATA_KEY_DESTROYED``."""

    def __init__(self, message: str, key_id: str) -> None:
        """Why, and the destroyed key's id."""
        super().__init__(message)
        self.key_id = key_id


class CellOpener(Protocol):
    """Issue 17: opens a cell sealed at rest (the digests are over the plaintext). Raises :class:`CellKeyDestroyed`
    when its data key was destroyed (by retention: the answer expired), ``LookupError`` when its key is not at hand
    (unknown here, or its master key not given), ``ValueError`` when it does not open (edited or moved); returns a
    legacy plaintext cell as it is."""

    def __call__(self, table: str, column: str, row: str, stored: Any) -> Any:
        """The plaintext of ``stored``, the cell ``table.column`` of ``row``."""
        ...


def _as_stored(table: str, column: str, row: str, stored: Any) -> Any:
    return stored


class BoundLedger:
    """What the log checker saw of reports and answers (fed every signed entry in log order), and the check of
    every stored report and department result against it (``hedui audit verify --db``)."""

    def __init__(self, opener: CellOpener | None = None) -> None:
        """An empty ledger; ``opener`` opens sealed cells (issue 17; none: the rows are read as stored)."""
        self._reports: dict[str, Mapping[str, Any]] = {}
        self._outcomes: dict[tuple[str, str], Recorded] = {}
        self._open: CellOpener = opener or _as_stored
        self.expired = 0  # issue 17: answers whose data key retention destroyed, as the log records (not checked)
        self.unopened = 0  # ... and reports and answers whose data key is not at hand (no master key given)
        self._destroyed: set[str] = set()  # the data keys the log says retention destroyed

    def take(self, body: Mapping[str, Any]) -> None:
        """The next signed entry (decoded, already checked to be an entry hedui writes)."""
        kind = body["kind"]
        if kind == REPORT_CREATED:
            details = body["details"]
            self._reports[str(details.get("report_id"))] = details
        elif kind in OUTCOME_KINDS:
            key = (body["verification"], body["department"])
            self._outcomes[key] = Recorded(kind, body["department"], body["details"])
        elif kind == KEY_DESTROYED:
            self._destroyed.add(str(body["details"].get("key_id")))

    async def check(self, session: AsyncSession, size: int) -> tuple[str | None, int]:
        """The first stored report or department result that disagrees with the log, in words (``None``: none),
        and how many rows could not be checked yet: their entries are not among the ``size`` leaves checked
        (waiting for integration, or integrated after the heads were read).

        The rows are read before those newer entries, so a row committed meanwhile has its entry among them."""
        suspects: list[tuple[str, str, object]] = []
        async for stored in _pages(session, _reports, (_reports.c.id,)):
            row, problem = self._opened_report(stored)
            if row is None:
                continue
            problem = problem or _report_row_problem(row, self._reports.get(row.id))
            if problem is not None:
                name = f"report {row.id} (verifications/{row.verification_id}/reports/{row.version})"
                suspects.append((name, problem, row.id))
        async for stored in _pages(session, _results, (_results.c.verification_id, _results.c.department)):
            row, opened = self._opened_answer(stored)
            if isinstance(opened, CellKeyDestroyed):  # destroyed with no entry saying so among those checked
                name = f"department answer of verifications/{stored.verification_id} at {stored.department}"
                why = f"its data key {opened.key_id} was destroyed and no DATA_KEY_DESTROYED entry says so"
                suspects.append((name, why, (KEY_DESTROYED, opened.key_id)))
                continue
            if row is None:
                continue
            answer = StoredAnswer.of(row.verification_id, row)
            problem = opened or answer_problem(answer, self._outcomes.get((answer.verification, answer.department)))
            if problem is not None:
                name = f"department answer of verifications/{row.verification_id} at {row.department}"
                suspects.append((name, problem, (answer.verification, answer.department)))
        if not suspects:
            return None, 0
        newer = await _newer(session, size)
        unchecked = 0
        for name, problem, about in suspects:
            if about not in newer:
                return f"{name}: {problem}", unchecked
            unchecked += 1
        return None, unchecked

    def _opened_report(self, row: Any) -> tuple[Any, str | None]:
        """Issue 17: the report row with its body opened, or why it does not open."""
        values = dict(row._mapping)
        try:
            values["body_json"] = self._open("reports", "body_json", str(row.id), row.body_json)
        except CellKeyDestroyed as exc:
            return row, f"its data key {exc.key_id} was destroyed (retention destroys answers' keys only)"
        except LookupError:
            self.unopened += 1
            return None, None
        except ValueError as exc:
            return row, f"its sealed body does not open ({exc})"
        return _Row(values), None

    def _opened_answer(self, row: Any) -> tuple[Any, str | CellKeyDestroyed | None]:
        """Issue 17: the result row with its answer opened; ``None`` when retention destroyed its key as the log
        records (expired, not a failure: nothing is built from it any more) or its key is not at hand (not checked);
        else why it does not open (a destroyed key the log does not record: :class:`CellKeyDestroyed`)."""
        values = dict(row._mapping)
        key = f"{row.verification_id}/{row.department}"
        try:
            for name in ("records_json", "not_queried_json"):
                values[name] = self._open("department_results", name, key, values[name])
        except CellKeyDestroyed as exc:
            if exc.key_id not in self._destroyed:
                return None, exc
            self.expired += 1
            return None, None
        except LookupError:
            self.unopened += 1
            return None, None
        except ValueError as exc:
            return row, f"its sealed answer does not open ({exc})"
        return _Row(values), None


class _Row(dict[str, Any]):
    """A row's columns by attribute (the opened copy of a Core row)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _report_row_problem(row: Any, details: Mapping[str, Any] | None) -> str | None:
    try:
        body = json.loads(row.body_json)
    except ValueError:
        return "its stored JSON does not parse (edited)"
    if not isinstance(body, dict):
        return "its stored JSON is not a report (edited)"
    recorded = [] if details is None else [Recorded(REPORT_CREATED, "", details)]
    return report_problem(row.id, canonical_digest(body), recorded)


async def _pages(session: AsyncSession, of: Any, key: Sequence[Any]) -> AsyncIterator[Any]:
    """Every row of the table ``of``, in pages ordered by its primary ``key`` (keyset paging)."""
    after: tuple[Any, ...] | None = None
    while True:
        query = select(of).order_by(*key).limit(_PAGE)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        page = (await session.execute(query)).all()
        for row in page:
            yield row
        if len(page) < _PAGE:
            return
        after = tuple(getattr(page[-1], c.name) for c in key)


async def _newer(session: AsyncSession, size: int) -> set[object]:
    """The report ids, (verification, department) pairs and destroyed data keys that entries outside the first
    ``size`` leaves are about: their rows are checked by a later run."""
    e, leaves = audit_entries.c, audit_leaves.c
    checked = select(leaves.entry_seq).where(leaves.leaf_index < size)
    kinds = sorted({REPORT_CREATED, KEY_DESTROYED, *OUTCOME_KINDS})
    query = select(e.entry).where(e.kind.in_(kinds), ~e.seq.in_(checked))
    about: set[object] = set()
    for (entry,) in (await session.execute(query)).all():
        body = _decoded(bytes(entry))
        if body is None:
            continue
        if body.get("kind") == REPORT_CREATED:
            about.add(str(body["details"].get("report_id")))
        elif body.get("kind") == KEY_DESTROYED:
            about.add((KEY_DESTROYED, str(body["details"].get("key_id"))))
        else:
            about.add((str(body.get("verification")), str(body.get("department"))))
    return about
