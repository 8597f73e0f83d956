"""Per-caller bounds on what a call may cost the service (issue 13): watch streams, and reads worth an entry.

Both are keyed by :func:`caller_key`, the one place that says who "the same caller" is: today the client the
call's :class:`~verifier.operations.Caller` names (its peer); with mutual TLS, its certificate identity.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Final, Protocol

from verifier.errors import Reason, ServiceError

__all__ = [
    "MAX_WATCHES",
    "MAX_WATCHES_PER_CALLER",
    "READ_WINDOW_SECONDS",
    "ReadWindows",
    "StreamQuota",
    "caller_key",
]

# WatchVerification streams open at once: per caller, and in all (300 watchers of one verification took the
# server from 4 % to 100 % CPU).
MAX_WATCHES_PER_CALLER: Final = 8
MAX_WATCHES: Final = 256
# Reads of one report by one caller within this many seconds of the read that was recorded are one entry.
READ_WINDOW_SECONDS: Final = 60.0
# The most (caller, report) windows held in memory; past it, every read is recorded on its own.
MAX_READ_WINDOWS: Final = 10_000


class _Identified(Protocol):
    """Whatever names the caller: :class:`verifier.operations.Caller`."""

    @property
    def client(self) -> str:
        """The client calling."""
        ...


def caller_key(caller: _Identified) -> str:
    """Who "the same caller" is for every per-caller bound: the authenticated client (``name@organisation``, from
    its certificate: verifier/access)."""
    return caller.client


class StreamQuota:
    """Counts open streams per caller and in all; a stream beyond either bound is ``TOO_MANY_STREAMS``."""

    def __init__(self, per_caller: int = MAX_WATCHES_PER_CALLER, total: int = MAX_WATCHES) -> None:
        """At most ``per_caller`` streams of one caller and ``total`` of everyone at once."""
        self._per_caller = per_caller
        self._total = total
        self._open: dict[str, int] = {}
        self._count = 0

    @contextlib.contextmanager
    def held(self, key: str) -> Iterator[None]:
        """Hold one stream of caller ``key`` while the block runs; refuse at once if either bound is reached."""
        if self._count >= self._total:
            raise ServiceError(Reason.TOO_MANY_STREAMS, f"the service has {self._total} streams open; retry later")
        if self._open.get(key, 0) >= self._per_caller:
            raise ServiceError(
                Reason.TOO_MANY_STREAMS, f"this client has {self._per_caller} streams open; close one first"
            )
        self._open[key] = self._open.get(key, 0) + 1
        self._count += 1
        try:
            yield
        finally:
            self._count -= 1
            left = self._open[key] - 1
            if left:
                self._open[key] = left
            else:
                del self._open[key]

    def open_streams(self, key: str | None = None) -> int:
        """How many streams are open (of caller ``key``, or in all)."""
        return self._count if key is None else self._open.get(key, 0)


class ReadWindows:
    """Which reads of a report are worth an audit entry: the first by a caller, then the first after each window
    of :data:`READ_WINDOW_SECONDS`, carrying how many reads it stands for (the skipped ones and itself)."""

    def __init__(self, window: float = READ_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        """Windows of ``window`` seconds on ``clock``."""
        self._window = window
        self._clock = clock
        self._held: dict[tuple[str, str], tuple[float, int]] = {}

    def reads_to_record(self, key: str, report: str) -> int:
        """0: this read falls in the window of a recorded one and is only counted; n >= 1: record an entry for
        n reads (those counted since the last entry, and this one)."""
        now = self._clock()
        held = self._held.get((key, report))
        if held is not None and now - held[0] < self._window:
            self._held[(key, report)] = (held[0], held[1] + 1)
            return 0
        if held is None and len(self._held) >= MAX_READ_WINDOWS:
            self._forget_closed(now)
            if len(self._held) >= MAX_READ_WINDOWS:
                return 1  # too many callers at once to remember: every read is recorded
        self._held[(key, report)] = (now, 0)
        return 1 + (held[1] if held is not None else 0)

    def _forget_closed(self, now: float) -> None:
        """Drop the windows that closed with no read counted in them (nothing is lost)."""
        for key, (opened, counted) in list(self._held.items()):
            if counted == 0 and now - opened >= self._window:
                del self._held[key]
