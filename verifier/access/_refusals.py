"""Refused calls in the audit log (issue 13): one ``CALL_REFUSED`` entry per client and minute, with a count.

A refused caller cannot fill the log: however many calls it makes, each minute costs one entry, written when
the minute is over (or when the server stops). The entry names the client (``name@organisation``, or for a
certificate no client holds ``unknown sha256:<first 16 hex digits>``), the minute (UTC), the count, and the
methods, status codes and reasons refused (at most :data:`MAX_LISTED` of each).

Nor can many keys (review S5): the first :data:`MAX_CLIENTS_PER_MINUTE` clients refused in a minute get an entry
each; every further one is counted in one entry more, client :data:`OTHERS`, whose details add ``clients``, how
many distinct ones it counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Final

from audit import AuditEvent
from audit.group import GroupCommit

__all__ = ["MAX_CLIENTS_PER_MINUTE", "MAX_LISTED", "OTHERS", "RefusedCalls"]

log = logging.getLogger("hedui.access")
MAX_LISTED: Final = 20
MAX_CLIENTS_PER_MINUTE: Final = 100
OTHERS: Final = "others"
_MAX_OTHERS_TRACKED: Final = 100_000  # distinct clients remembered for the count (memory stays bounded)
_FLUSH_SECONDS: Final = 5.0


@dataclass(slots=True)
class _Minute:
    """What one client was refused in one minute."""

    count: int = 0
    operator: str = ""
    methods: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    reasons: set[str] = field(default_factory=set)
    clients: set[str] = field(default_factory=set)  # the OTHERS entry's distinct clients

    def add(self, operator: str, method: str, code: str, reason: str) -> None:
        """Count one more refusal."""
        self.count += 1
        self.operator = self.operator or operator
        for kept, value in ((self.methods, method), (self.codes, code), (self.reasons, reason)):
            if len(kept) < MAX_LISTED:
                kept.add(value)


def _minute(at: dt.datetime) -> str:
    """The UTC minute of an instant, ``2026-12-01T18:05Z``."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


class RefusedCalls:
    """Counts refusals per (client, minute) and records each as one entry once its minute is over."""

    def __init__(self, events: GroupCommit) -> None:
        """Record through ``events`` (the standalone entries' group commit)."""
        self._events = events
        self._minutes: dict[tuple[str, str], _Minute] = {}
        self._clients: dict[str, int] = {}  # minute -> clients with an entry of their own
        self._task: asyncio.Task[None] | None = None

    def refused(self, client: str, operator: str, method: str, code: str, reason: str) -> None:
        """Count one refused call (no I/O: the entry is written when its minute is over)."""
        minute = _minute(dt.datetime.now(dt.UTC))
        key = (client[:200], minute)
        counted = self._minutes.get(key)
        if counted is None:
            if self._clients.get(minute, 0) >= MAX_CLIENTS_PER_MINUTE:
                counted = self._minutes.setdefault((OTHERS, minute), _Minute())
                if len(counted.clients) < _MAX_OTHERS_TRACKED:
                    counted.clients.add(key[0])
            else:
                self._clients[minute] = self._clients.get(minute, 0) + 1
                counted = self._minutes[key] = _Minute()
        counted.add(operator[:200], method, code, reason)

    def start(self) -> None:
        """Write the entries of past minutes every few seconds, in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._forever(), name="hedui-refused-calls")

    async def _forever(self) -> None:
        """Flush past minutes until cancelled; a failure is logged and the counts kept for the next try."""
        while True:
            await asyncio.sleep(_FLUSH_SECONDS)
            try:
                await self.flush(every=False)
            except Exception as exc:
                log.warning("refused calls not recorded yet (%s); trying again", type(exc).__name__)

    async def flush(self, *, every: bool = True) -> int:
        """Write one entry per (client, minute) whose minute is over (``every``: the current one too).

        Returns how many entries were written.
        """
        now = _minute(dt.datetime.now(dt.UTC))
        due = [key for key in self._minutes if every or key[1] < now]
        for minute in [m for m in self._clients if every or m < now]:
            del self._clients[minute]
        written = 0
        for key in due:
            counted = self._minutes.pop(key)
            details: dict[str, str | int | list[str]] = {
                "minute": key[1],
                "count": counted.count,
                "methods": sorted(counted.methods),
                "codes": sorted(counted.codes),
                "reasons": sorted(counted.reasons),
            }
            if key[0] == OTHERS:
                details["clients"] = len(counted.clients)
            event = AuditEvent(kind="CALL_REFUSED", operator=counted.operator, client=key[0], details=details)
            try:
                await self._events.append(event)
            except Exception:
                self._merge_back(key, counted)
                raise
            written += 1
        return written

    def _merge_back(self, key: tuple[str, str], counted: _Minute) -> None:
        """Keep what could not be written (with what came meanwhile) for the next flush."""
        current = self._minutes.setdefault(key, _Minute())
        current.count += counted.count
        current.operator = current.operator or counted.operator
        current.methods |= counted.methods
        current.codes |= counted.codes
        current.reasons |= counted.reasons
        current.clients |= counted.clients

    async def close(self) -> None:
        """Stop the background flushing and write what is counted (the current minute too)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception as exc:
            log.warning("refused calls lost at stop (%s): %d client-minutes", type(exc).__name__, len(self._minutes))
