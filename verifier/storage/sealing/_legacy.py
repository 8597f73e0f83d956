"""The sealing pass (``hedui db seal``): rows written before revision 0012 sealed in place, their members moved from
the plain index (``authorization_members``) to the blind one, their payload digests keyed. Idempotent: sealed cells
and moved rows are left as they are. The audit digests are over the plaintext, so they still match."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from verifier.storage.models import (
    AuthorizationMemberRow,
    AuthorizationRow,
    AuthorizationSubjectRow,
    DepartmentResultRow,
    ReportRow,
    VerificationRow,
)
from verifier.storage.sealing._cells import is_sealed
from verifier.storage.sealing._columns import SEALED, row_key, seal_one
from verifier.storage.sealing._keys import ready
from verifier.storage.sealing._sealer import Sealer

__all__ = ["seal_legacy"]

_TABLES: Any = (VerificationRow, DepartmentResultRow, ReportRow, AuthorizationRow)


async def _seal_table(session: AsyncSession, sealer: Sealer, model: Any, at: dt.datetime) -> int:
    """Seal the legacy cells of one table (read raw, written through the table); how many rows changed."""
    table = model.__table__
    name = table.name
    keys = ["verification_id", "department"] if name == "department_results" else ["id"]
    columns = list(SEALED[name])
    rows = (await session.execute(select(*(table.c[c] for c in keys + columns)))).all()
    changed = 0
    for row in rows:
        values = row._asdict()
        legacy = {c: values[c] for c in columns if values[c] is not None and not is_sealed(values[c])}
        if not legacy:
            continue
        where = row_key(name, values)
        sealed = {c: seal_one(sealer, name, c, where, v, at) for c, v in legacy.items()}
        condition = [table.c[k] == values[k] for k in keys]
        await session.execute(update(table).where(*condition).values(**sealed))
        changed += 1
    return changed


async def _move_index(session: AsyncSession, sealer: Sealer) -> int:
    """Members of the plain index moved to the blind index, their payload digests keyed; how many members."""
    m, s = AuthorizationMemberRow, AuthorizationSubjectRow
    members = [(str(a), str(n)) for a, n in (await session.execute(select(m.authorization_id, m.id_number))).all()]
    have = {(str(a), str(i)) for a, i in (await session.execute(select(s.authorization_id, s.id_index))).all()}
    for authorization_id, id_number in members:
        pair = (authorization_id, sealer.index(id_number))
        if pair not in have:
            session.add(AuthorizationSubjectRow(authorization_id=pair[0], id_index=pair[1]))
            have.add(pair)
    moved = {a for a, _ in members}
    for authorization_id in moved:
        digest = await session.scalar(
            select(AuthorizationRow.payload_sha256).where(AuthorizationRow.id == authorization_id)
        )
        if digest is not None:
            keyed = sealer.index("payload sha256:" + digest)
            await session.execute(
                update(AuthorizationRow).where(AuthorizationRow.id == authorization_id).values(payload_sha256=keyed)
            )
    await session.flush()
    await session.execute(delete(AuthorizationMemberRow))
    return len(members)


async def seal_legacy(session: AsyncSession, sealer: Sealer) -> dict[str, int]:
    """The whole pass in the caller's transaction; per table, how many rows it sealed (and members it moved)."""
    await ready(session, sealer, write=True)
    at = dt.datetime.now(dt.UTC)
    done = {model.__tablename__: await _seal_table(session, sealer, model, at) for model in _TABLES}
    done["authorization_members"] = await _move_index(session, sealer)
    return done
