"""The append-only audit table and the one function that appends to it.

Appends run inside the caller's transaction, so a state change and its entry
commit together or not at all. UPDATE and DELETE are refused by triggers that the
migrations install.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    CursorResult,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TextClause,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import AuditEvent, canonical_entry, subject_hash
from audit.organisation import entry_organisation
from audit.state import WriteGate

__all__ = [
    "AuditLog",
    "EntryFilter",
    "EntryMac",
    "EntryTampered",
    "StoredEntry",
    "WritesStopped",
    "as_utc",
    "audit_entries",
    "audit_leaves",
    "audit_pending",
    "audit_refused",
    "audit_signer",
    "audit_tree_heads",
    "column_disagreement",
    "insert_rows",
    "metadata",
    "signed_entry",
    "sqlite_datetime_text",
    "subjects_column",
]

metadata = MetaData()

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(64), nullable=False, index=True),
    Column("operator", String(200), nullable=False),
    Column("client", String(200), nullable=False),
    Column("verification", String(100), nullable=False),  # found by ix_audit_entries_verification_kind
    Column("authorization", Text, nullable=False),
    Column("department", String(64), nullable=False),
    Column("subjects", Text, nullable=False),
    Column("entry", LargeBinary, nullable=False),
    # HMAC-SHA256 of the entry under the entry key, which the database does not hold (see EntryMac). NULL only
    # for entries written before revision 0005, all of them integrated before the upgrade.
    Column("mac", LargeBinary, nullable=True),
    # Issue 13: the organisation the entry is of (audit.organisation), which a supervisor's reads are scoped by.
    Column("organisation", String(200), nullable=False, server_default="", index=True),
    # A verification's entries of some kinds (a report's REPORT_CREATED, its answers' entries): one index for both
    # columns, so SQLite (no statistics) never reads every entry of a kind instead (migration 0009).
    Index("ix_audit_entries_verification_kind", "verification", "kind"),
)

# Entries committed but not yet in the Merkle tree: a work queue, the only audit table rows leave.
audit_pending = Table(
    "audit_pending",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
)

# The tree's leaves in log order: leaf i is the entry ``entry_seq``; its hash is kept for fast reloads
# and so that an entry edited afterwards is named exactly.
audit_leaves = Table(
    "audit_leaves",
    metadata,
    Column("leaf_index", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("entry_seq", BigInteger, nullable=False, unique=True),
    Column("leaf_hash", LargeBinary, nullable=False),  # not indexed: copies are found in memory (audit.leaf_index)
)

# One row: the integrator's lease. Each integration updates it first, so integrations take turns across every
# process on the database (the row lock is held until the integration commits). The signer's state itself is
# outside the database (audit.state).
audit_signer = Table(
    "audit_signer",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(200), nullable=False),
    Column("taken_at", DateTime(timezone=True), nullable=False),
)

# Queue rows the integrator refused (no valid MAC, already integrated, a copy of an entry in the tree, no
# entry): kept as evidence, never integrated. ``hedui audit verify`` names the first.
audit_refused = Table(
    "audit_refused",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False),
    Column("refused_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
)

# Signed tree heads (C2SP checkpoints), one per integrated batch.
audit_tree_heads = Table(
    "audit_tree_heads",
    metadata,
    Column("tree_size", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("checkpoint", Text, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored: ``index`` is its leaf position in the Merkle tree."""

    index: int
    seq: int
    kind: str
    recorded_at: dt.datetime
    operator: str
    client: str
    verification: str
    authorization: str
    department: str
    subjects: tuple[str, ...]
    entry: bytes


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """What a supervisor searches by; empty fields match everything."""

    verification: str = ""
    kind: str = ""
    operator: str = ""
    department: str = ""
    subject: str = ""  # a keyed hash, see AuditLog.subject
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def matches(self, entry: StoredEntry) -> bool:
        """Whether ``entry`` (its signed values) passes this filter."""
        for wanted, value in (
            (self.verification, entry.verification),
            (self.kind, entry.kind),
            (self.operator, entry.operator),
            (self.department, entry.department),
        ):
            if wanted and wanted != value:
                return False
        if self.subject and self.subject not in entry.subjects:
            return False
        if self.since is not None and entry.recorded_at < self.since:
            return False
        return self.until is None or entry.recorded_at < self.until


