"""What of an export's check needs no other line: each line read, each entry decoded, checked and hashed.

``hedui audit verify --export`` spends nearly all its time on work that one entry decides alone — the JSON line,
the base64, the canonical encoding, the entry's fields, its leaf hash — and little on what needs the entries
before it (the order of indices and times, consent, the tree's root at each head). :func:`scan` does the first
part for a run of lines and hands back, in file order, what the second part needs: *segments* of consecutive
well-formed entries (their first index, their times, the roots of the perfect subtrees they fill, the decoded
entries the consent check reads), the heads, and the first line or entry found wrong. A pure function of its
lines, so several processes can scan the lines of one file at once (:mod:`audit.verify` runs it so on a large
export, in order, and replays the results through its :class:`~audit.verify.LogChecker` exactly as if it had
read every entry itself).
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pybase64

from audit.consent_proof import CONSENT_KINDS
from audit.events import entry_time
from audit.merkle import aligned_subtrees

__all__ = [
    "FIRST_INSTANT",
    "MAX_CLOCK_SKEW",
    "EntryFault",
    "Head",
    "Item",
    "LineFault",
    "Moment",
    "Segment",
    "allowed_after",
    "decoded_entry",
    "line_record",
    "lines_of",
    "scan",
]

_LEAF_PREFIX = b"\x00"
_sha256 = hashlib.sha256
_loads, _dumps = orjson.loads, orjson.dumps


Moment = tuple[int, dt.datetime]
"""An entry's offset in its segment and its writer's time."""


@dataclass(frozen=True, slots=True)
class Segment:
    """Consecutive well-formed entries ``first``..: the perfect subtrees they fill (root, leaves) from index
    ``first`` on, and what the checks of order need, which span entries before them too.

    ``notable``: the decoded entries the consent check reads, with offset and time. The times, as far as the
    order matters: ``lows``, each entry earlier than every one before it in the segment, with the latest time
    before it (``None`` for the first); ``back``, the first entry lying more than :data:`MAX_CLOCK_SKEW` before
    an earlier one of the segment, with the latest before it; ``high``, the latest time (its first entry).
    """

    first: int
    count: int
    subtrees: tuple[tuple[bytes, int], ...]
    notable: tuple[tuple[int, dt.datetime, dict[str, Any]], ...]
    lows: tuple[tuple[Moment, Moment | None], ...]
    back: tuple[Moment, Moment] | None
    high: Moment


@dataclass(frozen=True, slots=True)
class Head:
    """A head record: the tree size it claims and its checkpoint note."""

    number: int
    size: int
    note: str


@dataclass(frozen=True, slots=True)
class LineFault:
    """Line ``number`` is no record of an export: ``what`` (``json``, ``object``, ``entry``, ``base64``, ``head``
    or ``kind``), and for ``base64`` the index the record claims."""

    number: int
    what: str
    index: int | None = None


@dataclass(frozen=True, slots=True)
class EntryFault:
    """The entry claiming ``index`` is no entry hedui writes (``message`` says why); its place is checked first."""

    index: int
    message: str


Item = Segment | Head | LineFault | EntryFault


def line_record(line: bytes) -> Any:
    """One export line's JSON (orjson's parser, json's for what orjson refuses, such as NaN): ValueError if none."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _base64(encoded: str) -> bytes:
    """Strict base64 (binascii's ``strict_mode``): pybase64's decoder, three times faster, for what it accepts;
    binascii decides what it refuses (pybase64 refuses a few strings that binascii's strict mode takes)."""
    try:
        return pybase64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return binascii.a2b_base64(encoded, strict_mode=True)


