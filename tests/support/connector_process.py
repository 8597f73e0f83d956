"""A reference connector server in its own process: ``hedui connector serve``, as a department would run it."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

HEDUI = [sys.executable, "-m", "verifier.cli"]
LISTENING = re.compile(r"listening on (\S+:\d+)")
FINGERPRINT = re.compile(r"fingerprint: ([0-9A-F:]{95})")
_RUN = uuid.uuid4().hex[:8]
_ASKINGS = itertools.count(1)


def new_key(department: str = "tax") -> str:
    """An idempotency key no other query of this test run has: a new asking (``VERIFICATION.DEPARTMENT.1``)."""
    return f"v-{_RUN}-{next(_ASKINGS)}.{department}.1"


def query_log_lines(path: Path) -> list[dict[str, Any]]:
    """The lines of a ``hedui connector serve --query-log`` file (none if it does not exist yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def repeated_look_ups(path: Path) -> dict[tuple[str, str], int]:
    """(key, subject) pairs looked up more than once in a query log: each key of a shared call counts."""
    seen: Counter[tuple[str, str]] = Counter()
    for line in query_log_lines(path):
        for key in line["key"].split(","):
            seen[(key, line["subject"])] += 1
    return {pair: count for pair, count in seen.items() if count > 1}


@dataclass
class ConnectorProcess:
    process: subprocess.Popen[str]
    address: str
    fingerprint: str
    certificate: bytes
    output: list[str]


def _read_until_listening(process: subprocess.Popen[str], timeout: float) -> list[str]:
    """The server's first lines, up to its fingerprint; a thread keeps draining stdout after that."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:
        for line in stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    seen: list[str] = []
    give_up = time.monotonic() + timeout
    while not any(FINGERPRINT.search(line) for line in seen):
        try:
            line = lines.get(timeout=max(0.0, give_up - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
    return seen


@contextlib.contextmanager
def connector_server(
    directory: Path,
    department: str = "tax",
    *,
    sandbox: Path | None = None,
    extra: Sequence[str] = (),
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    client_auth: bool = False,
) -> Iterator[ConnectorProcess]:
    """Run ``hedui connector serve --self-signed-out DIRECTORY --listen 127.0.0.1:0`` until the block ends.

    Reads the address and fingerprint the server prints; stops it with SIGTERM and checks it exits 0.
    ``env`` replaces the environment (e.g. one that finds an installed department package). ``client_auth``
    (issue 13): the server requires hedui's client certificate and query tokens (the development ones it
    writes in DIRECTORY); without it, ``--no-client-auth``.
    """
    args = [*HEDUI, "connector", "serve", "--department", department, "--listen", "127.0.0.1:0"]
    args += ["--self-signed-out", str(directory), *(() if client_auth else ("--no-client-auth",))]
    if sandbox is not None:
        args += ["--sandbox", str(sandbox)]
    args += list(extra)
    env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
    # stderr to a file, so that a chatty server never blocks on a full pipe
    log = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed after the process ends
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        lines = _read_until_listening(process, timeout)
        address = next((m.group(1) for line in lines if (m := LISTENING.search(line))), None)
        fingerprint = next((m.group(1) for line in lines if (m := FINGERPRINT.search(line))), None)
        if address is None or fingerprint is None:
            process.kill()
            process.communicate(timeout=30)
            raise AssertionError(f"the connector server did not start: {lines} {_tail(log)}")
        certificate = (directory / "cert.pem").read_bytes()
        yield ConnectorProcess(process, address, fingerprint, certificate, lines)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    try:
        assert process.returncode == 0, _tail(log)
    finally:
        log.close()


def _tail(log: IO[str]) -> str:
    log.seek(0)
    return log.read()[-2000:]