def as_utc(value: dt.datetime) -> dt.datetime:
    """An instant read from the database as an aware one: SQLite hands back naive UTC, PostgreSQL aware."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# Beyond this many entries an append on SQLite inserts them by a plain executemany and queues them by one
# INSERT … SELECT (a RETURNING executemany compiles a multi-row statement per page, and each seq comes back).
_ROWS_A_STATEMENT = 64


def _one_statement(session: AsyncSession) -> bool:
    """PostgreSQL queues an appended entry in the same statement (a data-modifying WITH); SQLite cannot."""
    return session.get_bind().dialect.name == "postgresql"


_APPENDED = [column for column in audit_entries.columns if column.name != "seq"]  # what an append writes
_APPENDED_NAMES = tuple(column.name for column in _APPENDED)


@functools.cache
def _unnested(dialect: Dialect, returning: bool = False) -> TextClause:
    """PostgreSQL: any number of entries appended and queued by one statement of one array per column, the same
    text whatever the count (prepared once per connection), the rows numbered so that seq follows their order::

        WITH appended AS (INSERT INTO audit_entries (c1, …) SELECT c1, … FROM unnest(CAST(:c1 AS type[]), …)
        WITH ORDINALITY AS u(c1, …, n) ORDER BY n RETURNING seq) INSERT INTO audit_pending (seq) SELECT seq …

    Built from the table: a column added to ``audit_entries`` (and to :meth:`AuditLog._row`) is appended too.
    ``returning``: the statement also returns the queued seqs (:meth:`AuditLog.append`'s one entry: built once,
    each call only binds its values, where an ``insert(...).values(rows)`` CTE was built and compiled per call)."""
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(column.name) for column in _APPENDED)
    arrays = ", ".join(f"CAST(:{column.name} AS {column.type.compile(dialect)}[])" for column in _APPENDED)
    return text(
        f"WITH appended AS (INSERT INTO audit_entries ({names}) SELECT {names} FROM unnest({arrays}) "
        f"WITH ORDINALITY AS u({names}, n) ORDER BY n RETURNING seq) "
        "INSERT INTO audit_pending (seq) SELECT seq FROM appended" + (" RETURNING seq" if returning else "")
    )


def sqlite_datetime_text(value: dt.datetime) -> str:
    """The text SQLAlchemy's SQLite DATETIME stores for ``value`` (``YYYY-MM-DD HH:MM:SS.ffffff``, its fields as
    they are, any offset dropped), without its ``%``-format of seven fields: a test holds them equal."""
    return value.isoformat(" ", "microseconds")[:26]


def _sqlite_datetime(fallback: Any) -> Any:
    """SQLite's DATETIME bind processor: :func:`sqlite_datetime_text` for a plain ``datetime``, anything else
    to ``fallback``, SQLAlchemy's own."""

    def process(value: Any) -> Any:
        if value.__class__ is dt.datetime:
            return sqlite_datetime_text(value)
        return fallback(value)

    return process


@functools.cache
def _bulk_insert(dialect: Dialect, table: Table, names: tuple[str, ...]) -> tuple[Any, tuple[Any, ...]]:
    """The statement of :func:`insert_rows` for ``table``'s columns ``names`` and their bind processors."""
    quote = dialect.identifier_preparer.quote
    columns = [table.c[name] for name in names]
    listed = ", ".join(quote(name) for name in names)
    if dialect.name == "postgresql":
        arrays = ", ".join(f"CAST(:{c.name} AS {c.type.compile(dialect)}[])" for c in columns)
        return text(f"INSERT INTO {quote(table.name)} ({listed}) SELECT * FROM unnest({arrays})"), ()
    # Bytes go to sqlite3 as they are: a LargeBinary's processor only wraps them in the driver's Binary, which
    # sqlite3 stores as the same BLOB ("sqlite3 doesn't need the Binary conversion", says SQLAlchemy's own note).
    processors = tuple(_sqlite_processor(c, dialect) for c in columns)
    marks = ", ".join("?" for _ in names)
    return f"INSERT INTO {quote(table.name)} ({listed}) VALUES ({marks})", processors


def _sqlite_processor(column: Column[Any], dialect: Dialect) -> Any:
    """The bind processor :func:`insert_rows` applies to ``column`` on SQLite (``None``: the value as it is)."""
    if isinstance(column.type, LargeBinary):
        return None
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    if processor is not None and isinstance(column.type, DateTime):
        return _sqlite_datetime(processor)
    return processor


