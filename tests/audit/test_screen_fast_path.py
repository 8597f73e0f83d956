"""The integrator's common path (audit.tree._accepted_leaf) never accepts a queue row its careful check refuses.

``screen`` reads queue rows raw and checks them in few steps; a row off that path takes ``_refusal`` (the check
the tamper suite holds to every attack). Here every column of a genuine row is varied, on SQLite's raw values
(the time as stored text) and PostgreSQL's (an aware instant): whatever the fast path accepts, ``_refusal``
accepts too, and the genuine row is accepted by both (so the fast path is the one taken).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from audit import AuditEvent, AuditLog
from audit.log import _APPENDED_NAMES, audit_entries, sqlite_datetime_text
from audit.tree import _SCREENED, _accepted_leaf, _refusal, _slow_row
from verifier.storage.db import Database

_ID = "110101199003077777"
_DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
}


def _raw(log: AuditLog, event: AuditEvent, dialect: str, **changes: Any) -> list[Any]:
    """A queue row as screen's statement reads it (seq 7, not integrated) for ``event`` as an append stores it,
    with ``changes`` to its stored columns."""
    values = dict(zip(_APPENDED_NAMES, log._row(event, [_ID], log._now()), strict=True))
    if dialect == "sqlite":
        values["recorded_at"] = sqlite_datetime_text(values["recorded_at"])
    values.update(changes)
    return [7, None, *(values[name] for name in _SCREENED_AFTER_LEAF), 7]


# The queue row's layout is the statement's own (audit.tree._SCREENED), the queued seq last.
_SCREENED_AFTER_LEAF = _SCREENED[:-1]


def _event() -> AuditEvent:
    return AuditEvent(
        kind="DEPARTMENT_QUERY_SENT",
        operator="clerk-1",
        client="case-app@110000",
        verification="v1",
        authorization="a1",
        department="tax",
        details={"purpose": "dibao"},
    )


def test_sqlite_datetime_text_is_what_sqlalchemy_stores() -> None:
    process = audit_entries.c.recorded_at.type.dialect_impl(_DIALECTS["sqlite"]).bind_processor(_DIALECTS["sqlite"])
    assert process is not None
    eight = dt.timezone(dt.timedelta(hours=8))
    for value in (
        dt.datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 2, 1, 2, 3, tzinfo=dt.UTC),  # no microseconds: still six digits
        dt.datetime(2026, 12, 2, 9, 2, 3, 1, tzinfo=eight),  # the fields as they are, the offset dropped
        dt.datetime(1, 1, 1, 0, 0, 0, 5),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    ):
        assert sqlite_datetime_text(value) == process(value)
    assert sqlite_datetime_text(dt.datetime(2026, 1, 2, 3, 4, 5, 6)) == "2026-01-02 03:04:05.000006"


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_what_the_fast_path_accepts_the_careful_check_accepts(dialect: str) -> None:
    log = AuditLog(b"k" * 32)
    event = _event()
    genuine = _raw(log, event, dialect)
    time = genuine[12]
    other_key = AuditLog(b"j" * 32)
    if dialect == "sqlite":
        shifted = [time[:-1] + ("1" if time[-1] != "1" else "2"), time.replace(" ", "T"), time[:19], time + "0"]
    else:
        shifted = [
            time + dt.timedelta(microseconds=1),
            time.replace(tzinfo=None),  # read as UTC by both (as_utc), as SQLite's naive instants are
            time.astimezone(dt.timezone(dt.timedelta(hours=8))),  # the same instant: both accept
        ]
    variants: list[list[Any]] = [genuine]
    for i, name in enumerate(_SCREENED_AFTER_LEAF, start=2):
        for value in ("", "x", "[]", None, b"x"):
            variants.append([*genuine[:i], value, *genuine[i + 1 :]])
        if name == "recorded_at":
            variants += [[*genuine[:i], value, *genuine[i + 1 :]] for value in shifted]
    variants.append([*genuine[:3], other_key.entry_mac.mac(genuine[2]), *genuine[4:]])
    variants.append([genuine[0], 3, *genuine[2:]])  # integrated already
    bodies = [
        genuine[2].replace(b'"tax"', b'"police"'),
        genuine[2].replace(b"+00:00", b"+08:00"),
        genuine[2].replace(b"T", b" ", 1),
        b"[1]",
        b"{",
    ]
    for body in bodies:  # a valid MAC of other bytes (as if the key were known): the columns must still agree
        variants.append([*genuine[:2], body, log.entry_mac.mac(body), *genuine[4:]])
    slow = _slow_row(_DIALECTS[dialect])
    fast_accepted = 0
    for raw in variants:
        leaf = _accepted_leaf(raw, log.entry_mac, dialect == "sqlite")
        if leaf is not None:
            fast_accepted += 1
            row = slow(raw)
            assert _refusal(row, log.entry_mac) is None, raw
            assert leaf == hashlib.sha256(b"\x00" + raw[2]).digest()
    assert _accepted_leaf(genuine, log.entry_mac, dialect == "sqlite") is not None
    assert _refusal(slow(genuine), log.entry_mac) is None
    assert fast_accepted == (1 if dialect == "sqlite" else 3)  # the genuine row; on PostgreSQL its instant twice
    edited = dataclasses.replace(slow(genuine), department="police")
    assert _refusal(edited, log.entry_mac) is not None


async def test_a_stored_row_takes_the_fast_path(db: Database) -> None:
    """What an append stores, read back by screen's statement, passes the fast path on either database."""
    from audit.tree import _queue_statement

    log = AuditLog(b"k" * 32)
    async with db.write() as session:
        await log.append(session, _event(), [_ID])
        await log.append_many(session, [(_event(), [_ID]), (_event(), ())])
    async with db.write() as session:
        connection = await session.connection()
        rows = (await connection.exec_driver_sql(_queue_statement(session.get_bind().dialect, 10))).all()
    assert len(rows) == 3
    for raw in rows:
        assert _accepted_leaf(raw, log.entry_mac, db.dialect == "sqlite") is not None, raw
