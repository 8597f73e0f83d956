"""Sessions and the pool (issue 11): one connection per unit of work — no task ever holds a second connection
while it has one checked out (a transaction that opens another session is how the pool ran dry under load)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from harness import sandbox_service
from sqlalchemy import event

from verifier.config import Settings
from verifier.storage.db import Database
from verifier.vocabulary import VerificationState


class ConnectionsPerTask:
    """Counts the connections each asyncio task holds, from the pool's checkout and checkin events."""

    def __init__(self, db: Database) -> None:
        self.held: Counter[int] = Counter()
        self.most = 0
        self.where: list[str] = []
        self._owner: dict[int, int] = {}
        pool_events = db.engine.sync_engine
        event.listen(pool_events, "checkout", self._checkout)
        event.listen(pool_events, "checkin", self._checkin)

    def _checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        task = asyncio.current_task()
        key = id(task)
        self._owner[id(record)] = key
        self.held[key] += 1
        if self.held[key] > self.most:
            self.most = self.held[key]
            self.where.append(task.get_name() if task is not None else "no task")

    def _checkin(self, dbapi_connection: Any, record: Any) -> None:
        key = self._owner.pop(id(record), None)
        if key is not None:
            self.held[key] -= 1


async def test_no_task_holds_two_connections_through_concurrent_verifications(db_url: str) -> None:
    settings = Settings(database_url=db_url, audit_subject_key=b"k" * 32, audit_integrate_seconds=0.05)
    async with sandbox_service(settings) as (service, request, name):
        watch = ConnectionsPerTask(service.db)

        async def one(i: int) -> str:
            view = await service.verifications.create(request, [name], request_id=f"sessions-{i}")
            done = await service.verifications.wait_for_report(view.name, timeout=60)
            return done.state

        states = await asyncio.gather(*(one(i) for i in range(24)))
    assert states == [VerificationState.COMPLETED] * 24
    assert watch.most == 1, f"a task held {watch.most} connections at once: {watch.where}"