async def insert_rows(
    session: AsyncSession, table: Table, names: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (values in the order of the columns ``names``) into ``table``, storing what SQLAlchemy's
    executemany would — each value passes its column type's bind processor — without its work for every row:
    SQLite's driver runs its own executemany; PostgreSQL takes one statement with an array a column."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    statement, processors = _bulk_insert(dialect, table, names)
    if dialect.name == "postgresql":
        await session.execute(statement, {name: [row[i] for row in rows] for i, name in enumerate(names)})
        return
    for i, process in enumerate(processors):
        if process is not None:
            rows = [(*row[:i], process(row[i]), *row[i + 1 :]) for row in rows]
    connection = await session.connection()
    await connection.exec_driver_sql(statement, list(rows))


class WritesStopped(RuntimeError):
    """The audit log stopped signing (see :class:`audit.state.WriteGate`): no state change may be recorded."""


_MICROSECOND = dt.timedelta(microseconds=1)
_ENTRY_KEY_LABEL = b"hedui audit entry key, derived for a service built without one"
_LOG_KEY_LABEL = b"hedui audit entry key v1"


class EntryMac:
    """The MAC that makes an entry hedui's: HMAC-SHA256 of its bytes under a key the database does not hold.

    A row inserted with database credentials alone has no valid MAC, and the integrator refuses it. A copy
    of a genuine row (entry and MAC) is refused as a copy of an entry already in the tree.
    """

    def __init__(self, key: bytes) -> None:
        """MACs under ``key`` (the entry key file's 32 bytes)."""
        if len(key) < 16:
            raise ValueError("an entry key has at least 16 bytes")
        self._key = key
        # HMAC (RFC 2104) from SHA-256 states keyed once: a copy of each per entry, 0.8 µs against 1.4 µs for a
        # copy of a keyed ``hmac`` object (audit appends and the integrator MAC every entry).
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    @classmethod
    def derived(cls, subject_key: bytes) -> EntryMac:
        """A key derived from the subject key, for logs built without an entry key (tests and benches)."""
        return cls(hmac.new(subject_key, _ENTRY_KEY_LABEL, hashlib.sha256).digest())

    @staticmethod
    def key_from_log_key(log_key: bytes) -> bytes:
        """The entry key when none is configured: derived from the log's private key (as secret, in its file),
        so that whoever cannot sign heads cannot MAC entries either."""
        return hmac.new(log_key, _LOG_KEY_LABEL, hashlib.sha256).digest()

    def mac(self, entry: bytes) -> bytes:
        """The MAC of ``entry``: HMAC-SHA256 under the key."""
        inner, outer = self._inner.copy(), self._outer.copy()
        inner.update(entry)
        outer.update(inner.digest())
        return outer.digest()

    def check(self, entry: bytes, mac: bytes | None) -> bool:
        """Whether ``mac`` is this key's MAC of ``entry``."""
        return mac is not None and hmac.compare_digest(self.mac(entry), bytes(mac))


class AuditLog:
    """The one place that appends to the audit log. Identity numbers become keyed hashes here; each entry gets
    its MAC; nothing is appended while the gate is closed (the log cannot sign what would be recorded)."""

    def __init__(self, subject_key: bytes, entry_key: bytes | None = None, gate: WriteGate | None = None) -> None:
        """Hash subjects under ``subject_key``, MAC entries under ``entry_key`` (derived from the subject key
        when not given: tests and benches), and refuse appends while ``gate`` is closed."""
        self._key = subject_key
        self.entry_mac = EntryMac(entry_key) if entry_key else EntryMac.derived(subject_key or b"\0" * 16)
        self.gate = gate if gate is not None else WriteGate()
        self._last = dt.datetime.min.replace(tzinfo=dt.UTC)

    def _now(self) -> dt.datetime:
        """The time of the next entry: strictly later than this log's previous one (by a microsecond if need be),
        so no two entries this process appends have the same bytes (a copy of an entry is refused as one)."""
        now = dt.datetime.now(dt.UTC)
        if now <= self._last:
            now = self._last + _MICROSECOND
        self._last = now
        return now

    def _admit(self) -> None:
        """Refuse to append while the audit log cannot sign."""
        if self.gate.reason is not None:
            raise WritesStopped(f"writes are stopped: {self.gate.reason}")

    def subject(self, id_number: str) -> str:
        """The keyed hash that stands for a person's identity number in the log (never the number itself)."""
        return subject_hash(self._key, id_number)

    def _row(self, event: AuditEvent, id_numbers: Sequence[str], now: dt.datetime) -> tuple[Any, ...]:
        """The values an append stores for ``event``, in the order of ``audit_entries``' columns (``_APPENDED``)."""
        subjects = (
            sorted({*event.subjects, *(self.subject(n) for n in id_numbers)}) if id_numbers or event.subjects else []
        )
        entry = canonical_entry(event, now, subjects)
        return (
            now,
            event.kind,
            event.operator,
            event.client,
            event.verification,
            event.authorization,
            event.department,
            subjects_column(subjects),
            entry,
            self.entry_mac.mac(entry),
            entry_organisation(event.client, event.details),
        )

    async def append(self, session: AsyncSession, event: AuditEvent, id_numbers: Sequence[str] = ()) -> int:
        """Append ``event`` in ``session``'s transaction and return its sequence number.

        ``id_numbers`` become keyed-hash subjects; the plaintext numbers are never stored. The entry
        joins the Merkle tree when the log next integrates (see :class:`audit.tree.TransparencyLog`).
        On PostgreSQL the entry and its place in the integration queue are one statement.
        """
        self._admit()
        values = self._row(event, id_numbers, self._now())
        if _one_statement(session):
            arrays = {name: [value] for name, value in zip(_APPENDED_NAMES, values, strict=True)}
            queued = await session.scalar(_unnested(session.get_bind().dialect, True), arrays)
            assert queued is not None
            return int(queued)
        row = dict(zip(_APPENDED_NAMES, values, strict=True))
        result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
            insert(audit_entries).values(**row)
        )
        key = result.inserted_primary_key
        assert key is not None
        seq = int(key[0])
        await session.execute(insert(audit_pending).values(seq=seq))
        return seq

    async def append_many(self, session: AsyncSession, events: Sequence[tuple[AuditEvent, Sequence[str]]]) -> None:
        """Append several events (each with its identity numbers) in ``session``'s transaction, in order."""
        if not events:
            return
        self._admit()
        rows = [self._row(event, id_numbers, self._now()) for event, id_numbers in events]
        if _one_statement(session):
            columns = dict(zip(_APPENDED_NAMES, map(list, zip(*rows, strict=True)), strict=True))
            await session.execute(_unnested(session.get_bind().dialect), columns)
            return
        if len(rows) <= _ROWS_A_STATEMENT:
            result = await session.execute(
                insert(audit_entries).returning(audit_entries.c.seq),
                [dict(zip(_APPENDED_NAMES, row, strict=True)) for row in rows],
            )
            await session.execute(insert(audit_pending), [{"seq": seq} for seq in result.scalars()])
            return
        # SQLite: the entries after the newest one now are this transaction's (SQLite has one writer: another's
        # commit in between makes this transaction's first write fail, never pass unnoticed).
        e = audit_entries.c
        newest = (await session.execute(select(func.coalesce(func.max(e.seq), 0)))).scalar_one()
        await insert_rows(session, audit_entries, _APPENDED_NAMES, rows)
        await session.execute(insert(audit_pending).from_select(["seq"], select(e.seq).where(e.seq > newest)))

    async def entries(
        self,
        session: AsyncSession,
        *,
        after_index: int = -1,
        limit: int | None = 100,
        where: EntryFilter = EntryFilter(),
        within: ColumnElement[bool] | None = None,
    ) -> list[StoredEntry]:
        """Entries under the newest signed head, in log order after leaf ``after_index``, up to ``limit`` (None:
        all) of those whose *signed* values pass ``where``; only rows that meet ``within``, a condition on the
        ``organisation`` column (issue 13: a supervisor's area), are read at all.

        Every row is read in order and decoded from its entry; the stored columns are not trusted as an index
        (an edited column could hide a row from a filter) but must agree with the bytes, and the bytes with the
        leaf hash, else :class:`EntryTampered` names the row. A rare filter over a large log reads all of it.
        """
        found: list[StoredEntry] = []
        after = after_index
        while limit is None or len(found) < limit:
            query = _under_signed_head().where(audit_leaves.c.leaf_index > after)
            if within is not None:
                query = query.where(within)
            rows = (await session.execute(query.order_by(audit_leaves.c.leaf_index).limit(_SCAN_PAGE))).all()
            for row in rows:
                entry = signed_entry(row)
                if where.matches(entry):
                    found.append(entry)
                    if limit is not None and len(found) == limit:
                        return found
            if len(rows) < _SCAN_PAGE:
                break
            after = rows[-1].leaf_index
        return found


