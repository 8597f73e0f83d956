"""docs/operations.md's backup and restore, followed: the database and the keys backed up as the guide says,
restored into a fresh directory (and a fresh database), then ``hedui audit verify`` passes and every report reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from harness import PG_BIN, _as_postgres
from hedui_cli import hedui_here, ok
from own_cluster import OwnCluster, own_cluster

from verifier.config import load_settings
from verifier.service import HeduiService

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
HOUSEHOLD = ROOT / "verifier" / "data" / "demo-household.json"
KEYS = ("audit-subject.key", "audit-log.key")


@pytest.fixture(autouse=True)
def _no_hedui_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell's HEDUI_* variables do not reach the commands: each centre is its config file alone."""
    for name in list(os.environ):
        if name.upper().startswith("HEDUI_"):
            monkeypatch.delenv(name)


def _centre(directory: Path, database_url: str) -> Path:
    """A centre's state directory and config (as deploy/hedui.toml lays it out), the config's path."""
    directory.mkdir(parents=True)
    config = directory / "hedui.toml"
    config.write_text(
        f'database_url = "{database_url}"\n'
        f'audit_subject_key_file = "{directory / "audit-subject.key"}"\n'
        f'audit_log_key_file = "{directory / "audit-log.key"}"\n'
        f'key_dir = "{directory / "master-keys"}"\n'
        f'witness_dirs = ["{directory / "witness"}"]\n',
        encoding="utf-8",
    )
    return config


def _work(config: Path, cwd: Path) -> None:
    """Two verifications through the configured centre (hedui verify creates the keys on first use)."""
    for _ in range(2):
        ok(hedui_here("verify", str(HOUSEHOLD), "--config", str(config), "--format", "json", cwd=cwd))


def _back_up_keys(state: Path, backup: Path) -> None:
    """The guide's key backup: each key file (mode 0600 kept) and the witness directory."""
    (backup / "keys").mkdir(parents=True)
    for name in KEYS:
        shutil.copy2(state / name, backup / "keys" / name)
    shutil.copytree(state / "master-keys", backup / "keys" / "master-keys")  # issue 17
    shutil.copytree(state / "witness", backup / "witness")


def _restore_keys(backup: Path, state: Path) -> None:
    """The guide's key restore into the fresh state directory."""
    for name in KEYS:
        shutil.copy2(backup / "keys" / name, state / name)
        (state / name).chmod(0o600)
    shutil.copytree(backup / "keys" / "master-keys", state / "master-keys")  # issue 17
    shutil.copytree(backup / "witness", state / "witness")


async def _every_report(config: Path) -> list[dict[str, object]]:
    """Every verification's latest report, read through the restored service."""
    settings = load_settings(config, create_keys=False)
    assert settings.missing_key_files == {}
    async with HeduiService.administering(settings) as service:
        views, _ = await service.verifications.list(page_size=100, page_token="")
        return [await service.reports.get(f"{view.name}/reports/latest") for view in views]


def _restored_and_checked(restored: Path, tmp_path: Path) -> None:
    """``hedui audit verify`` passes on the restored centre, and each of its two reports reads."""
    done = hedui_here(
        "audit", "verify", "--config", str(restored), "--witness", str(restored.parent / "witness"), cwd=tmp_path
    )
    assert done.returncode == 0, done
    assert done.stdout.startswith("audit log intact (the database): ") and "witnessed heads" in done.stdout
    # The guide's last step before serving: the restored log adopted as the signer's state; then it writes again.
    recovered = hedui_here("audit", "recover", "--config", str(restored), cwd=tmp_path)
    assert recovered.returncode == 0, recovered
    ok(hedui_here("verify", str(HOUSEHOLD), "--config", str(restored), "--format", "json", cwd=tmp_path))
    again = hedui_here("audit", "verify", "--config", str(restored), cwd=tmp_path)
    assert again.returncode == 0, again
    reports = asyncio.run(_every_report(restored))[1:]  # the two of before the loss (newest first)
    assert len(reports) == 2
    members = len(json.loads(HOUSEHOLD.read_text(encoding="utf-8"))["members"])
    for report in reports:
        assert str(report["name"]).endswith("/reports/1") and report["version"] == 1
        assert len(report["members"]) == members  # type: ignore[arg-type]


def test_sqlite_backed_up_and_restored_into_a_fresh_directory(tmp_path: Path) -> None:
    state = tmp_path / "centre"
    config = _centre(state, f"sqlite:///{state / 'hedui.db'}")
    _work(config, tmp_path)
    backup = tmp_path / "backup"
    backup.mkdir()
    # The guide: sqlite3 hedui.db ".backup '/backup/hedui.db'" (online and consistent), then the keys.
    sqlite3_cli = shutil.which("sqlite3")
    if sqlite3_cli is not None:
        subprocess.run([sqlite3_cli, str(state / "hedui.db"), f".backup '{backup / 'hedui.db'}'"], check=True)
    else:  # the same online backup through Python's sqlite3 module
        with sqlite3.connect(state / "hedui.db") as source, sqlite3.connect(backup / "hedui.db") as target:
            source.backup(target)
    _back_up_keys(state, backup)
    shutil.rmtree(state)  # the machine is lost
    fresh = tmp_path / "fresh"
    restored = _centre(fresh, f"sqlite:///{fresh / 'hedui.db'}")
    shutil.copy2(backup / "hedui.db", fresh / "hedui.db")
    _restore_keys(backup, fresh)
    _restored_and_checked(restored, tmp_path)


def _pg(cluster: OwnCluster, tool: str, *args: str) -> None:
    """One of PostgreSQL's client tools against the cluster, as the cluster's superuser."""
    connection = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"]
    subprocess.run(_as_postgres([str(PG_BIN / tool), *connection, *args]), check=True, capture_output=True)


@pytest.mark.postgres
def test_postgresql_backed_up_and_restored_into_a_fresh_database(tmp_path: Path) -> None:
    with own_cluster() as cluster:
        url = cluster.cluster.create_database()
        state = tmp_path / "centre"
        config = _centre(state, url)
        _work(config, tmp_path)
        backup = cluster.directory / "backup"  # where the postgres user may write the dump
        _pg(cluster, "pg_dump", "--format=custom", f"--file={backup}.dump", url.rsplit("/", 1)[1])
        _back_up_keys(state, backup)
        shutil.rmtree(state)
        _pg(cluster, "createdb", "hedui_restored")
        _pg(cluster, "pg_restore", "--no-owner", "--dbname=hedui_restored", f"{backup}.dump")
        ok(hedui_here("db", "migrate", "--db", cluster.cluster.url("hedui_restored"), cwd=tmp_path))
        fresh = tmp_path / "fresh"
        restored = _centre(fresh, cluster.cluster.url("hedui_restored"))
        _restore_keys(backup, fresh)
        _restored_and_checked(restored, tmp_path)
