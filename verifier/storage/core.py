"""Core statements run on a session's connection, past the ORM's per-statement machinery.

A statement executed through ``AsyncSession.execute`` goes through the ORM's execution layer (its compile state,
execution options, result set-up) even when it names only tables: about 130 µs a statement on SQLite here,
against about 75 µs on the session's connection. The statements on every verification's path name tables and
columns only (no ORM entities are loaded or flushed), so they are run here, in the session's transaction as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import CursorResult, Executable
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["execute", "scalar"]


async def execute(
    session: AsyncSession,
    statement: Executable,
    parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
) -> CursorResult[Any]:
    """Run ``statement`` (a Core statement: tables and columns, no ORM entities) in ``session``'s transaction."""
    connection = await session.connection()
    return await connection.execute(statement, parameters)


async def scalar(session: AsyncSession, statement: Executable, parameters: Mapping[str, Any] | None = None) -> Any:
    """The first column of the first row of ``statement`` (``None`` when there is none), as :func:`execute`."""
    return (await execute(session, statement, parameters)).scalar()
