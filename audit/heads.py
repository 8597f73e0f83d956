"""What every checkpoint hedui signs says besides size and root: the head before it and the log's time.

One C2SP checkpoint extension line, ``hedui/v1 prev=<size> time=<UTC instant>``: the size of the signed head
this one follows, so a deleted intermediate head is missed by the next (``hedui audit verify`` names it), and
the time the integrator signed it — the log time of every entry the head newly covers, which never goes
backwards (the integrator signs no earlier than the head before). Extension lines are opaque to other C2SP
tools (Go's ``note`` and ``tlog`` ignore them). Heads signed before this line existed carry none.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from audit.checkpoint import Checkpoint, CheckpointError, parse_note

__all__ = ["HeadFacts", "head_facts", "head_line", "note_facts"]

_LINE = re.compile(r"hedui/v1 prev=(0|[1-9][0-9]*) time=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z", re.ASCII)
_PREFIX = "hedui/v1 "


@dataclass(frozen=True, slots=True)
class HeadFacts:
    """The signed head's predecessor (its size) and the log time it was signed at."""

    previous: int
    time: dt.datetime


def head_line(previous: int, time: dt.datetime) -> str:
    """The extension line for a head following the one of size ``previous``, signed at ``time``."""
    return f"{_PREFIX}prev={previous} time={time.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}Z"


def head_facts(checkpoint: Checkpoint) -> HeadFacts | None:
    """The facts of a checkpoint hedui signed (``None`` for one without the line); a malformed line is refused."""
    lines = [line for line in checkpoint.extensions if line.startswith(_PREFIX)]
    if not lines:
        return None
    found = _LINE.fullmatch(lines[0]) if len(lines) == 1 else None
    if found is None:
        raise CheckpointError(f"checkpoint of size {checkpoint.size}: malformed {_PREFIX.strip()} line")
    previous = int(found.group(1))
    if previous >= checkpoint.size:
        raise CheckpointError(f"checkpoint of size {checkpoint.size} claims to follow a head of size {previous}")
    return HeadFacts(previous, dt.datetime.fromisoformat(found.group(2)).replace(tzinfo=dt.UTC))


def note_facts(note: str) -> HeadFacts | None:
    """The facts of a signed checkpoint note (its signatures not checked here); ``None`` for an empty note."""
    if not note:
        return None
    return head_facts(Checkpoint.parse_body(parse_note(note)[0]))
