"""The effective configuration: each value's source, secrets never shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from verifier.config import Source, effective_config, load_settings, read_config


@pytest.fixture(autouse=True)
def _no_hedui_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("HEDUI_"):
            monkeypatch.delenv(name)


def test_each_value_names_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text('listen = "127.0.0.1:6000"\nmetrics_listen = "127.0.0.1:9464"\n[departments.tax]\nx = 1\n')
    monkeypatch.setenv("HEDUI_METRICS_LISTEN", "127.0.0.1:9999")
    monkeypatch.setenv("HEDUI_DEPARTMENTS__TAX__DEADLINE_SECONDS", "20")
    values = {v.key: v for v in effective_config(read_config(config), tmp_path)}
    assert (values["listen"].shown, values["listen"].source) == ('"127.0.0.1:6000"', Source.FILE)
    assert (values["metrics_listen"].shown, values["metrics_listen"].origin()) == (
        '"127.0.0.1:9999"',
        "env HEDUI_METRICS_LISTEN",
    )
    assert (values["poll_interval_seconds"].shown, values["poll_interval_seconds"].source) == ("1.0", Source.DEFAULT)
    assert values["departments.tax.deadline_seconds"].source is Source.ENV
    assert (values["departments.tax.x"].shown, values["departments.tax.x"].source) == ("1", Source.FILE)
    assert values["departments.tax.name_zh"].shown == '"税务部门"'
    assert values["database_url"].shown == f'"sqlite:///{tmp_path / "hedui.db"}"'
    # Every declared department is listed, with its connector.
    assert values["departments.police.connector"].shown == '"sandbox"'


def test_secrets_are_redacted_and_key_files_shown_as_paths(tmp_path: Path) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text(
        'database_url = "postgresql://hedui:s3cret-pw@db.example/hedui"\n'
        '[departments.banks]\nticket_key = "bank-ticket-key-0123456789"\naddress = "10.0.0.5:443"\n'
    )
    settings = load_settings(config, tmp_path)  # creates the key files
    values = effective_config(read_config(config), tmp_path)
    text = "\n".join(f"{v.key} {v.shown} {v.note}" for v in values)
    for secret in (
        "s3cret-pw",
        "bank-ticket-key-0123456789",
        settings.audit_log_key.hex(),
        settings.audit_subject_key.hex(),
    ):
        assert secret not in text
    by_key = {v.key: v for v in values}
    assert by_key["departments.banks.ticket_key"].shown == '"<redacted>"'
    assert by_key["departments.banks.address"].shown == '"10.0.0.5:443"'
    assert by_key["database_url"].shown == '"postgresql://hedui:***@db.example/hedui"'
    assert by_key["audit_log_key_file"].shown == f'"{tmp_path / "audit-log.key"}"'
    assert (
        "never shown" in by_key["audit_log_key_file"].note and "does not exist" not in by_key["audit_log_key_file"].note
    )


def test_a_missing_key_file_is_noted(tmp_path: Path) -> None:
    values = {v.key: v for v in effective_config(read_config(None), tmp_path)}
    assert values["audit_subject_key_file"].note.endswith("does not exist")
    assert not any(tmp_path.iterdir())
