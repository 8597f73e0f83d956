"""In-process change notifications: wake whoever watches a verification when something about it changes, and
hand them its final state when the pipeline knows all of it (so they need not read it back)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["FinalState", "StoredProgress", "VerificationSignals", "progress_of"]

# How many final states are kept for watchers that have yet to wake (each watcher takes its own at once).
_KEPT = 4096


@dataclass(frozen=True, slots=True)
class StoredProgress:
    """One department's progress exactly as its result row was stored."""

    department: str
    status: str
    records: int
    detail: str
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class FinalState:
    """A verification as the transaction that completed it stored it: its state, its report version, the time it
    was updated and every department's progress (sorted by department, as a read would give them)."""

    state: str
    updated_at: dt.datetime
    latest_report_version: int
    departments: tuple[StoredProgress, ...]


def progress_of(row: Mapping[str, object]) -> StoredProgress:
    """The progress a result row (as written) shows."""
    updated = row["updated_at"]
    assert isinstance(updated, dt.datetime)
    return StoredProgress(
        department=str(row["department"]),
        status=str(row["status"]),
        records=int(str(row.get("record_count", 0))),
        detail=str(row.get("detail", "")),
        updated_at=updated,
    )


class VerificationSignals:
    """Wakes watchers of a verification when something about it changes (in this process).

    A counter per verification means a change that happens while a watcher is busy reading is
    never lost: the watcher waits only until the counter passes the value it last saw.
    """

    def __init__(self) -> None:
        """No verification has changed yet."""
        self._versions: dict[str, int] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._final: OrderedDict[str, tuple[int, FinalState]] = OrderedDict()

    def version(self, verification_id: str) -> int:
        """How many changes of this verification were signalled so far."""
        return self._versions.get(verification_id, 0)

    def notify(self, verification_id: str, final: FinalState | None = None) -> None:
        """Something about the verification changed (committed): count it and wake its watchers; ``final``: the
        state it ended in, when the notifier knows all of it."""
        version = self.version(verification_id) + 1
        self._versions[verification_id] = version
        if final is not None:
            self._final[verification_id] = (version, final)
            while len(self._final) > _KEPT:
                self._final.popitem(last=False)
        event = self._events.pop(verification_id, None)
        if event is not None:
            event.set()

    async def wait_past(self, verification_id: str, seen: int, timeout: float) -> None:
        """Return once the verification changed after version ``seen``, or after ``timeout`` seconds."""
        if self.version(verification_id) > seen:
            return
        event = self._events.setdefault(verification_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # not wait_for, which may lose a cancellation on Python 3.11
                await event.wait()

    def final_at(self, verification_id: str, version: int) -> FinalState | None:
        """The final state the change numbered ``version`` carried, if that change is the latest and carried one."""
        kept = self._final.get(verification_id)
        return kept[1] if kept is not None and kept[0] == version == self.version(verification_id) else None
