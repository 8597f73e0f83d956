"""The database pool's and the durable work's settings: defaults, file and environment, bad values naming their key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from verifier.config import ConfigError, Settings, effective_config, load_settings, read_config

POOL_AND_WORK = (
    "database_pool_size",
    "database_max_overflow",
    "database_pool_timeout_seconds",
    "work_lease_seconds",
    "work_claim_interval_seconds",
)


@pytest.fixture(autouse=True)
def _no_hedui_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests set the HEDUI_* variables they mean; the shell's do not leak in."""
    for name in list(os.environ):
        if name.upper().startswith("HEDUI_"):
            monkeypatch.delenv(name)


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "hedui.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, tmp_path / "base", create_keys=False)


def test_the_defaults_are_the_agreed_ones_loaded_and_built_directly(tmp_path: Path) -> None:
    expected = (10, 20, 5.0, 30.0, 0.5)
    loaded = load_settings(None, tmp_path, create_keys=False)
    assert tuple(getattr(loaded, key) for key in POOL_AND_WORK) == expected
    assert tuple(getattr(Settings(), key) for key in POOL_AND_WORK) == expected


def test_the_file_sets_each_of_them(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "database_pool_size = 3\ndatabase_max_overflow = 0\ndatabase_pool_timeout_seconds = 0.25\n"
        "work_lease_seconds = 12\nwork_claim_interval_seconds = 2\n",
    )
    assert tuple(getattr(settings, key) for key in POOL_AND_WORK) == (3, 0, 0.25, 12.0, 2.0)
    # Seconds are floats even when the file writes a whole number.
    assert isinstance(settings.work_lease_seconds, float) and isinstance(settings.database_pool_size, int)


def test_the_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("HEDUI_DATABASE_MAX_OVERFLOW", "1")
    monkeypatch.setenv("HEDUI_DATABASE_POOL_TIMEOUT_SECONDS", "1.5")
    monkeypatch.setenv("HEDUI_WORK_LEASE_SECONDS", "60")
    monkeypatch.setenv("HEDUI_WORK_CLAIM_INTERVAL_SECONDS", "0.1")
    settings = load(tmp_path, "database_pool_size = 3\nwork_lease_seconds = 12\n")
    assert tuple(getattr(settings, key) for key in POOL_AND_WORK) == (7, 1, 1.5, 60.0, 0.1)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("database_pool_size = 0\n", "database_pool_size: must be 1 or more"),
        ("database_pool_size = -2\n", "database_pool_size: must be 1 or more"),
        ("database_pool_size = 2.5\n", "database_pool_size: wrong type"),
        ('database_pool_size = "10"\n', "database_pool_size: wrong type"),
        ("database_pool_size = true\n", "database_pool_size: wrong type"),
        ("database_max_overflow = -1\n", "database_max_overflow: must be 0 or more"),
        ("database_max_overflow = 1.0\n", "database_max_overflow: wrong type"),
        ("database_pool_timeout_seconds = 0\n", "database_pool_timeout_seconds: must be positive"),
        ("database_pool_timeout_seconds = inf\n", "database_pool_timeout_seconds: must be a finite number"),
        ("work_lease_seconds = -30\n", "work_lease_seconds: must be positive"),
        ("work_claim_interval_seconds = 0\n", "work_claim_interval_seconds: must be positive"),
        ("work_claim_interval_seconds = nan\n", "work_claim_interval_seconds: must be positive"),
        # The lease must outlast the interval at which claims are looked for: the error names the lease.
        (
            "work_lease_seconds = 0.5\n",
            "work_lease_seconds: must be longer than work_claim_interval_seconds (0.5 ≤ 0.5)",
        ),
        (
            "work_lease_seconds = 10\nwork_claim_interval_seconds = 20\n",
            "work_lease_seconds: must be longer than work_claim_interval_seconds (10 ≤ 20)",
        ),
    ],
)
def test_each_bad_value_is_one_line_naming_its_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, toml)
    assert str(caught.value) == message or str(caught.value).startswith(f"{message} ("), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_lease_too_short_from_the_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEDUI_WORK_LEASE_SECONDS", "0.2")
    with pytest.raises(ConfigError) as caught:
        load_settings(None, tmp_path, create_keys=False)
    assert str(caught.value) == (
        "work_lease_seconds: must be longer than work_claim_interval_seconds (0.2 ≤ 0.5)"
        " (from HEDUI_WORK_LEASE_SECONDS)"
    )


def test_config_show_lists_them_with_their_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hedui.toml"
    path.write_text("database_pool_size = 4\n", encoding="utf-8")
    monkeypatch.setenv("HEDUI_WORK_LEASE_SECONDS", "45")
    values = {v.key: (v.shown, v.origin()) for v in effective_config(read_config(path), tmp_path)}
    assert values["database_pool_size"] == ("4", "file")
    assert values["database_max_overflow"] == ("20", "default")
    assert values["database_pool_timeout_seconds"] == ("5.0", "default")
    assert values["work_lease_seconds"] == ("45.0", "env HEDUI_WORK_LEASE_SECONDS")
    assert values["work_claim_interval_seconds"] == ("0.5", "default")
