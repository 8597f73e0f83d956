"""An export checked in runs of lines, in forked processes, says exactly what the check of one run in order says.

``check_export`` scans a large export's lines in several processes (audit/_export_scan.py) and replays what they
found through one checker. Here the runs are made a few lines long, so that a small export crosses many of them,
and every kind of damage gives the same result — entries, heads and the first failure, word for word — scanned in
one run, in many runs in this process, and in many runs in other processes, given as lines or read from a file.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from audit import verify
from audit.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from audit.events import AuditEvent, canonical_entry
from audit.heads import head_line
from audit.merkle import MerkleTree, leaf_hash
from audit.verify import CheckResult, check_export, export_entry_line, export_head_line, export_header_line

ORIGIN = "hedui.test/audit"
SIGNER = NoteSigner.from_private_bytes(ORIGIN, bytes(range(32)))
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
N = 40


def _entry(i: int, at: dt.datetime | None = None, kind: str = "REPORT_READ") -> bytes:
    event = AuditEvent(kind=kind, verification=f"v{i}", authorization="a1")
    return canonical_entry(event, at or T0 + dt.timedelta(seconds=i))


def _export(entries: list[bytes], *, every: int = 7) -> list[bytes]:
    tree, previous = MerkleTree(), 0
    lines = [export_header_line(ORIGIN, SIGNER.verifier_key(), len(entries))]
    for i, entry in enumerate(entries):
        tree.append(leaf_hash(entry))
        lines.append(export_entry_line(i, entry))
        if (i + 1) % every == 0 or i + 1 == len(entries):
            signed = (head_line(previous, T0 + dt.timedelta(seconds=i + 1)),)
            note = sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root(), signed), SIGNER)
            lines.append(export_head_line(tree.size, note))
            previous = tree.size
    return lines


def _plain() -> list[bytes]:
    return _export([_entry(i) for i in range(N)])


def _line_of(lines: list[bytes], index: int) -> int:
    return next(n for n, line in enumerate(lines) if line.startswith(b'{"index": %d,' % index))


def _replace_entry(lines: list[bytes], index: int, entry: bytes) -> list[bytes]:
    lines = list(lines)
    lines[_line_of(lines, index)] = export_entry_line(index, entry)
    return lines


def _edit_record(lines: list[bytes], which: int, **fields: object) -> list[bytes]:
    lines = list(lines)
    at = _line_of(lines, which)
    lines[at] = json.dumps({**json.loads(lines[at]), **fields}).encode() + b"\n"
    return lines


def _without(lines: list[bytes], index: int) -> list[bytes]:
    return [line for n, line in enumerate(lines) if n != _line_of(lines, index)]


def _header(lines: list[bytes], tree_size: int) -> list[bytes]:
    return [export_header_line(ORIGIN, SIGNER.verifier_key(), tree_size), *lines[1:]]


SIGNED_SIZES = [7, 14, 21, 28, 35, 40]
DAMAGE: dict[str, Callable[[], list[bytes]]] = {
    "intact": _plain,
    "an entry's byte": lambda: _replace_entry(_plain(), 20, _entry(20).replace(b"v20", b"v21")),
    "base64": lambda: _edit_record(_plain(), 12, entry="not base64!"),
    "index no number": lambda: _edit_record(_plain(), 12, index="12"),
    "not json": lambda: [*_plain()[:9], b"{not json\n", *_plain()[10:]],
    "neither": lambda: [*_plain()[:9], b'{"other": 1}\n', *_plain()[10:]],
    "not canonical": lambda: _replace_entry(_plain(), 16, _entry(16).replace(b'"kind":', b'"kind": ')),
    "unknown kind": lambda: _replace_entry(_plain(), 16, _entry(16).replace(b"REPORT_READ", b"REPORT_EATEN")),
    "escaped": lambda: _replace_entry(_plain(), 16, _entry(16).replace(b"v16", b'v\\"16')),
    "removed": lambda: _without(_plain(), 23),
    "duplicated": lambda: [*_plain()[:20], _plain()[19], *_plain()[20:]],
    "backdated": lambda: _replace_entry(_plain(), 25, _entry(25, T0 - dt.timedelta(minutes=10))),
    "forward then back": lambda: _replace_entry(_plain(), 24, _entry(24, T0 + dt.timedelta(minutes=20))),
    "year one": lambda: _replace_entry(_plain(), 10, _entry(10, dt.datetime(1, 1, 1, 0, 1, tzinfo=dt.UTC))),
    "year one first": lambda: _replace_entry(_plain(), 0, _entry(0, dt.datetime(1, 1, 1, 0, 1, tzinfo=dt.UTC))),
    "unconsented": lambda: _replace_entry(_plain(), 30, _entry(30, kind="DEPARTMENT_QUERY_SENT")),  # no case
    "header short": lambda: _header(_plain(), 17),
    "header long": lambda: _header(_plain(), 45),
    "a head removed": lambda: [line for line in _plain() if b'"head": 14,' not in line],
    "base64 length": lambda: _edit_record(_plain(), 5, entry=base64.b64encode(_entry(5)).decode() + "Q"),
}


def _checked(lines: list[bytes], pins: tuple[Checkpoint, ...]) -> CheckResult:
    return check_export(iter(lines), SIGNER.verifier(), witnessed=pins)


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("pinned", [False, True])
def test_many_runs_in_many_processes_say_what_one_run_says(
    damage: str, pinned: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lines = DAMAGE[damage]()
    tree = MerkleTree(leaf_hash(_entry(i)) for i in range(17))
    pins = (Checkpoint(ORIGIN, 17, tree.root()),) if pinned else ()  # a witness at a size no head has
    whole = _checked(lines, pins)
    monkeypatch.setattr(verify, "_CHUNK_LINES", 3)
    monkeypatch.setattr(verify, "_workers", lambda: 1)
    here = _checked(lines, pins)
    monkeypatch.setattr(verify, "_workers", lambda: 2)
    pools: list[int] = []

    class Pool(ProcessPoolExecutor):
        def __init__(self, workers: int, **options: Any) -> None:
            super().__init__(workers, **options)
            pools.append(workers)

    monkeypatch.setattr(verify, "ProcessPoolExecutor", Pool)
    forked = _checked(lines, pins)
    assert pools == [2]
    assert here == whole
    assert forked == whole
    export = tmp_path / "export.jsonl"
    export.write_bytes(b"".join(lines))
    monkeypatch.setattr(verify, "_BLOCK_BYTES", 700)  # blocks of two or three lines, read from the file
    with export.open("rb") as file:
        assert check_export(file, SIGNER.verifier(), witnessed=pins) == whole
    assert pools == [2, 2]
    monkeypatch.setattr(verify, "_workers", lambda: 1)
    with export.open("rb") as file:
        assert check_export(file, SIGNER.verifier(), witnessed=pins) == whole
    if damage == "intact":
        assert whole.intact and (whole.entries, whole.heads) == (N, len(SIGNED_SIZES)), whole.failure
    else:
        assert whole.failure is not None


def test_the_damage_is_named_as_one_run_names_it() -> None:
    """What the runs above agree on is the check's own wording (a few, by hand)."""
    said = {name: str(check_export(DAMAGE[name](), SIGNER.verifier()).failure) for name in DAMAGE}
    assert said["an entry's byte"].startswith("entry 14: entries 14..20 do not match the signed tree head at size 21")
    assert said["removed"] == "entry 23: missing (the log goes on with entry 24)"
    assert said["duplicated"] == "entry 17: out of order or duplicated (found entry 16 in its place)"
    assert said["backdated"].startswith("entry 25: its time 2026-12-01T08:50:00+00:00 lies 0:10:24 before entry 24's")
    assert said["forward then back"].startswith(
        "entry 25: its time 2026-12-01T09:00:25+00:00 lies 0:19:35 before entry 24"
    )
    assert said["unconsented"].startswith("entry 30: consent not proven by the log: a query for verification 'v30'")
    assert said["header short"] == "entry 17: beyond the 17 entries the file's header announces"
    assert said["base64"] == "entry 12: line 15: entry is not base64"
    assert said["not json"] == "line 10: not JSON"
    assert said["year one"].startswith(
        "entry 10: its time 0001-01-01T00:01:00+00:00 lies 739950 days, 8:59:09 before entry 9"
    )
    assert said["year one first"].startswith("entry 0: entries 0..6 do not match the signed tree head at size 7")
    assert said["a head removed"].startswith("signed tree head at size 21: it follows the signed head of size 14")
    assert said["header long"] == "entry 40: missing: the file's header announces 45 entries, the file ends after 40"
