"""Shared fixtures: databases (SQLite and a throw-away PostgreSQL cluster) and a running hedui service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from harness import (
    PG_BIN,
    UNDER_CI,
    Harness,
    PostgresCluster,
    _as_postgres,
    _free_port,
    example_sandbox,
    running_service,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from statements import StatementCounter
from template_schema import install, postgres_template

from consent.identity import check_character, mask
from verifier.storage import db as storage_db
from verifier.storage.db import Database


def _temporary_files_in_memory() -> None:
    """Put the run's temporary files (``tmp_path``, the PostgreSQL clusters, what the processes the tests start
    write) on ``/dev/shm`` when it is a tmpfs with room: on the 2-core CI machine the suite waited on the disk
    (/proc/pressure/io "full" 8-20 %), and ``tests/audit`` took 97 s instead of 113 s in memory. ``TMPDIR`` set by
    the caller wins; ``HEDUI_TEST_TMP=disk`` keeps the system's temporary directory."""
    if "TMPDIR" in os.environ or os.environ.get("HEDUI_TEST_TMP") == "disk":
        return
    try:
        room = os.statvfs("/dev/shm")
    except OSError:
        return
    if room.f_bavail * room.f_frsize >= 12 * 2**30 and os.access("/dev/shm", os.W_OK | os.X_OK):
        os.environ["TMPDIR"] = "/dev/shm"  # the xdist workers and every process the tests start inherit it
        tempfile.tempdir = None  # recomputed from TMPDIR on next use


