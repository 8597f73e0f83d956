"""Group commit: audit events from many concurrent callers, committed in one transaction.

For events that stand alone — a report read, an admin action — a transaction per event costs
a disk flush per event. Callers here wait while the events that arrived together are written
in one transaction; each caller returns only once its event is committed, and a failed commit
fails every caller in that group, so no caller ever believes an unwritten event was recorded.
(Events that record a state change are appended in that change's own transaction instead.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from audit.events import AuditEvent
from audit.log import AuditLog
from audit.tree import Transaction

__all__ = ["GroupCommit"]


class GroupCommit:
    """Batches concurrent :meth:`append` calls into one transaction each, up to ``max_batch`` events."""

    def __init__(self, log: AuditLog, transaction: Transaction, *, max_batch: int = 5_000) -> None:
        self._log = log
        self._transaction = transaction
        self._max_batch = max_batch
        self._queue: list[tuple[AuditEvent, Sequence[str], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0

    @property
    def log(self) -> AuditLog:
        """The log appended to (its entry key also checks what its entries vouch for: :mod:`audit.bound`)."""
        return self._log

    async def append(self, event: AuditEvent, id_numbers: Sequence[str] = ()) -> None:
        """Record ``event``; returns once it is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((event, id_numbers, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await done  # a caller cancelled meanwhile cancels only its own wait: its event is still written

    async def _write(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            try:
                async with self._transaction() as session:
                    await self._log.append_many(session, [(event, ids) for event, ids, _ in batch])
            except BaseException as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("commit interrupted"))
                if not isinstance(exc, Exception):
                    raise
                continue
            self.commits += 1
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)
