"""This process's share of the durable work: it renews the leases it holds and claims steps that are due or
orphaned (their process died: the lease lapsed), so any process on the database carries any verification on.

The steps themselves are :mod:`verifier.storage.work`'s; what is done with a claimed step is the
conductor's (:class:`verifier.pipeline.run.Pipeline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from verifier.pipeline.writes import Writes
from verifier.storage import work
from verifier.storage.db import Database

__all__ = ["Leases", "worker_name"]

log = logging.getLogger("hedui.pipeline")
# Steps claimed per round, and at most this many held at once by one process (the rest wait for others or later).
CLAIM_BATCH = 64
MAX_HELD = 512


def worker_name() -> str:
    """A name for this process's leases, unique across restarts: host, process id and a random tag."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class Leases:
    """Renews this process's leases every third of the lease time and claims due steps every claim interval."""

    def __init__(
        self,
        db: Database,
        worker: str,
        *,
        lease_seconds: float,
        claim_seconds: float,
        carry_on: Callable[[Sequence[work.Claimed]], Awaitable[None]],
        spawn: Callable[[Awaitable[None], str], None],
        writes: Writes,
    ) -> None:
        """Lease as ``worker`` for ``lease_seconds``; hand claimed steps to ``carry_on``, run by ``spawn``;
        transactions run through ``writes`` (to their end, whatever happens to the loop)."""
        self._db = db
        self.worker = worker
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._claim_seconds = claim_seconds
        self._carry_on = carry_on
        self._spawn = spawn
        self._writes = writes
        self._keys: Counter[str] = Counter()

    @property
    def held(self) -> int:
        """Steps this process is working on (claimed or created here, not yet finished)."""
        return len(self._keys)

    async def carrying(self, keys: Sequence[str], carry: Awaitable[None]) -> None:
        """Await ``carry`` (the work on these steps) with their leases renewed meanwhile; if it fails, the steps
        it did not finish are given back at once, for any process to take up (a live process must never hold
        a step nobody works on: its heartbeat would keep it from everyone for good)."""
        self._keys.update(keys)
        try:
            await carry
        except Exception:
            with contextlib.suppress(Exception):
                await self.give_back(keys, after_a_while=True)
            raise
        except BaseException:  # stopped: due for anyone at once
            with contextlib.suppress(Exception):
                await self.give_back(keys)
            raise
        finally:
            self._keys.subtract(keys)
            self._keys += Counter()  # drop the keys no longer held

    async def give_back(self, keys: Sequence[str], *, after_a_while: bool = False) -> None:
        """Release these steps (those this process still holds and has not finished): due for anyone now, or
        (``after_a_while``: their work failed) a lease time on, as if their holder had died, so a failure is
        not retried in a loop."""
        due = self.until() if after_a_while else None
        await self._writes.run(lambda: self._release(list(keys), due))

    def until(self) -> dt.datetime:
        """When a lease taken or renewed now lapses."""
        return dt.datetime.now(dt.UTC) + self._lease

    async def renew_forever(self) -> None:
        """The heartbeat: extend every lease this process holds, one statement per round."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                await self._writes.run(self._renew)
            except Exception:
                log.exception("renewing the work leases failed; retrying")

    async def claim_forever(self) -> None:
        """Claim due or orphaned steps and carry them on, while this process has room for more."""
        while True:
            try:
                claimed = await self.claim_once()
            except Exception:
                log.exception("claiming work failed; retrying")
                claimed = []
            if claimed:
                self._spawn(self._carry(claimed), f"carry on {len(claimed)} steps")
            await asyncio.sleep(self._claim_seconds)

    async def claim_once(self) -> list[work.Claimed]:
        """One round of claiming: up to :data:`CLAIM_BATCH` steps (fewer when this process holds many)."""
        room = min(CLAIM_BATCH, MAX_HELD - self.held)
        if room <= 0:
            return []
        now = dt.datetime.now(dt.UTC)
        async with self._db.sessions() as session:
            if not await work.anything_due(session, now):
                return []  # the common case: no write lock taken, nothing else held up
        claimed = await self._writes.run(lambda: self._claim(now, room))
        if claimed:
            log.info("claimed %d steps of durable work", len(claimed))
        return claimed

    async def _renew(self) -> None:
        """The heartbeat's transaction: only the steps some task of this process is working on."""
        if not self._keys:
            return
        async with self._db.write() as session:
            await work.renew(session, self.worker, self.until(), list(self._keys))

    async def _release(self, keys: Sequence[str] | None, due_at: dt.datetime | None = None) -> None:
        """Give leases back (all of this process's, or those of ``keys``), due from ``due_at`` if given."""
        async with self._db.write() as session:
            await work.release(session, self.worker, keys, due_at=due_at)

    async def _claim(self, now: dt.datetime, room: int) -> list[work.Claimed]:
        """The claim's transaction."""
        async with self._db.write() as session:
            return await work.claim(session, self.worker, now=now, until=now + self._lease, limit=room)

    async def _carry(self, claimed: Sequence[work.Claimed]) -> None:
        """Carry claimed steps on, holding them meanwhile."""
        try:
            await self.carrying([c.key for c in claimed], self._carry_on(claimed))
        except Exception:
            log.exception("carrying on %d claimed steps failed; given back, to be taken up again", len(claimed))

    async def release_all(self) -> None:
        """On a clean stop: give every lease back, so the steps are due for any process at once."""
        await self._release(None)
