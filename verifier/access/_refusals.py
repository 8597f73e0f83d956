"""Refused calls in the audit log (issue 13): one ``CALL_REFUSED`` entry per client and minute, with a count.

A refused caller cannot fill the log: however many calls it makes, each minute costs one entry, written when
the minute is over (or when the server stops). The entry names the client (``name@organisation``, or for a
certificate no client holds ``unknown sha256:<first 16 hex digits>``), the minute (UTC), the count, and the
methods, status codes and reasons refused (at most :data:`MAX_LISTED` of each).
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

__all__ = ["MAX_LISTED", "RefusedCalls"]

log = logging.getLogger("hedui.access")
MAX_LISTED: Final = 20
_FLUSH_SECONDS: Final = 5.0


@dataclass(slots=True)
class _Minute:
    """What one client was refused in one minute."""

    count: int = 0
    operator: str = ""
    methods: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    reasons: set[str] = field(default_factory=set)

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
        self._task: asyncio.Task[None] | None = None

    def refused(self, client: str, operator: str, method: str, code: str, reason: str) -> None:
        """Count one refused call (no I/O: the entry is written when its minute is over)."""
        key = (client[:200], _minute(dt.datetime.now(dt.UTC)))
        self._minutes.setdefault(key, _Minute()).add(operator[:200], method, code, reason)

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
        written = 0
        for key in due:
            counted = self._minutes.pop(key)
            event = AuditEvent(
                kind="CALL_REFUSED",
                operator=counted.operator,
                client=key[0],
                details={
                    "minute": key[1],
                    "count": counted.count,
                    "methods": sorted(counted.methods),
                    "codes": sorted(counted.codes),
                    "reasons": sorted(counted.reasons),
                },
            )
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
