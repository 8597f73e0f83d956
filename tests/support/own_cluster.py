"""A throw-away PostgreSQL cluster of one test alone, to stop and start again (tests/conftest.py's way)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import PG_BIN, UNDER_CI, PostgresCluster, _as_postgres, _free_port


class OwnCluster:
    """A cluster in a temporary directory on a free loopback port."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="hedui-pg-own-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self.data = self.directory / "data"
        self.port = _free_port()
        self.cluster = PostgresCluster(self.port, self.directory)

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]), check=True, capture_output=True
        )

    def init(self) -> None:
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"]
        subprocess.run(_as_postgres([*initdb, "-E", "UTF8"]), check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.directory / "log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def own_cluster() -> Iterator[OwnCluster]:
    """A started cluster, removed afterwards; skipped (failed under CI) without PostgreSQL's binaries."""
    if not (PG_BIN / "initdb").exists():
        message = f"PostgreSQL server binaries not found under {PG_BIN} (install postgresql-15)"
        if UNDER_CI:
            pytest.fail(message + " — required under CI")
        pytest.skip(message)
    cluster = OwnCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