_SCAN_PAGE = 5_000


class EntryTampered(Exception):
    """A stored entry is not what the log signed: its columns or leaf hash disagree with its bytes."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"entry {index}: {reason} (tampered)")
        self.index = index
        self.reason = reason


def _under_signed_head() -> Any:
    """Rows of entries with their leaf, below the newest signed head's size."""
    e, leaves = audit_entries.c, audit_leaves.c
    signed = select(func.coalesce(func.max(audit_tree_heads.c.tree_size), 0)).scalar_subquery()
    return (
        select(audit_entries, leaves.leaf_index, leaves.leaf_hash)
        .join(audit_leaves, leaves.entry_seq == e.seq)
        .where(leaves.leaf_index < signed)
    )


_TEXT_COLUMNS = ("kind", "operator", "client", "verification", "authorization", "department")


def column_disagreement(row: Any, body: Mapping[str, Any]) -> str | None:
    """The first stored column of ``row`` that differs from its decoded entry ``body``, in words; else ``None``.

    The common case first, in few steps: every text column equal, the subjects stored as :meth:`AuditLog._row`
    writes them, the time equal; anything else is looked at column by column for the message."""
    texts = (row.kind, row.operator, row.client, row.verification, row.authorization, row.department)
    signed = (body.get("kind"), body.get("operator"), body.get("client"), body.get("verification"))
    subjects = body.get("subjects")
    if (
        texts == (*signed, body.get("authorization"), body.get("department"))
        and row.subjects == (subjects_column(subjects) if subjects.__class__ is list else None)
        and body.get("time").__class__ is str
        and row.organisation == _signed_organisation(body)
    ):
        try:
            if as_utc(row.recorded_at) == dt.datetime.fromisoformat(body["time"]):
                return None
        except ValueError:
            pass
    return _column_by_column(row, body)


