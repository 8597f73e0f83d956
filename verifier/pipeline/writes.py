"""Write transactions that a cancellation lets finish.

Stopping the service cancels the pipeline's tasks, some of them inside a write transaction. A transaction
cut off mid-statement leaves its connection in an unknown state: SQLAlchemy drops it without a rollback, and
on SQLite the dropped connection keeps the database's write lock until it is collected, so every later
writer waits out its busy timeout ("database is locked"). Each write of the pipeline therefore runs as a task
of its own, shielded: a cancelled caller stops waiting, the transaction commits or rolls back as it would
have, and :meth:`Writes.drain` waits for the last ones before the database closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["Writes"]

T = TypeVar("T")


class Writes:
    """Runs write transactions to their end whatever happens to the task that started them."""

    def __init__(self) -> None:
        """No write is running yet."""
        self._running: set[asyncio.Future[object]] = set()

    async def run(self, write: Callable[[], Awaitable[T]]) -> T:
        """Run ``write()`` (one transaction) to its end; a cancellation of the caller waits for nothing."""
        task: asyncio.Future[T] = asyncio.ensure_future(write())
        self._running.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._running.discard)
        return await asyncio.shield(task)

    async def drain(self) -> None:
        """Wait until every write started so far has ended (before the database closes)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
