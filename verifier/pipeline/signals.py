"""In-process change notifications: wake whoever watches a verification when something about it changes."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["VerificationSignals"]


class VerificationSignals:
    """Wakes watchers of a verification when something about it changes (in this process).

    A counter per verification means a change that happens while a watcher is busy reading is
    never lost: the watcher waits only until the counter passes the value it last saw.
    """

    def __init__(self) -> None:
        """No verification has changed yet."""
        self._versions: dict[str, int] = {}
        self._events: dict[str, asyncio.Event] = {}

    def version(self, verification_id: str) -> int:
        """How many changes of this verification were signalled so far."""
        return self._versions.get(verification_id, 0)

    def notify(self, verification_id: str) -> None:
        """Something about the verification changed: count it and wake its watchers."""
        self._versions[verification_id] = self.version(verification_id) + 1
        event = self._events.pop(verification_id, None)
        if event is not None:
            event.set()

    async def wait_past(self, verification_id: str, seen: int, timeout: float) -> None:
        """Return once the verification changed after version ``seen``, or after ``timeout`` seconds."""
        if self.version(verification_id) > seen:
            return
        event = self._events.setdefault(verification_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
