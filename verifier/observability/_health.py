"""Is this process ready to serve: its database answers, its audit log can be appended to, its schema is current.

:class:`Readiness` probes every ``interval`` seconds (each probe bounded by ``timeout``) and keeps the latest
answer; ``/readyz`` reports it and gRPC health follows it (``SERVING`` / ``NOT_SERVING``), so a load balancer
takes a replica whose database went away out of rotation and back when it returns. ``/healthz`` (alive) asks
nothing of the database: a process that answers it need not be restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Final

from grpc_health.v1 import health_pb2
from prometheus_client import Gauge
from sqlalchemy import text

from verifier.storage.db import Database, migration_revisions

__all__ = ["Check", "Readiness", "ReadinessReport"]

log = logging.getLogger("hedui.health")
READY = Gauge("hedui_ready", "1 while the last readiness probe passed (database, migrations, audit log), else 0")
_SERVING: Final = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING: Final = health_pb2.HealthCheckResponse.NOT_SERVING
# PostgreSQL: a standby, a read-only default, or a role that may not insert into the log cannot append to it.
_PG_WRITABLE: Final = text(
    "SELECT pg_is_in_recovery(), current_setting('transaction_read_only'), "
    "has_table_privilege(current_user, 'audit_entries', 'INSERT')"
)


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness check: its name (``database``, ``migrations``, ``audit_log``), whether it passed, why not."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """The checks of one probe and when it ended (``time.monotonic()``)."""

    checks: tuple[Check, ...]
    at: float

    @property
    def ready(self) -> bool:
        """Every check passed."""
        return all(check.ok for check in self.checks)

    def failing(self) -> str:
        """The failing checks as one line (``database: …; audit_log: …``)."""
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if not c.ok)


def revisions() -> tuple[str, frozenset[str]]:
    """The newest migration this code expects the schema to be at, and every revision it knows (read once a
    process, by the storage that migrates)."""
    return migration_revisions()


class Readiness:
    """The probe of one process's database, its audit log and its schema, and the latest answer."""

    def __init__(
        self,
        db: Database,
        integration_failure: Callable[[], str | None],
        *,
        interval: float = 5.0,
        timeout: float = 2.0,
        writes_stopped: Callable[[], str | None] = lambda: None,
        witnessed: Callable[[], str | None] | None = None,
    ) -> None:
        """Probe ``db``; ``integration_failure`` tells why the last audit-log integration failed (``None``: it
        did not); ``writes_stopped`` why the audit log's write gate is closed (``None``: it is open)."""
        self._db = db
        self._integration_failure = integration_failure
        self.writes_stopped = writes_stopped
        self._witnessed = witnessed  # issue 12: why the witness policy is not met in time (None: it is)
        self._interval = interval
        self._changed = asyncio.Event()
        self._timeout = timeout
        self._head, self._known = revisions()
        self.latest = ReadinessReport((Check("database", False, "not probed yet"),), time.monotonic())
        self._held: Callable[[], Collection[str]] = tuple

    @property
    def interval(self) -> float:
        """Seconds between two probes."""
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        """A new interval takes effect at once (the probe waiting for the old one runs now)."""
        self._interval = seconds
        self._changed.set()

    async def _schema(self) -> list[Check]:
        """The database answers, and its schema is not behind this code's newest migration.

        A schema ahead of this code (a revision it does not know: ``hedui db migrate`` of the next version ran
        before this replica was upgraded) stays ready — migrations are made so the previous version runs on
        them — and says so; a schema behind it (an older revision this code knows) is not ready."""
        async with self._db.sessions() as session:
            stored = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        behind = [revision for revision in stored if revision != self._head and revision in self._known]
        if not stored or behind:
            detail = f"schema at {', '.join(stored) or 'no revision'}, this code needs {self._head}: hedui db migrate"
            return [Check("database", True), Check("migrations", False, detail)]
        ahead = [revision for revision in stored if revision not in self._known]
        return [Check("database", True), Check("migrations", True, f"schema ahead at {ahead[0]}" if ahead else "")]

    async def _writable(self) -> Check:
        """The audit log can be appended to: PostgreSQL is writable for this role; SQLite takes a write."""
        if self._db.dialect == "postgresql":
            async with self._db.sessions() as session:
                standby, read_only, may_insert = (await session.execute(_PG_WRITABLE)).one()
            if standby or read_only == "on" or not may_insert:
                why = "a standby" if standby else "read-only" if read_only == "on" else "no INSERT on audit_entries"
                return Check("audit_log", False, f"the database is {why}")
        else:
            async with self._db.write() as session:  # a real write: the same value back into the header
                version = (await session.execute(text("PRAGMA user_version"))).scalar_one()
                await session.execute(text(f"PRAGMA user_version = {int(version)}"))
        failure = self._integration_failure()
        return Check("audit_log", failure is None, f"integrating the log failed: {failure}" if failure else "")

    async def probe(self) -> ReadinessReport:
        """Probe now (bounded by the timeout) and keep the answer."""
        try:
            async with asyncio.timeout(self._timeout):
                checks = [*await self._schema(), await self._writable()]
            if self._witnessed is not None:
                lag = self._witnessed()
                checks.append(Check("witnesses", lag is None, lag or ""))
        except TimeoutError:
            checks = [Check("database", False, f"no answer within {self._timeout:g} s")]
        except Exception as exc:  # the database refused or failed: say what, never the SQL
            checks = [Check("database", False, f"{type(exc).__name__}: {_first_line(exc)}")]
        self.latest = ReadinessReport(tuple(checks), time.monotonic())
        READY.set(1 if self.latest.ready and self.writes_stopped() is None else 0)
        return self.latest

    async def watch(
        self, health: Any, names: Sequence[str], held: Callable[[], Collection[str]] = tuple
    ) -> Callable[[], Awaitable[None]]:
        """Probe now and every ``interval``; set ``health``'s status of every name to follow the answer (the
        names ``held()`` returns stay NOT_SERVING even when ready: the write services while the audit log's
        write gate is closed). Returns the function that stops watching."""
        self._held = held
        self._changed.clear()
        await self._publish(health, names, await self.probe(), None)
        task = asyncio.create_task(self._watch_forever(health, names), name="hedui-readiness")

        async def stop() -> None:
            """Stop probing."""
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        return stop

    async def _watch_forever(self, health: Any, names: Sequence[str]) -> None:
        """The probe loop."""
        while True:
            before = self.latest.ready
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: a cancellation is never swallowed
                async with asyncio.timeout(self._interval):
                    await self._changed.wait()
            self._changed.clear()
            await self._publish(health, names, await self.probe(), before)

    async def _publish(self, health: Any, names: Sequence[str], report: ReadinessReport, before: bool | None) -> None:
        """Set the gRPC health status of ``names``; log a change."""
        if report.ready == before:
            return
        if report.ready:
            log.info("ready: database reachable, audit log appending, migrations current")
        else:
            log.warning("not ready: %s", report.failing())
        held = self._held()
        for name in names:
            await health.set(name, _SERVING if report.ready and name not in held else _NOT_SERVING)


def _first_line(exc: BaseException) -> str:
    """The first line of an error's message, at most 200 characters (no SQL: that follows on later lines)."""
    text_ = str(exc).strip().splitlines()
    return text_[0][:200] if text_ else ""
