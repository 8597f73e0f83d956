"""The append-only audit table and the one function that appends to it.

Appends run inside the caller's transaction, so a state change and its entry
commit together or not at all. UPDATE and DELETE are refused by triggers that the
migrations install.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    CursorResult,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import AuditEvent, canonical_entry, subject_hash

__all__ = ["AuditLog", "StoredEntry", "audit_entries", "metadata"]

metadata = MetaData()

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(64), nullable=False, index=True),
    Column("operator", String(200), nullable=False),
    Column("client", String(200), nullable=False),
    Column("verification", String(100), nullable=False, index=True),
    Column("authorization", Text, nullable=False),
    Column("department", String(64), nullable=False),
    Column("subjects", Text, nullable=False),
    Column("entry", LargeBinary, nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredEntry:
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


class AuditLog:
    """Appends events and reads them back. Identity numbers become keyed hashes here."""

    def __init__(self, subject_key: bytes) -> None:
        self._key = subject_key

    def subject(self, id_number: str) -> str:
        return subject_hash(self._key, id_number)

    async def append(self, session: AsyncSession, event: AuditEvent, id_numbers: Sequence[str] = ()) -> int:
        """Append ``event`` in ``session``'s transaction and return its sequence number.

        ``id_numbers`` become keyed-hash subjects; the plaintext numbers are never stored.
        """
        if id_numbers:
            event = dataclasses.replace(
                event, subjects=tuple(sorted({*event.subjects, *(self.subject(n) for n in id_numbers)}))
            )
        now = dt.datetime.now(dt.UTC)
        result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
            insert(audit_entries).values(
                recorded_at=now,
                kind=event.kind,
                operator=event.operator,
                client=event.client,
                verification=event.verification,
                authorization=event.authorization,
                department=event.department,
                subjects=json.dumps(sorted(event.subjects)),
                entry=canonical_entry(event, now),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    async def append_many(self, session: AsyncSession, events: Sequence[tuple[AuditEvent, Sequence[str]]]) -> None:
        """Append several events (each with its identity numbers) in one statement, in order."""
        if not events:
            return
        now = dt.datetime.now(dt.UTC)
        rows = []
        for event, id_numbers in events:
            subjects = tuple(sorted({*event.subjects, *(self.subject(n) for n in id_numbers)}))
            event = dataclasses.replace(event, subjects=subjects)
            rows.append(
                {
                    "recorded_at": now,
                    "kind": event.kind,
                    "operator": event.operator,
                    "client": event.client,
                    "verification": event.verification,
                    "authorization": event.authorization,
                    "department": event.department,
                    "subjects": json.dumps(list(subjects)),
                    "entry": canonical_entry(event, now),
                }
            )
        await session.execute(insert(audit_entries), rows)

    async def entries(
        self,
        session: AsyncSession,
        *,
        after_seq: int = 0,
        limit: int = 100,
        verification: str = "",
        kind: str = "",
        subject_id_number: str = "",
    ) -> list[StoredEntry]:
        """Entries in log order after ``after_seq``, filtered."""
        query = select(audit_entries).where(audit_entries.c.seq > after_seq)
        if verification:
            query = query.where(audit_entries.c.verification == verification)
        if kind:
            query = query.where(audit_entries.c.kind == kind)
        if subject_id_number:
            query = query.where(audit_entries.c.subjects.contains(self.subject(subject_id_number)))
        rows = (await session.execute(query.order_by(audit_entries.c.seq).limit(limit))).all()
        return [
            StoredEntry(
                seq=row.seq,
                kind=row.kind,
                recorded_at=row.recorded_at if row.recorded_at.tzinfo else row.recorded_at.replace(tzinfo=dt.UTC),
                operator=row.operator,
                client=row.client,
                verification=row.verification,
                authorization=row.authorization,
                department=row.department,
                subjects=tuple(json.loads(row.subjects)),
                entry=row.entry,
            )
            for row in rows
        ]
