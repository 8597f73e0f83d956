"""Departments that are configuration, not code: connector packages installed for real with pip.

``hedui-market-regulation`` (tests/packages/) adds 市场监督管理部门, a department hedui does not ship,
through an entry point and the centre's config alone; ``hedui-medical-bills`` answers with a record
kind hedui does not know and is refused when it is loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_process import connector_server
from department_packages import PACKAGES, Installed, hedui, install

pytestmark = pytest.mark.integration

ZHANG = "533401197803120118"
MARKET_CONFIG = """\
[departments.market_regulation]
name_zh = "市场监督管理部门"
name_en = "Market regulation"
record_kinds = ["enterprise"]
connector = "market-regulation"
deadline_seconds = 15
batch_size = 25
"""
MEDICAL_CONFIG = """\
[departments.medical_insurance]
name_zh = "医疗保障部门"
name_en = "Medical insurance"
record_kinds = ["benefit"]
connector = "medical-bills"
"""


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return install(PACKAGES / "hedui-market-regulation", tmp_path_factory.mktemp("market-site"))


@pytest.fixture(scope="module")
def medical(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return install(PACKAGES / "hedui-medical-bills", tmp_path_factory.mktemp("medical-site"))


def config(directory: Path, text: str) -> Path:
    path = directory / "hedui.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_pip_installed_the_package_with_its_entry_point(market: Installed) -> None:
    infos = list(market.target.glob("hedui_market_regulation-0.1.0.dist-info"))
    assert len(infos) == 1
    assert "market-regulation = hedui_market_regulation:factory" in (infos[0] / "entry_points.txt").read_text()


def test_check_a_new_department_through_the_config_passes(market: Installed, tmp_path: Path) -> None:
    hedui_toml = config(tmp_path, MARKET_CONFIG)
    done = hedui(market, "connector", "check", "--config", str(hedui_toml), "--id-number", ZHANG, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "market_regulation: 10 of 10 checks passed" in done.stdout
    # the department's own option reached its factory: batches of 25, not the package's default 50
    assert "market_regulation (enterprise): batches of 25" in done.stdout
    assert "25 identity numbers in one query: 2 records, the same as 1 single query" in done.stdout
    assert "FAIL" not in done.stdout


def test_check_the_entry_point_for_the_declared_department(market: Installed, tmp_path: Path) -> None:
    hedui_toml = config(tmp_path, MARKET_CONFIG)
    args = ["--entry-point", "market-regulation", "--department", "market_regulation", "--id-number", ZHANG]
    done = hedui(market, "connector", "check", "--config", str(hedui_toml), *args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "market_regulation: 10 of 10 checks passed" in done.stdout
    assert "batches of 25" in done.stdout


def test_a_department_nobody_declared_is_invalid_input(market: Installed, tmp_path: Path) -> None:
    args = ["--entry-point", "market-regulation", "--department", "market_regulation"]
    done = hedui(market, "connector", "check", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "hedui: error: --department 'market_regulation': not a declared department "
        "(one of police, housing, tax, vehicles, banks, social_security; declare it with --config FILE)"
    ]


def test_a_new_department_without_a_connector_names_the_key(market: Installed, tmp_path: Path) -> None:
    text = MARKET_CONFIG.replace('connector = "market-regulation"\n', "")
    done = hedui(market, "connector", "check", "--config", str(config(tmp_path, text)), cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "departments.market_regulation.connector" in done.stderr


def test_a_record_kind_hedui_does_not_know_is_refused_when_loaded(medical: Installed, tmp_path: Path) -> None:
    done = hedui(medical, "connector", "check", "--config", str(config(tmp_path, MEDICAL_CONFIG)), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "hedui: error: departments.medical_insurance.connector: 'medical-bills' answers with 'medical_bill', "
        "a record kind hedui does not know (one of person, property, "
    )
    assert "FAIL" not in done.stdout and not done.stdout.strip()


def test_the_service_refuses_to_start_with_a_record_kind_hedui_does_not_know(
    medical: Installed, tmp_path: Path
) -> None:
    done = hedui(medical, "serve", "--config", str(config(tmp_path, MEDICAL_CONFIG)), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("hedui: error: departments.medical_insurance.connector: 'medical-bills' answers with")
    assert "'medical_bill', a record kind hedui does not know" in lines[0]
    assert not (tmp_path / ".hedui").exists()  # refused before anything was written, key files included


def test_a_kind_the_department_does_not_declare_is_refused_when_loaded(market: Installed, tmp_path: Path) -> None:
    text = MARKET_CONFIG.replace('record_kinds = ["enterprise"]', 'record_kinds = ["vehicle"]')
    done = hedui(market, "connector", "check", "--config", str(config(tmp_path, text)), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "hedui: error: departments.market_regulation.connector: 'market-regulation' answers with enterprise records, "
        "which market_regulation does not declare (record_kinds: vehicle)"
    )


def test_serve_a_new_department_s_own_connector_over_tls(market: Installed, tmp_path: Path) -> None:
    """``serve --entry-point``: the department's own connector behind the reference server, checked by address."""
    hedui_toml = config(tmp_path, MARKET_CONFIG)
    own = ["--entry-point", "market-regulation", "--config", str(hedui_toml)]
    with connector_server(tmp_path / "tls", "market_regulation", extra=own, env=market.env) as server:
        cert = str(tmp_path / "tls" / "cert.pem")
        check = ["--address", server.address, "--cert", cert, "--config", str(hedui_toml), "--id-number", ZHANG]
        done = hedui(market, "connector", "check", *check, cwd=tmp_path)
    assert "serving market_regulation through entry point market-regulation" in server.output
    assert done.returncode == 0, done.stdout + done.stderr
    assert "market_regulation: 10 of 10 checks passed" in done.stdout
    assert "batches of 25" in done.stdout
