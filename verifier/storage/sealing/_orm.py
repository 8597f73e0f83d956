"""The ORM's side: rows loaded as objects are opened as they load, and sealed as they are flushed.

An opened value is set as the attribute's *committed* value (``set_committed_value``): the object is not dirty, so
a flush never writes the plaintext back. Objects written through the ORM (authorizations) are sealed just before
their INSERT or UPDATE and hold the plaintext again right after it. Core statements are sealed and opened by the
storage functions themselves (:mod:`verifier.storage.sealing._columns`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper, attributes, object_session

from verifier.storage.models import AuthorizationRow, DepartmentResultRow, ReportRow, VerificationRow
from verifier.storage.sealing._columns import SEALED, open_one, row_key, seal_one, sealer_of
from verifier.storage.sealing._keys import fetch_keys_sync

__all__ = ["register"]

_PLAIN = "_hedui_plain"
_CLASSES = (VerificationRow, DepartmentResultRow, ReportRow, AuthorizationRow)


def _key_values(target: Any, table: str) -> dict[str, Any]:
    if table == "department_results":
        return {"verification_id": target.verification_id, "department": target.department}
    return {"id": target.id}


def _open_loaded(target: Any, session: Any, names: Any = None) -> None:
    """Open the sealed attributes just loaded into ``target`` (``names``: only these, a refresh)."""
    table = target.__tablename__
    loaded = target.__dict__
    columns = [c for c in SEALED[table] if c in loaded and (names is None or c in names)]
    if not columns:
        return
    sealer = sealer_of(session)
    key = row_key(table, _key_values(target, table))
    if sealer is not None:
        ids = [sealer.key_of(_text(loaded[c])) for c in columns]
        fetch_keys_sync(session.connection(), sealer, [i for i in ids if i is not None])
    for column in columns:
        stored = loaded[column]
        opened = open_one(sealer, table, column, key, stored)
        if opened is not stored:
            attributes.set_committed_value(target, column, opened)


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value[:32]).decode("ascii", "replace")
    return value if isinstance(value, str) else ""


def _on_load(target: Any, context: Any) -> None:
    _open_loaded(target, context.session)


def _on_refresh(target: Any, context: Any, names: Any) -> None:
    _open_loaded(target, context.session, names)


def _seal_before(target: Any, *, changed_only: bool) -> None:
    session = object_session(target)
    sealer = sealer_of(session) if session is not None else None
    if sealer is None:
        return
    table = target.__tablename__
    key = row_key(table, _key_values(target, table))
    plain: dict[str, Any] = {}
    at = dt.datetime.now(dt.UTC)
    for column in SEALED[table]:
        if changed_only and not attributes.get_history(target, column).added:
            continue
        value = getattr(target, column)
        sealed = seal_one(sealer, table, column, key, value, at)
        if sealed is not value:
            plain[column] = value
            setattr(target, column, sealed)
    if table == "authorizations" and not changed_only:
        plain["payload_sha256"] = target.payload_sha256
        target.payload_sha256 = sealer.index("payload sha256:" + target.payload_sha256)
    target.__dict__[_PLAIN] = plain


def _restore_after(target: Any) -> None:
    for column, value in target.__dict__.pop(_PLAIN, {}).items():
        attributes.set_committed_value(target, column, value)


def _before_insert(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    _seal_before(target, changed_only=False)


def _before_update(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    _seal_before(target, changed_only=True)


def _after(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    _restore_after(target)


def register() -> None:
    """Install the hooks on the sealed tables' classes (once)."""
    for cls in _CLASSES:
        if event.contains(cls, "load", _on_load):
            continue
        event.listen(cls, "load", _on_load)
        event.listen(cls, "refresh", _on_refresh)
        event.listen(cls, "before_insert", _before_insert)
        event.listen(cls, "before_update", _before_update)
        event.listen(cls, "after_insert", _after)
        event.listen(cls, "after_update", _after)