_temporary_files_in_memory()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the machine has cores (``--maxprocesses`` still caps it). The workers
    wait on the processes and loopback servers they start: two workers on the 2-core machine kept the CPU about
    62 % busy, and three ran the suite in 312 s instead of 390-445 s (2026-12-02, quiet)."""
    return (os.cpu_count() or 1) + 1


# Fresh databases get the migrated schema from a template (tests/support/template_schema.py: the migrations were
# most of the suite's time); HEDUI_TEST_MIGRATIONS=real runs every migration on every fresh database instead.
REPLAY_TEMPLATE = os.environ.get("HEDUI_TEST_MIGRATIONS", "template") != "real"
if REPLAY_TEMPLATE:
    install()
# The suite's own SQLite commits are not synced to disk, as its PostgreSQL cluster runs with fsync off: a loaded
# run spent a third of its time stalled on I/O (/proc/pressure/io). Processes the tests start (``hedui serve``,
# the crash drills) keep hedui's FULL; a killed process loses no commit in WAL mode either way.
storage_db.SQLITE_SYNCHRONOUS = "NORMAL"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throw-away PostgreSQL cluster on a free loopback port, removed afterwards."""
    if not (PG_BIN / "initdb").exists():
        message = f"PostgreSQL server binaries not found under {PG_BIN} (install postgresql-15)"
        if UNDER_CI:
            pytest.fail(message + " — required under CI")
        pytest.skip(message)
    directory = Path(tempfile.mkdtemp(prefix="hedui-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    port = _free_port()
    subprocess.run(
        _as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    cluster = PostgresCluster(port, directory)
    if REPLAY_TEMPLATE:
        postgres_template(port, cluster.url, PG_BIN, _as_postgres)
    try:
        yield cluster
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        # A worker's cluster holds hundreds of databases by now (~8 MB and ~300 files each): removing them took
        # 20-25 s at the end of every worker (190 s on a loaded machine). ``rm`` does it in its own session,
        # not waited for, so the run ends when its tests do; the files go a few seconds later.
        subprocess.Popen(
            ["rm", "-rf", "--", str(directory)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: SQLite in a temporary directory, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hedui.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database of each kind (SQLite and PostgreSQL), for the rooms' unit tests."""
    database = Database(db_url)
    await database.migrate()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[Harness]:
    async with running_service(db_url, example_sandbox()) as h:
        yield h


@pytest.fixture
def count_statements() -> Iterator[Callable[[Database | AsyncEngine], StatementCounter]]:
    """Attach a :class:`statements.StatementCounter` to a database's engine (detached after the test):
    ``counter = count_statements(service.db)`` then ``counter.count()``, ``counter.by(...)``."""
    counters: list[StatementCounter] = []

    def attach(target: Database | AsyncEngine) -> StatementCounter:
        counter = StatementCounter(target.engine if isinstance(target, Database) else target)
        counter.__enter__()
        counters.append(counter)
        return counter

    yield attach
    for counter in counters:
        counter.__exit__(None, None, None)


# --- issue 15: no log line of the suite carries a full identity number or a test person's name ---------------

_HOUSEHOLDS = (
    Path(__file__).resolve().parents[1] / "verifier" / "data" / "demo-household.json",
    Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples" / "household-zhang.json",
)


class _PersonalDataWatch(logging.Handler):
    """Sees every log record of the suite (INFO and above) and keeps those carrying a full identity number (18
    characters with a valid check character) or the name of a member of the test households."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        names: set[str] = set()
        for path in _HOUSEHOLDS:
            with contextlib.suppress(OSError, ValueError):
                names |= {m["name"] for m in json.loads(path.read_text(encoding="utf-8"))["members"]}
        self.names = tuple(sorted(names))
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted is another test's business
            return
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        for number in _ID_SHAPED.findall(text):
            if check_character(number[:17]) == number[17].upper():
                self.leaks.append(f"{record.name}: {mask(number)} in full")
        self.leaks += [f"{record.name}: a test person's name ({name[0]}…)" for name in self.names if name in text]


_ID_SHAPED = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


@pytest.fixture(scope="session")
def _personal_data_watch() -> Iterator[_PersonalDataWatch]:
    """One watch for the whole session, on the root logger at INFO."""
    watch = _PersonalDataWatch()
    root = logging.getLogger()
    level = root.level
    root.addHandler(watch)
    root.setLevel(min(level or logging.WARNING, logging.INFO))
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        root.setLevel(level)


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(_personal_data_watch: _PersonalDataWatch) -> Iterator[None]:
    """Fail a test any of whose log records carries a full identity number or a test person's name."""
    _personal_data_watch.leaks.clear()
    yield
    leaks = list(_personal_data_watch.leaks)
    _personal_data_watch.leaks.clear()
    if leaks:
        pytest.fail("personal data in the logs: " + "; ".join(sorted(set(leaks))[:5]), pytrace=False)


# A test still running after this long is stuck: every asyncio task's stack goes to a file, once, so that a
# hang (rare, on a busy machine; see the closing notes of 2026-12-01) says what it waits for. pytest-timeout
# (pyproject's `timeout`) then fails the test.
_WATCHDOG_SECONDS = float(os.environ.get("HEDUI_TEST_WATCHDOG_SECONDS", "300"))


def _dump_tasks(loop: asyncio.AbstractEventLoop, name: str) -> None:
    """Write every task of ``loop`` with its stack to ``hedui-hang-PID.txt`` in the temporary directory (pytest
    captures stderr during a test, so a dump there would show only if the test ends) and name the file on the
    real stderr."""
    path = Path(tempfile.gettempdir()) / f"hedui-hang-{os.getpid()}.txt"
    with path.open("a", encoding="utf-8") as out:
        print(f"\n=== {name}: still running after {_WATCHDOG_SECONDS:.0f} s; asyncio tasks:", file=out)
        with contextlib.suppress(RuntimeError):  # the task set changed meanwhile: what was written stands
            for task in list(asyncio.all_tasks(loop)):
                print(f"--- {task!r:.300}", file=out)
                task.print_stack(limit=25, file=out)
    if sys.__stderr__ is not None:
        print(f"\n=== {name} is stuck: its asyncio tasks are in {path}", file=sys.__stderr__, flush=True)


@pytest_asyncio.fixture(scope="session", autouse=True)
async def _session_loop() -> asyncio.AbstractEventLoop:
    """The loop the async tests run in, as seen from inside it: the thread's current loop is not it (pytest-asyncio
    runs its own, and every ``asyncio.run`` of a command's test leaves the thread without one)."""
    return asyncio.get_running_loop()


@pytest.fixture(autouse=True)
def _hang_watchdog(request: pytest.FixtureRequest, _session_loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Arm a timer for the test; on expiry, dump the asyncio tasks of the loop it runs in."""
    loop = _session_loop
    timer = threading.Timer(_WATCHDOG_SECONDS, _dump_tasks, (loop, request.node.nodeid))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
