"""Test support: counting the SQL statements an engine executes, exactly (no timing involved).

A :class:`StatementCounter` listens to SQLAlchemy's ``before_cursor_execute`` event of one engine: every
statement sent to the database driver counts once (an ``executemany`` of many rows is one statement, as is
one batch of SQLAlchemy's "insertmanyvalues"). Transaction control (BEGIN, COMMIT, ROLLBACK) and the
connection set-up (SQLite's PRAGMAs) are not cursor executions and are not counted; commits are counted
apart (:attr:`~StatementCounter.commits`, :attr:`~StatementCounter.rollbacks`: a read-only session ends with
one), and so are the connections taken from the pool (:attr:`~StatementCounter.checkouts`: one per session).

Each statement is labelled with the phase the test is in (:meth:`StatementCounter.phase`), the name of the
asyncio task that ran it, and the hedui functions it was called from (``module:function``, outermost first):
under SQLAlchemy's asyncio extension a statement runs in a greenlet whose own stack starts inside
SQLAlchemy, so the callers are read from the awaiting greenlet's frames.

    with StatementCounter(service.db.engine) as counter:
        with counter.phase("create"):
            ...
    assert counter.count() <= 25, counter.summary()
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

import greenlet
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["Statement", "StatementCounter"]

PACKAGES = ("verifier", "audit", "consent", "connectors")
_MAX_DEPTH = 200


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement as the driver received it, and where it came from."""

    phase: str
    sql: str
    task: str
    callers: tuple[str, ...]  # "package/module.py:function", outermost first
    executemany: bool

    @property
    def verb(self) -> str:
        """The statement's first word and its table, e.g. ``INSERT audit_entries`` or ``SELECT verifications``
        (the first table named outside parentheses; a ``WITH`` statement is named by its main statement)."""
        words = self.sql.replace("(", " ( ").replace(")", " ) ").split()
        depth, verb, table = 0, "", ""
        for index, word in enumerate(words):
            upper = word.upper()
            if word == "(":
                depth += 1
            elif word == ")":
                depth -= 1
            elif depth == 0 and not verb and upper in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                verb = upper
                if upper == "UPDATE" and index + 1 < len(words):
                    table = words[index + 1]
            elif depth == 0 and verb and not table and upper in ("FROM", "INTO") and index + 1 < len(words):
                table = words[index + 1]
        return f"{verb or (words[0].upper() if words else '?')} {table.strip(chr(34))}".strip()

    @property
    def caller(self) -> str:
        """The innermost hedui function that ran the statement (``?`` when none is on the stack)."""
        return self.callers[-1] if self.callers else "?"


def _hedui_frame(frame: FrameType) -> str | None:
    """``package/module.py:function`` when the frame runs hedui's code, else ``None``."""
    filename = frame.f_code.co_filename.replace("\\", "/")
    for package in PACKAGES:
        marker = f"/{package}/"
        if marker in filename and "/tests/" not in filename and "site-packages" not in filename:
            return f"{package}/{filename.rsplit(marker, 1)[1]}:{frame.f_code.co_name}"
    return None


def _frames(frame: FrameType | None) -> Iterator[FrameType]:
    depth = 0
    while frame is not None and depth < _MAX_DEPTH:
        yield frame
        frame = frame.f_back
        depth += 1


def _callers() -> tuple[str, ...]:
    """hedui's frames on the stack (outermost first), across SQLAlchemy's greenlet boundary."""
    found: list[str] = []
    current: Any = greenlet.getcurrent()
    stacks: list[FrameType | None] = [sys._getframe(1)]
    while current is not None and current.parent is not None:
        current = current.parent
        stacks.append(current.gr_frame)
    for top in stacks:
        found.extend(name for f in _frames(top) if (name := _hedui_frame(f)) is not None)
    found.reverse()
    return tuple(found)


def _task_name() -> str:
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return ""
    return "" if task is None else task.get_name()


class StatementCounter:
    """Records every statement one engine executes while attached (a context manager: attach, detach)."""

    def __init__(self, engine: AsyncEngine | Engine, *, callers: bool = True) -> None:
        """Count ``engine``'s statements; ``callers``: also record hedui's frames (a little slower)."""
        self._engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        self._with_callers = callers
        self._phase = ""
        self.statements: list[Statement] = []
        self.commits = 0
        self.rollbacks = 0
        self.checkouts = 0

    # --- attaching ---------------------------------------------------------------------------

    def __enter__(self) -> StatementCounter:
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "commit", self._commit)
        event.listen(self._engine, "rollback", self._rollback)
        event.listen(self._engine, "checkout", self._checkout)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "commit", self._commit)
        event.remove(self._engine, "rollback", self._rollback)
        event.remove(self._engine, "checkout", self._checkout)

    def _before(
        self, _conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, executemany: bool
    ) -> None:
        callers = _callers() if self._with_callers else ()
        self.statements.append(Statement(self._phase, statement, _task_name(), callers, executemany))

    def _commit(self, _conn: Any) -> None:
        self.commits += 1

    def _rollback(self, _conn: Any) -> None:
        self.rollbacks += 1

    def _checkout(self, *_args: Any) -> None:
        self.checkouts += 1

    # --- labelling and reading ---------------------------------------------------------------

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Label the statements executed inside the block with ``name`` (phases do not nest)."""
        before, self._phase = self._phase, name
        try:
            yield
        finally:
            self._phase = before

    def count(self, where: Callable[[Statement], bool] | None = None) -> int:
        """How many statements (those ``where`` accepts, when given)."""
        return sum(1 for s in self.statements if where is None or where(s))

    def by(self, key: Callable[[Statement], str]) -> Counter[str]:
        """Statements counted by ``key`` (e.g. ``lambda s: s.phase`` or ``lambda s: s.verb``)."""
        return Counter(key(s) for s in self.statements)

    def reset(self) -> None:
        """Forget what was recorded so far."""
        self.statements.clear()
        self.commits = self.rollbacks = self.checkouts = 0

    def summary(self) -> str:
        """One line per (phase, innermost caller, statement): for an assertion's message."""
        counted = Counter((s.phase, s.caller, s.verb) for s in self.statements)
        lines = [
            f"{len(self.statements)} statements, {self.commits} commits, {self.rollbacks} rollbacks, "
            f"{self.checkouts} connection checkouts"
        ]
        lines += [f"  {n:3d}  {phase or '-'}  {caller}  {verb}" for (phase, caller, verb), n in sorted(counted.items())]
        return "\n".join(lines)
