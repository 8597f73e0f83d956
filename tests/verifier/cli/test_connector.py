"""The connector kit's reading of the centre's config (verifier/cli/connector.py): declarations and options."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from verifier.cli._common import UsageError
from verifier.cli.connector import DepartmentConfig, _check_arguments, _declared, read_department_config

MARKET = """\
database_url = "sqlite:///hedui.db"

[departments.tax]
connector = "tax-bureau-533401"
dsn = "postgresql://tax"
deadline_seconds = 20

[departments.market_regulation]
name_zh = "市场监督管理部门"
name_en = "Market regulation"
record_kinds = ["enterprise"]
connector = "market-regulation"
batch_size = 25
"""


def read(tmp_path: Path, text: str) -> DepartmentConfig:
    path = tmp_path / "hedui.toml"
    path.write_text(text, encoding="utf-8")
    return read_department_config(path)


def test_no_config_is_the_six_with_the_sandbox() -> None:
    config = read_department_config(None)
    assert list(config.catalogue) == ["police", "housing", "tax", "vehicles", "banks", "social_security"]
    assert config.connector_of("banks") == "sandbox" and config.options_of("banks") == {}


def test_the_config_declares_departments_and_gives_each_its_own_options(tmp_path: Path) -> None:
    config = read(tmp_path, MARKET)
    assert list(config.catalogue)[-1] == "market_regulation"
    assert config.catalogue.name_zh("market_regulation") == "市场监督管理部门"
    assert config.connector_of("market_regulation") == "market-regulation"
    assert config.options_of("market_regulation") == {"batch_size": 25}
    assert config.connector_of("tax") == "tax-bureau-533401"
    assert config.options_of("tax") == {"dsn": "postgresql://tax"}
    assert config.connector_of("police") == "sandbox"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[departments\n", "not TOML"),
        # The typed config's own messages (verifier.config), each naming the key: one reader for every command.
        ('departments = "tax"\n', "departments: wrong type"),
        (
            '[departments.courts]\nconnector = "x"\n',
            "departments.courts.record_kinds: required, since 'courts' is not one of hedui's departments",
        ),
        (
            '[departments.courts]\nname_zh = "法院"\nname_en = "Courts"\nrecord_kinds = ["verdict"]\n',
            "departments.courts.record_kinds: 'verdict' is not a record kind hedui knows",
        ),
    ],
)
def test_a_bad_config_is_invalid_input_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace(".", r"\.")):
        read(tmp_path, text)


def test_a_declared_department_without_a_connector_names_the_key(tmp_path: Path) -> None:
    config = read(tmp_path, MARKET.replace('connector = "market-regulation"\n', ""))
    with pytest.raises(UsageError, match=r"^departments\.market_regulation\.connector: "):
        config.connector_of("market_regulation")


def test_a_missing_config_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        read_department_config(tmp_path / "absent.toml")


# --- the kit's argument checks (verifier/cli/connector.py), in-process --------------------------------------


def check_args(**given: object) -> argparse.Namespace:
    """``hedui connector check``'s parsed options: the defaults, ``given`` over them."""
    defaults: dict[str, object] = {
        "entry_point": None,
        "address": None,
        "config": None,
        "cert": None,
        "server_name": None,
        "deadline": 10.0,
        "ticket_timeout": 30.0,
    }
    return argparse.Namespace(**{**defaults, **given})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "one of the arguments --entry-point --address is required (or --config FILE)"),
        ({"entry_point": "sandbox", "cert": Path("ca.pem")}, "--cert and --server-name go with --address"),
        ({"entry_point": "sandbox", "server_name": "tax"}, "--cert and --server-name go with --address"),
        ({"entry_point": "sandbox", "deadline": 0.0}, "--deadline and --ticket-timeout must be positive"),
        ({"entry_point": "sandbox", "ticket_timeout": -1.0}, "--deadline and --ticket-timeout must be positive"),
        ({"address": "no-port"}, "--address: "),
    ],
)
def test_options_that_do_not_go_together_are_invalid_input(given: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        _check_arguments(check_args(**given))
    assert str(caught.value).startswith(message)


def test_options_that_go_together_pass() -> None:
    for given in ({"entry_point": "sandbox"}, {"config": Path("hedui.toml")}, {"address": "127.0.0.1:7000"}):
        _check_arguments(check_args(**given))


def test_a_department_must_be_declared(tmp_path: Path) -> None:
    config = read(tmp_path, MARKET)
    assert _declared("market_regulation", config, tmp_path / "hedui.toml") == "market_regulation"
    with pytest.raises(UsageError, match=r"^--department 'courts': not a declared department \(one of police, "):
        _declared("courts", config, tmp_path / "hedui.toml")
    with pytest.raises(UsageError, match=r"declare it with --config FILE\)$"):
        _declared("market_regulation", read_department_config(None), None)
