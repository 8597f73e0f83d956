"""``hedui witness serve`` in its own process, as a witness operator runs it, and a client of its HTTP API."""

from __future__ import annotations

import base64
import contextlib
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HEDUI = [sys.executable, "-m", "verifier.cli"]
LISTENING = re.compile(r"^witness (\S+) listening on (\S+:\d+)$")


@dataclass(frozen=True)
class RunningWitness:
    """A witness process: its verifier key and base URL."""

    vkey: str
    url: str
    process: subprocess.Popen[str]


def make_key(path: Path, name: str) -> str:
    """``hedui witness keygen``: the verifier key it prints."""
    done = subprocess.run(
        [*HEDUI, "witness", "keygen", "--key", str(path), "--name", name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextlib.contextmanager
def witness_process(key: Path, state: Path, logs: Sequence[str]) -> Iterator[RunningWitness]:
    """Run the witness on a free port until the block ends (SIGTERM, then it must exit 0)."""
    args = [*HEDUI, "witness", "serve", "--key", str(key), "--state", str(state), "--listen", "127.0.0.1:0"]
    for log in logs:
        args += ["--log", log]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        found = LISTENING.match(line)
        assert found is not None, (line, process.stderr.read() if process.poll() is not None else "")
        yield RunningWitness(found.group(1), f"http://{found.group(2)}", process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    assert code == 0, process.stderr.read() if process.stderr else ""


def add_checkpoint(url: str, old: int, proof: Sequence[bytes], note: str) -> tuple[int, str, str]:
    """POST add-checkpoint written from c2sp.org/tlog-witness: status, content type, body."""
    body = f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof) + "\n" + note
    return post(url + "/add-checkpoint", body.encode())


def post(url: str, body: bytes) -> tuple[int, str, str]:
    """Any POST: status, content type, body."""
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def get(url: str) -> tuple[int, str]:
    """A GET: status and body."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
