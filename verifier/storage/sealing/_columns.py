"""Which cells are sealed, under which purpose's key, and each row's key (what a cell's AAD binds it to).

Sealed: a verification's request (members, names, evidence), every department answer's columns (records, the
identity numbers asked and not asked, the department's ticket), every report version, and an authorization's signed
payload and member-key certificates. Not sealed: ids, states, times, counts and the organisations' names.
"""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from verifier.storage.sealing._keys import learn_unknown, ready
from verifier.storage.sealing._sealer import CellUnreadable, Purpose, Sealer

__all__ = ["SEALED", "SEALER", "open_rows", "open_value", "row_key", "seal_values", "sealer_of"]

SEALER: Final = "hedui.sealer"
"""The key of the :class:`Sealer` in a session's ``info`` (``Database.session_info``)."""

SEALED: Final[Mapping[str, Mapping[str, Purpose]]] = {
    "verifications": {"request_json": Purpose.ROWS},
    "department_results": {
        "records_json": Purpose.ANSWERS,
        "queried_json": Purpose.ANSWERS,
        "not_queried_json": Purpose.ANSWERS,
        "ticket_id": Purpose.ANSWERS,
    },
    "reports": {"body_json": Purpose.ROWS},
    "authorizations": {"payload": Purpose.ROWS, "certificates_json": Purpose.ROWS},
}
_BINARY: Final = frozenset({("authorizations", "payload")})


def row_key(table: str, values: Mapping[str, Any]) -> str:
    """The row key a cell of ``table`` is bound to: ``{verification}/{department}`` for answers, else the id."""
    if table == "department_results":
        return f"{values['verification_id']}/{values['department']}"
    return str(values["id"])


def sealer_of(session: Any) -> Sealer | None:
    """The sealer of a session (sync or async); ``None``: this database is not sealed (legacy, benches)."""
    sealer = session.info.get(SEALER)
    return sealer if isinstance(sealer, Sealer) else None


def seal_one(sealer: Sealer, table: str, column: str, row: str, value: Any, at: dt.datetime) -> Any:
    """One value as stored: sealed text (ASCII bytes for a binary column); ``None`` and sealed cells as they are."""
    if value is None:
        return None
    binary = (table, column) in _BINARY
    text = bytes(value).decode("utf-8") if binary else str(value)
    if text.startswith("hs1."):
        return value
    sealed = sealer.seal(SEALED[table][column], (table, column, row), text, at)
    return sealed.encode("ascii") if binary else sealed


def open_one(sealer: Sealer | None, table: str, column: str, row: str, stored: Any) -> Any:
    """One stored value opened (legacy plaintext as it is); refused when sealed and no sealer is given."""
    if stored is None:
        return None
    binary = (table, column) in _BINARY
    text = bytes(stored).decode("utf-8", "replace") if binary else str(stored)
    if not text.startswith("hs1."):
        return stored
    if sealer is None:
        raise CellUnreadable(f"{table}.{column} of {row}", "this process has no data keys", missing=True)
    plain = sealer.open((table, column, row), text)
    return plain.encode("utf-8") if binary else plain


async def seal_values(
    session: AsyncSession, table: str, values: Mapping[str, Any], *, row: str | None = None
) -> dict[str, Any]:
    """``values`` of one row with its sealed columns sealed (no sealer: as they are)."""
    sealer = sealer_of(session)
    out = dict(values)
    if sealer is None:
        return out
    await ready(session, sealer, write=True)
    at = dt.datetime.now(dt.UTC)
    key = row if row is not None else row_key(table, values)
    for column in SEALED[table].keys() & out.keys():
        out[column] = seal_one(sealer, table, column, key, out[column], at)
    return out


@cache
def _tuple(fields: tuple[str, ...]) -> Any:
    return namedtuple("OpenedRow", fields)


async def open_rows(session: AsyncSession, table: str, rows: Sequence[Any], keys: Sequence[str]) -> list[Any]:
    """``rows`` (Core rows) with their sealed columns opened, as named tuples with the same fields; ``keys[i]`` is
    row i's row key. A key this process does not know yet is looked up first (one statement, once)."""
    sealer = sealer_of(session)
    if not rows:
        return []
    fields = tuple(rows[0]._fields)
    columns = [c for c in fields if c in SEALED[table]]
    if sealer is not None:
        await learn_unknown(session, sealer, (sealer.key_of(_text(getattr(r, c))) for r in rows for c in columns))
    make = _tuple(fields)
    opened = []
    for row, key in zip(rows, keys, strict=True):
        values = row._asdict()
        for column in columns:
            values[column] = open_one(sealer, table, column, key, values[column])
        opened.append(make(**values))
    return opened


async def open_value(session: AsyncSession, table: str, column: str, row: str, stored: Any) -> Any:
    """One stored cell opened (:func:`open_rows` for a single value)."""
    sealer = sealer_of(session)
    if sealer is not None:
        await learn_unknown(session, sealer, [sealer.key_of(_text(stored))])
    return open_one(sealer, table, column, row, stored)


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("ascii", "replace")
    return value if isinstance(value, str) else ""