def _signed_organisation(body: Mapping[str, Any]) -> str:
    """The organisation the signed entry ``body`` is of (what its ``organisation`` column must say)."""
    details = body.get("details")
    return entry_organisation(str(body.get("client")), details if isinstance(details, dict) else {})


def subjects_column(subjects: list[Any]) -> str:
    """The subjects column as an append writes it (from the sorted subjects of the entry)."""
    return json.dumps(subjects) if subjects else "[]"


def _column_by_column(row: Any, body: Mapping[str, Any]) -> str | None:
    """:func:`column_disagreement`, one column after the other."""
    for name in _TEXT_COLUMNS:
        if getattr(row, name) != body.get(name):
            return f"its stored {name} {getattr(row, name)!r} is not the signed {body.get(name)!r}"
    try:
        subjects = json.loads(row.subjects)
    except ValueError:
        subjects = None
    if subjects != body.get("subjects"):
        return "its stored subjects are not the signed ones"
    try:
        signed_time = dt.datetime.fromisoformat(str(body.get("time")))
    except ValueError:
        return "its signed time is not an instant"
    if as_utc(row.recorded_at) != signed_time:
        return f"its stored time {as_utc(row.recorded_at).isoformat()} is not the signed {signed_time.isoformat()}"
    signed = _signed_organisation(body)
    if row.organisation != signed:
        return f"its stored organisation {row.organisation!r} is not the signed {signed!r}"
    return None


def signed_entry(row: Any) -> StoredEntry:
    """A stored row as its signed entry says it is; :class:`EntryTampered` when the row disagrees."""
    entry = bytes(row.entry)
    if hashlib.sha256(b"\x00" + entry).digest() != bytes(row.leaf_hash):
        raise EntryTampered(row.leaf_index, "its bytes do not hash to its leaf")
    try:
        body = json.loads(entry)
    except ValueError:
        raise EntryTampered(row.leaf_index, "its bytes are not an entry") from None
    if not isinstance(body, dict):
        raise EntryTampered(row.leaf_index, "its bytes are not an entry")
    problem = column_disagreement(row, body)
    if problem is not None:
        raise EntryTampered(row.leaf_index, problem)
    return StoredEntry(
        index=row.leaf_index,
        seq=row.seq,
        kind=body["kind"],
        recorded_at=dt.datetime.fromisoformat(body["time"]),
        operator=body["operator"],
        client=body["client"],
        verification=body["verification"],
        authorization=body["authorization"],
        department=body["department"],
        subjects=tuple(body["subjects"]),
        entry=entry,
    )
