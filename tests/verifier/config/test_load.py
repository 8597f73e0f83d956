"""The configuration schema: bad values name their key, the environment overrides the file, key files, departments."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from connectors.departments import DEFAULT_DEPARTMENTS, RecordKind
from verifier.config import ConfigError, Settings, load_settings, read_config


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hedui.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, **kwargs: bool) -> Settings:
    return load_settings(config_file(tmp_path, text), tmp_path / "base", **kwargs)


@pytest.fixture(autouse=True)
def _no_hedui_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests set the HEDUI_* variables they mean; the shell's do not leak in."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("HEDUI_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("department_deadline_seconds = 0\n", "department_deadline_seconds: must be positive"),
        ("poll_interval_seconds = -1.5\n", "poll_interval_seconds: must be positive"),
        ("pending_deadline_seconds = inf\n", "pending_deadline_seconds: must be a finite number"),
        ("audit_integrate_seconds = nan\n", "audit_integrate_seconds: must be positive"),
        ("audit_integrate_seconds = true\n", "audit_integrate_seconds: wrong type"),
        ('department_deadline_seconds = "10"\n', "department_deadline_seconds: wrong type"),
        ("listen = 50051\n", "listen: wrong type"),
        ('policy_files = "policies/533401.toml"\n', "policy_files: wrong type"),
        ("witness_dirs = [1]\n", "witness_dirs: wrong type"),
        ('audit_log_origin = "hedui county/audit"\n', "audit_log_origin: must be a name without spaces or '+'"),
        ('database_url = "mysql://u@h/db"\n', "database_url: mysql is not supported"),
        ('database_url = "::"\n', "database_url: '::' is not a database URL"),
        ('metrics_listen = "localhost"\n', "metrics_listen: 'localhost' is not host:port"),
        ('metrics_listen = "127.0.0.1:99999"\n', "metrics_listen: '127.0.0.1:99999' is not host:port (port 0-65535)"),
        ('listen = "notaport"\n', "listen: 'notaport' is not host:port"),
        ('listen = "127.0.0.1:70000"\n', "listen: '127.0.0.1:70000' is not host:port"),
        ('listen = ":50051"\n', "listen: ':50051' is not host:port"),
        ('listen = ""\n', "listen: must be host:port"),
        ("mystery = 3\n", "mystery: unknown key"),
        ("_env_file = 'x'\n", "_env_file: unknown key"),
        ('[departments.tax]\ndeadline_seconds = "5"\n', "departments.tax.deadline_seconds: must be a positive number"),
        ("[departments.tax]\ndeadline_seconds = -5\n", "departments.tax.deadline_seconds: must be a positive number"),
        ("[departments.tax]\nconnector = 3\n", "departments.tax.connector: must be an entry point name"),
        ("departments = { tax = 3 }\n", "departments.tax: must be a table"),
        ('[departments.tax]\nrecord_kinds = "tax_income"\n', "departments.tax.record_kinds: wrong type"),
        ("[departments.tax]\nname_zh = 7\n", "departments.tax.name_zh: wrong type"),
        (
            '[departments.Market-Regulation]\nname_zh = "市场监管"\nname_en = "Market"\nrecord_kinds = ["vehicle"]\n',
            "departments.Market-Regulation: a department id is",
        ),
    ],
)
def test_each_bad_value_is_an_error_starting_with_its_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, toml)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "base").exists()


def test_a_file_that_is_not_toml_or_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"hedui\.toml: not TOML"):
        load(tmp_path, "listen = \n")
    with pytest.raises(ConfigError, match=r"absent\.toml: cannot read"):
        load_settings(tmp_path / "absent.toml", tmp_path)


def test_every_key_of_the_file_reaches_the_settings(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        'database_url = "postgresql://hedui@127.0.0.1/hedui"\nlisten = "0.0.0.0:6000"\nsandbox = "sb.json"\n'
        'policy_files = ["a.toml", "b.toml"]\ndepartment_deadline_seconds = 8\npoll_interval_seconds = 2\n'
        "pending_deadline_seconds = 3600\naudit_integrate_seconds = 0.5\n"
        'audit_log_origin = "hedui.county.example/audit"\nwitness_dirs = ["/mnt/w"]\n'
        'metrics_listen = "127.0.0.1:9464"\n[departments.banks]\ndeadline_seconds = 30\n',
    )
    assert settings.database_url == "postgresql://hedui@127.0.0.1/hedui"
    assert (settings.listen, settings.sandbox, settings.metrics_listen) == (
        "0.0.0.0:6000",
        Path("sb.json"),
        "127.0.0.1:9464",
    )
    assert settings.policy_files == (Path("a.toml"), Path("b.toml"))
    assert settings.witness_dirs == (Path("/mnt/w"),)
    assert (settings.department_deadline_seconds, settings.poll_interval_seconds) == (8.0, 2.0)
    assert (settings.pending_deadline_seconds, settings.audit_integrate_seconds) == (3600.0, 0.5)
    assert settings.audit_log_origin == "hedui.county.example/audit"
    assert (settings.deadline("banks"), settings.deadline("tax")) == (30.0, 8.0)
    assert settings.departments == {"banks": {"deadline_seconds": 30.0}}


def test_defaults_live_under_the_base_directory(tmp_path: Path) -> None:
    settings = load_settings(None, tmp_path / "base", create_keys=False)
    assert settings.database_url == f"sqlite:///{tmp_path / 'base' / 'hedui.db'}"
    assert (settings.listen, settings.department_deadline_seconds, settings.metrics_listen) == (
        "127.0.0.1:50051",
        10.0,
        "",
    )
    assert list(settings.catalogue) == [d.id for d in DEFAULT_DEPARTMENTS]


def test_the_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_LISTEN", "0.0.0.0:7000")
    monkeypatch.setenv("HEDUI_DEPARTMENT_DEADLINE_SECONDS", "12.5")
    monkeypatch.setenv("HEDUI_POLICY_FILES", '["env.toml"]')
    monkeypatch.setenv("HEDUI_DEPARTMENTS__TAX__DEADLINE_SECONDS", "20")
    monkeypatch.setenv("HEDUI_PG_BIN", "/somewhere")  # a variable of the test harness, not a key: ignored
    settings = load(
        tmp_path,
        'listen = "127.0.0.1:6000"\ndepartment_deadline_seconds = 5\npolicy_files = ["file.toml"]\n'
        'metrics_listen = "127.0.0.1:9464"\n[departments.tax]\nconnector = "sandbox"\ndeadline_seconds = 3\n'
        'sandbox = "tax.json"\n',
    )
    assert settings.listen == "0.0.0.0:7000"
    assert settings.department_deadline_seconds == 12.5
    assert settings.policy_files == (Path("env.toml"),)
    assert settings.metrics_listen == "127.0.0.1:9464"  # not in the environment: the file's
    # A nested variable replaces one key of the table; the file's other keys stay.
    assert settings.departments["tax"] == {"connector": "sandbox", "deadline_seconds": 20.0, "sandbox": "tax.json"}
    assert settings.deadline("tax") == 20.0


def test_a_bad_variable_names_its_key_and_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_DEPARTMENTS__BANKS__DEADLINE_SECONDS", "soon")
    with pytest.raises(ConfigError) as caught:
        load_settings(None, tmp_path)
    assert str(caught.value) == (
        "departments.banks.deadline_seconds: must be a positive number"
        " (from HEDUI_DEPARTMENTS__BANKS__DEADLINE_SECONDS)"
    )


def test_the_file_alone_when_the_environment_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_LISTEN", "0.0.0.0:7000")
    monkeypatch.setenv("HEDUI_POLL_INTERVAL_SECONDS", "-1")
    loaded = read_config(config_file(tmp_path, 'listen = "127.0.0.1:6000"\n'), environ=False)
    assert loaded.config.listen == "127.0.0.1:6000"
    assert loaded.from_env == frozenset()


def test_the_service_creates_key_files_readable_by_it_alone(tmp_path: Path) -> None:
    settings = load(tmp_path, f'audit_log_key_file = "{tmp_path / "keys" / "log.key"}"\n')
    log_file, subject_file = tmp_path / "keys" / "log.key", tmp_path / "base" / "audit-subject.key"
    assert bytes.fromhex(log_file.read_text()) == settings.audit_log_key and len(settings.audit_log_key) == 32
    assert bytes.fromhex(subject_file.read_text()) == settings.audit_subject_key
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    again = load(tmp_path, f'audit_log_key_file = "{log_file}"\n', create_keys=False)
    assert (again.audit_log_key, again.audit_subject_key) == (settings.audit_log_key, settings.audit_subject_key)
    assert again.missing_key_files == {}


def test_read_only_loading_records_missing_key_files_and_creates_none(tmp_path: Path) -> None:
    settings = load(tmp_path, f'audit_subject_key_file = "{tmp_path / "s.key"}"\n', create_keys=False)
    assert dict(settings.missing_key_files) == {
        "audit_subject_key_file": tmp_path / "s.key",
        "audit_log_key_file": tmp_path / "base" / "audit-log.key",
    }
    assert (settings.audit_subject_key, settings.audit_log_key) == (b"", b"")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hedui.toml"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not hex", "audit_log_key_file: {path} does not hold a hex key"),
        ("ab" * 16, "audit_log_key_file: {path} holds 16 bytes, exactly 32 needed"),
    ],
)
def test_a_key_file_that_holds_no_usable_key_is_an_error(tmp_path: Path, content: str, message: str) -> None:
    key = tmp_path / "log.key"
    key.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f'audit_log_key_file = "{key}"\n', create_keys=False)
    assert str(caught.value) == message.format(path=key)


MARKET = (
    '[departments.market_regulation]\nname_zh = "市场监督管理部门"\nname_en = "Market regulation"\n'
    'record_kinds = ["enterprise"]\nconnector = "market-registry"\nregistry_url = "https://samr.example/api"\n'
)


def test_a_new_department_declared_with_names_and_kinds_joins_the_catalogue(tmp_path: Path) -> None:
    settings = load(tmp_path, MARKET, create_keys=False)
    assert list(settings.catalogue) == [*(d.id for d in DEFAULT_DEPARTMENTS), "market_regulation"]
    market = settings.catalogue["market_regulation"]
    assert (market.name_zh, market.name_en) == ("市场监督管理部门", "Market regulation")
    assert market.record_kinds == frozenset({RecordKind.ENTERPRISE})
    # The connector gets its own options, not the declaration.
    assert settings.departments["market_regulation"] == {
        "connector": "market-registry",
        "registry_url": "https://samr.example/api",
    }


def test_a_new_department_declared_through_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_DEPARTMENTS__MARKET_REGULATION__NAME_ZH", "市场监督管理部门")
    monkeypatch.setenv("HEDUI_DEPARTMENTS__MARKET_REGULATION__NAME_EN", "Market regulation")
    monkeypatch.setenv("HEDUI_DEPARTMENTS__MARKET_REGULATION__RECORD_KINDS", '["enterprise", "vehicle"]')
    settings = load_settings(None, tmp_path, create_keys=False)
    assert settings.catalogue["market_regulation"].record_kinds == frozenset(
        {RecordKind.ENTERPRISE, RecordKind.VEHICLE}
    )


def test_a_new_department_without_record_kinds_is_an_error_naming_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, '[departments.market_regulation]\nname_zh = "市场监督管理部门"\nname_en = "Market regulation"\n')
    assert str(caught.value).startswith("departments.market_regulation.record_kinds: required")


def test_an_unknown_record_kind_names_the_department_and_the_kind(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, MARKET.replace('["enterprise"]', '["enterprise", "shareholding"]'))
    message = str(caught.value)
    assert message.startswith("departments.market_regulation.record_kinds: 'shareholding' is not a record kind")


def test_a_new_department_needs_its_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^departments\.market_regulation\.name_zh/name_en"):
        load(tmp_path, '[departments.market_regulation]\nrecord_kinds = ["enterprise"]\n')


def test_a_default_department_may_be_renamed_and_keeps_its_kinds(tmp_path: Path) -> None:
    settings = load(tmp_path, '[departments.banks]\nname_en = "Banks"\n', create_keys=False)
    banks = settings.catalogue["banks"]
    assert banks.name_en == "Banks" and banks.name_zh == "银行等金融机构"
    assert banks.record_kinds == frozenset({RecordKind.ACCOUNT, RecordKind.INSURANCE_PREMIUM})
    assert settings.departments == {"banks": {}}
