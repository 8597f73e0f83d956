"""Files the audit log and its witnesses keep: replaced atomically and durably, readable by their owner only; a
directory used by one writer at a time; histories that grow a durable line at a time."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["append_durably", "locked", "write_atomically"]


@contextlib.contextmanager
def locked(lock_file: Path, threads: threading.Lock | None = None) -> Iterator[None]:
    """Exclusive use of what ``lock_file`` guards, across processes (``flock``) and, given ``threads``, across
    this process's threads too."""
    with threads if threads is not None else contextlib.nullcontext(), open(lock_file, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def append_durably(path: Path, record: Mapping[str, object]) -> None:
    """Append ``record`` to the JSON-lines file ``path`` (compact ASCII JSON, one line) and make it durable."""
    with open(path, "ab") as history:
        history.write(json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n")
        history.flush()
        os.fsync(history.fileno())


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (mode 0600) so that a crash leaves either the old or the new content.

    A temporary file beside it is written and fsynced, renamed over ``path``, and the directory fsynced,
    so the rename itself survives a power cut.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
