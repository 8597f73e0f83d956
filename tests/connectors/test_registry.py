"""Connectors found through entry points and configured per department; their metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import example_request, example_sandbox, running_service
from prometheus_client import REGISTRY

from connectors.departments import DepartmentCatalogue
from connectors.registry import ConnectorConfigError, build_connectors, installed, load_connector
from connectors.sandbox import SandboxConnector, SandboxDataset
from verifier.config import ConfigError, load_settings


def test_the_builtin_sandbox_is_an_installed_entry_point() -> None:
    assert "sandbox" in installed()
    connector = load_connector("tax", "sandbox", {"dataset": SandboxDataset.demo()})
    assert isinstance(connector, SandboxConnector) and connector.describe().department == "tax"


def test_every_department_gets_a_connector_with_its_options(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox.json"
    sandbox.write_text('{"tax": {"income": []}}')
    built = build_connectors(
        DepartmentCatalogue(), {"tax": {"connector": "sandbox", "sandbox": str(sandbox), "deadline_seconds": 3}}
    )
    assert sorted(built) == sorted(["police", "housing", "tax", "vehicles", "banks", "social_security"])
    assert all(c.describe().department == d for d, c in built.items())


@pytest.mark.parametrize(
    ("departments", "words"),
    [
        ({"taxes": {}}, "departments.taxes: unknown department"),
        ({"tax": {"connector": "no-such-thing"}}, "departments.tax.connector: no entry point 'no-such-thing'"),
        ({"tax": {"sandbox": "/nonexistent/sandbox.json"}}, "departments.tax"),
    ],
)
def test_bad_connector_config_names_the_department(departments: dict[str, dict[str, str]], words: str) -> None:
    with pytest.raises(ConnectorConfigError, match=words):
        build_connectors(DepartmentCatalogue(), departments)


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        # A department hedui does not ship may be declared now, with the record kinds it answers with.
        ('[departments.taxes]\nconnector = "sandbox"\n', "departments.taxes.record_kinds: required"),
        ("[departments.tax]\ndeadline_seconds = 0\n", "departments.tax.deadline_seconds: must be a positive"),
        ("[departments.tax]\nconnector = 3\n", "departments.tax.connector"),
        ("metrics_listen = 9464\n", "metrics_listen: wrong type"),
    ],
)
def test_bad_department_settings_name_the_key(tmp_path: Path, toml: str, words: str) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError, match=words):
        load_settings(config, base=tmp_path)


def test_per_department_deadlines(tmp_path: Path) -> None:
    config = tmp_path / "hedui.toml"
    config.write_text("department_deadline_seconds = 8\n[departments.banks]\ndeadline_seconds = 30\n")
    settings = load_settings(config, base=tmp_path)
    assert settings.deadline("banks") == 30.0
    assert settings.deadline("tax") == 8.0


@pytest.mark.integration
async def test_department_metrics_count_queries_and_errors(tmp_path: Path) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before_tax = sample("hedui_department_queries_total", department="tax")
    before_ids = sample("hedui_department_identities_total", department="tax")
    before_errors = sample("hedui_department_errors_total", department="vehicles", kind="unavailable")
    before_latency = sample("hedui_department_call_seconds_count", department="tax")
    sandbox = example_sandbox()
    sandbox["faults"] = {"vehicles": {"mode": "unavailable"}}
    async with running_service(f"sqlite:///{tmp_path / 'h.db'}", sandbox) as h:
        await h.run(example_request())
    members = len(example_request()["members"])
    assert sample("hedui_department_queries_total", department="tax") == before_tax + 1
    assert sample("hedui_department_identities_total", department="tax") == before_ids + members
    assert sample("hedui_department_call_seconds_count", department="tax") == before_latency + 1
    # "unavailable" is transient: tried as often as the policy allows.
    assert sample("hedui_department_errors_total", department="vehicles", kind="unavailable") >= before_errors + 1
    assert sample("hedui_department_breaker_state", department="tax") == 0