def decoded_entry(entry: bytes) -> Any:
    """The entry's JSON if it is in the canonical encoding (UTF-8, sorted keys, no spaces), else ``None``.

    The encoding is Python's ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``. An entry
    without a backslash is checked with orjson (four times faster both ways): with no escape in it, orjson's
    sorted compact encoding of the decoded value is byte for byte json's (raw UTF-8, code point key order, the
    same integers; a float is refused by :func:`~audit.events.entry_problem` either way). Any other entry takes
    json's path.
    """
    if b"\\" not in entry:
        try:
            body = orjson.loads(entry)
        except orjson.JSONDecodeError:
            body = None
        if body.__class__ is dict and orjson.dumps(body, option=orjson.OPT_SORT_KEYS) == entry:
            return body
    try:
        body = json.loads(entry.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    again = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return body if again == entry and isinstance(body, dict) else None


def _entry_record(record: dict[str, Any], number: int) -> tuple[int, bytes] | LineFault:
    """The index and bytes an entry record holds, or what is wrong with the record."""
    index, encoded = record.get("index"), record.get("entry")
    if not isinstance(index, int) or not isinstance(encoded, str):
        return LineFault(number, "entry")
    try:
        return index, _base64(encoded)
    except (binascii.Error, ValueError):
        return LineFault(number, "base64", index)


def _entry(entry: bytes, index: int) -> tuple[dt.datetime, dict[str, Any]] | EntryFault:
    """The entry's time and body, or why it is no entry hedui writes."""
    body = decoded_entry(entry)
    if body is None:
        return EntryFault(index, "not in the canonical encoding (UTF-8 JSON object, sorted keys, no spaces)")
    time = entry_time(body)
    if isinstance(time, str):
        return EntryFault(index, f"not an entry hedui writes: {time}")
    return time, body


def _common(line: bytes) -> tuple[int, bytes, dt.datetime, dict[str, Any]] | None:
    """A well-formed entry line on the common path — ``{"index": …, "entry": …}``, an entry without a backslash —
    as its index, bytes, time and body; ``None`` for any other line (:func:`scan` then takes the careful path,
    which decides exactly what is wrong, or that nothing is)."""
    try:
        record = _loads(line)
        index, encoded = record["index"], record["entry"]
        entry = pybase64.b64decode(encoded, validate=True)
        body = _loads(entry)
    except (KeyError, TypeError, ValueError):  # orjson's and binascii's errors are ValueErrors
        return None
    canonical = b"\\" not in entry and _dumps(body, option=orjson.OPT_SORT_KEYS) == entry
    if not (canonical and index.__class__ is int and encoded.__class__ is str and body.__class__ is dict):
        return None
    time = entry_time(body)
    return None if isinstance(time, str) else (index, entry, time, body)


def _careful(line: bytes, number: int) -> tuple[int, bytes, dt.datetime, dict[str, Any]] | Item:
    """What :func:`_common` left: the entry line's index, bytes, time and body, else its head or fault."""
    record = _record(line, number)
    if not (isinstance(record, dict) and "entry" in record):
        return _head(record, number)
    found = _entry_record(record, number)
    if isinstance(found, LineFault):
        return found
    index, entry = found
    decoded = _entry(entry, index)
    return decoded if isinstance(decoded, EntryFault) else (index, entry, *decoded)


MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far an entry's time may lie before an earlier entry's (:data:`audit.verify.MAX_CLOCK_SKEW`)."""
FIRST_INSTANT = dt.datetime.min.replace(tzinfo=dt.UTC)


def allowed_after(time: dt.datetime) -> dt.datetime:
    """The earliest time an entry may have after one of ``time``: :data:`MAX_CLOCK_SKEW` before it (never before
    the first instant a datetime holds: an export dated in year 1 fails as backdated, not with an overflow)."""
    return time - MAX_CLOCK_SKEW if time - FIRST_INSTANT > MAX_CLOCK_SKEW else FIRST_INSTANT


def _order(
    times: list[dt.datetime],
) -> tuple[tuple[tuple[Moment, Moment | None], ...], tuple[Moment, Moment] | None, Moment]:
    """A segment's ``lows``, ``back`` and ``high`` (see :class:`Segment`) from its entries' times: at once for
    times in order (one writer's, the common case), entry by entry otherwise."""
    if times == sorted(times):
        last = times[-1]
        return (((0, times[0]), None),), None, (times.index(last), last)
    back: tuple[Moment, Moment] | None = None
    low, high = times[0], (0, times[0])
    lows: list[tuple[Moment, Moment | None]] = [((0, low), None)]
    allowed = allowed_after(low)
    for offset, time in enumerate(times[1:], start=1):
        if time < low:
            low = time
            lows.append(((offset, time), high))
        if time > high[1]:
            high, allowed = (offset, time), allowed_after(time)
        elif back is None and time < allowed:
            back = ((offset, time), high)
    return tuple(lows), back, high


def lines_of(block: bytes) -> list[bytes]:
    """A block of a file's lines as iterating the file yields them (split after each newline only)."""
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    return lines


def scan(lines: Sequence[bytes], number: int, cuts: frozenset[int] = frozenset()) -> list[Item]:
    """The records of ``lines`` (the first is line ``number`` of the file), in order, up to and with the first
    fault. A segment ends before an index in ``cuts`` (sizes at which the checker must see the tree's root)."""
    items: list[Item] = []
    first, leaves, times, notable = 0, list[bytes](), list[dt.datetime](), list[tuple[int, dt.datetime, Any]]()
    for line in lines:
        found = _common(line) or _careful(line, number)
        number += 1
        if not isinstance(found, tuple):
            _close(items, first, leaves, times, notable)
            first, leaves, times, notable = 0, [], [], []
            items.append(found)
            if isinstance(found, Head):
                continue
            return items
        index, entry, time, body = found
        if index != first + len(leaves) or index in cuts:
            _close(items, first, leaves, times, notable)
            first, leaves, times, notable = index, [], [], []
        if body["kind"] in CONSENT_KINDS:
            notable.append((len(leaves), time, body))
        times.append(time)
        leaves.append(_sha256(_LEAF_PREFIX + entry).digest())
    _close(items, first, leaves, times, notable)
    return items


def _close(
    items: list[Item],
    first: int,
    leaves: list[bytes],
    times: list[dt.datetime],
    notable: list[tuple[int, dt.datetime, Any]],
) -> None:
    """Append the segment gathered (if any entries were) to ``items``."""
    if leaves:
        lows, back, high = _order(times)
        subtrees = tuple(aligned_subtrees(first, leaves))
        items.append(Segment(first, len(leaves), subtrees, tuple(notable), lows, back, high))


def _record(line: bytes, number: int) -> Any:
    try:
        return line_record(line)
    except ValueError:
        return LineFault(number, "json")


def _head(record: Any, number: int) -> Head | LineFault:
    """A head record, or what the line is instead of an entry or a head."""
    if isinstance(record, LineFault):
        return record
    if not isinstance(record, dict):
        return LineFault(number, "object")
    if "entry" in record:  # a dict subclass cannot come from JSON; kept for the type checker
        return LineFault(number, "entry")
    if "checkpoint" not in record:
        return LineFault(number, "kind")
    size, note = record.get("head"), record.get("checkpoint")
    if not isinstance(size, int) or not isinstance(note, str):
        return LineFault(number, "head")
    return Head(number, size, note)
