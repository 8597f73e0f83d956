"""Departments as declarations across connectors/: a department beyond the six, in process.

The sandbox, the registry, the wire, the remote client, the conformance kit and the resilience layer
decide from the :class:`~connectors.departments.Department` declaration (or a catalogue), never from
the six ids; a department answering ``person`` records splits and accepts like the police.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from connector_process import new_key
from harness import example_sandbox

from connectors.base import ConnectorDescription, DepartmentAnswer, DepartmentQuery
from connectors.conformance import check_connector
from connectors.departments import Department, DepartmentCatalogue, RecordKind
from connectors.records import (
    EnterpriseRecord,
    PersonRecord,
    TaxIncomeRecord,
    adds_register_mates,
    declared_kinds,
    records_about,
)
from connectors.registry import (
    ConnectorConfigError,
    build_connectors,
    category_problem,
    department_options,
    make_connector,
)
from connectors.resilience import SharedBatches
from connectors.sandbox import SandboxConnector, SandboxDataset, SandboxError, sections_of
from connectors.wire import (
    WireError,
    description_from_message,
    description_problems,
    record_from_message,
    record_to_message,
)
from hedui.v1 import connector_pb2

ZHANG = "533401197803120118"
LI = "53340119800605022X"
MARKET_TABLES: dict[str, dict[str, Any]] = {
    "market_regulation": {
        "name_zh": "市场监督管理部门",
        "name_en": "Market regulation",
        "record_kinds": ["enterprise"],
        "connector": "sandbox",
    }
}
CATALOGUE = DepartmentCatalogue.declare(MARKET_TABLES)
MARKET = CATALOGUE["market_regulation"]
HUKOU = Department("hukou_office", "户籍室", "Household register office", frozenset({RecordKind.PERSON}))


def market_sandbox() -> dict[str, Any]:
    raw = example_sandbox()
    raw["market_regulation"] = {
        "enterprises": [
            {"record_id": "SCJG-1", "id_number": ZHANG, "enterprise": "凤庆县张记茶叶经营部", "role": "shareholder"}
        ]
    }
    return raw


def query(*ids: str) -> DepartmentQuery:
    return DepartmentQuery("q1", ids, "authorizations/a1", "ASSESSMENT", new_key())


# --- records ---------------------------------------------------------------------------------------


def test_the_kinds_of_a_department_come_from_its_declaration() -> None:
    assert declared_kinds(MARKET) == {"enterprise"}
    assert declared_kinds(["vehicle"]) == {"vehicle"}
    assert declared_kinds(CATALOGUE["housing"]) == {"property", "provident_fund", "rental"}
    with pytest.raises(TypeError, match="not the id 'housing'"):  # an id is not a declaration
        declared_kinds("housing")
    assert adds_register_mates(HUKOU) and adds_register_mates(CATALOGUE["police"])
    assert not adds_register_mates(MARKET) and not adds_register_mates(CATALOGUE["tax"])


def test_register_mates_come_with_any_department_answering_person_records() -> None:
    def person(who: str, hukou: str) -> PersonRecord:
        return PersonRecord(f"{hukou}:{who}", who, "某", hukou, "head", "active")

    records = (person(ZHANG, "H1"), person(LI, "H1"), person("533401194501010411", "H2"))
    assert [r.id_number for r in records_about(HUKOU, records, [ZHANG])] == [ZHANG, LI]
    assert [r.id_number for r in records_about(MARKET, records, [ZHANG])] == [ZHANG]


# --- sandbox ---------------------------------------------------------------------------------------


def test_the_sandbox_holds_records_of_a_declared_department() -> None:
    data = SandboxDataset.from_json(market_sandbox(), CATALOGUE)
    assert [r.record_id for r in data.records["market_regulation"]] == ["SCJG-1"]
    assert sections_of(MARKET) == {"enterprises": EnterpriseRecord}
    # without the declaration the section is unknown, as any misspelt department
    with pytest.raises(SandboxError, match="market_regulation: unknown section"):
        SandboxDataset.from_json(market_sandbox())


def test_a_declared_department_s_section_holds_only_its_kinds() -> None:
    raw = market_sandbox()
    raw["market_regulation"]["income"] = []
    with pytest.raises(SandboxError, match=r"market_regulation\.income: unknown key"):
        SandboxDataset.from_json(raw, CATALOGUE)
    raw = market_sandbox()
    raw["market_regulation"]["answer_after_seconds"] = 1  # interfaces.md: the banks' key only
    with pytest.raises(SandboxError, match=r"market_regulation\.answer_after_seconds: unknown key"):
        SandboxDataset.from_json(raw, CATALOGUE)


def test_faults_of_a_declared_department() -> None:
    raw = market_sandbox()
    raw["faults"] = {"market_regulation": {"mode": "unavailable"}}
    assert SandboxDataset.from_json(raw, CATALOGUE).faults["market_regulation"].mode == "unavailable"
    with pytest.raises(SandboxError, match=r"faults\.market_regulation: unknown department"):
        SandboxDataset.from_json({"faults": raw["faults"]})


async def test_a_sandbox_connector_of_a_declared_department() -> None:
    data = SandboxDataset.from_json(market_sandbox(), CATALOGUE)
    connector = SandboxConnector("market_regulation", data)
    assert connector.describe().data_categories == ("enterprises",)
    answer = await connector.query(query(ZHANG, LI))
    assert isinstance(answer, DepartmentAnswer)
    assert [r.record_id for r in answer.records] == ["SCJG-1"]
    with pytest.raises(ValueError, match="unknown department 'market_regulation'"):
        SandboxConnector("market_regulation", SandboxDataset.from_json(example_sandbox()))
    results = await check_connector(connector, department="market_regulation", id_numbers=[ZHANG], catalogue=CATALOGUE)
    assert [r.name for r in results if not r.passed] == []


# --- registry --------------------------------------------------------------------------------------


def test_every_declared_department_gets_its_connector(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox.json"
    sandbox.write_text(json.dumps(market_sandbox(), ensure_ascii=False), encoding="utf-8")
    tables = {"market_regulation": {**MARKET_TABLES["market_regulation"], "sandbox": str(sandbox)}}
    built = build_connectors(CATALOGUE, tables)
    assert list(built) == ["police", "housing", "tax", "vehicles", "banks", "social_security", "market_regulation"]
    assert built["market_regulation"].describe().department == "market_regulation"


def test_a_new_department_without_a_connector_names_the_key() -> None:
    tables = {"market_regulation": {k: v for k, v in MARKET_TABLES["market_regulation"].items() if k != "connector"}}
    with pytest.raises(ConnectorConfigError, match=r"^departments\.market_regulation\.connector: name the entry"):
        build_connectors(CATALOGUE, tables)


def test_a_table_of_an_undeclared_department_is_refused() -> None:
    with pytest.raises(ConnectorConfigError, match=r"departments\.customs: unknown department \(one of police, "):
        build_connectors(DepartmentCatalogue(), {"customs": {"connector": "sandbox"}})


def test_a_department_s_options_leave_out_hedui_s_keys() -> None:
    table = {**MARKET_TABLES["market_regulation"], "deadline_seconds": 5, "dsn": "postgresql://x", "batch_size": 7}
    assert department_options(table) == {"dsn": "postgresql://x", "batch_size": 7}


def test_factories_that_take_the_catalogue_are_given_it() -> None:
    seen: list[object] = []

    def plain(department: str, options: Mapping[str, Any]) -> str:
        return f"{department} {dict(options)}"

    def aware(department: str, options: Mapping[str, Any], *, catalogue: DepartmentCatalogue) -> str:
        seen.append(catalogue)
        return department

    assert make_connector(plain, "tax", {"a": 1}, CATALOGUE) == "tax {'a': 1}"
    assert make_connector(aware, "tax", {}, CATALOGUE) == "tax" and seen == [CATALOGUE]


@pytest.mark.parametrize(
    ("categories", "problem"),
    [
        (("enterprise",), None),
        (("enterprises",), None),  # the sandbox list's name of the kind
        (("medical_bill",), "answers with 'medical_bill', a record kind hedui does not know (one of person, "),
        (("enterprise", "vehicles"), "answers with vehicle records, which market_regulation does not declare"),
    ],
)
def test_data_categories_are_known_and_declared_kinds(categories: tuple[str, ...], problem: str | None) -> None:
    found = category_problem(MARKET, ConnectorDescription("market_regulation", categories))
    assert found is None if problem is None else found is not None and found.startswith(problem)


def test_loading_a_connector_whose_categories_break_the_declaration_is_refused() -> None:
    tables = {"tax": {"connector": "sandbox"}}
    narrow = DepartmentCatalogue.declare({"tax": {"record_kinds": ["tax_income"]}})
    with pytest.raises(ConnectorConfigError) as caught:
        build_connectors(narrow, tables)
    assert str(caught.value) == (
        "departments.tax.connector: 'sandbox' answers with enterprise records, "
        "which tax does not declare (record_kinds: tax_income)"
    )


# --- wire ------------------------------------------------------------------------------------------


def test_descriptions_are_checked_against_the_catalogue_or_the_id_form() -> None:
    described = ConnectorDescription("market_regulation", ("enterprise",))
    assert description_problems(described) == []
    assert description_problems(described, CATALOGUE) == []
    assert description_problems(described, DepartmentCatalogue()) == [
        "department: 'market_regulation' is not one of police, housing, tax, vehicles, banks, social_security"
    ]
    assert description_problems(dataclasses.replace(described, department="Market Regulation!")) == [
        "department: 'Market Regulation!' is not a department id"
    ]
    message = connector_pb2.ConnectorDescription(
        department="market_regulation", max_batch_size=1, max_queries_per_second=1
    )
    assert description_from_message(message, CATALOGUE).department == "market_regulation"
    with pytest.raises(WireError, match="is not one of police"):
        description_from_message(message, DepartmentCatalogue())


def test_records_on_the_wire_are_of_the_declared_kinds() -> None:
    record = EnterpriseRecord("SCJG-1", ZHANG, "凤庆县张记茶叶经营部", "shareholder")
    message = record_to_message(record, "market_regulation")
    assert message.department == "market_regulation"
    assert record_from_message(message, "market_regulation", "r", MARKET) == record
    wages = record_to_message(TaxIncomeRecord("T1", ZHANG, "2026-03", "wages", 1), "market_regulation")
    with pytest.raises(WireError, match="kind tax_income is not one of market_regulation's record kinds"):
        record_from_message(wages, "market_regulation", "r", MARKET)


# --- resilience ------------------------------------------------------------------------------------


async def test_a_shared_answer_is_split_by_the_declaration() -> None:
    """A non-police department answering person records: each query gets its asker's register mates."""
    now = dt.datetime.now(dt.UTC)
    register = (
        PersonRecord(f"H1:{ZHANG}", ZHANG, "张", "H1", "head", "active"),
        PersonRecord(f"H1:{LI}", LI, "李", "H1", "spouse", "active"),
    )

    class Office:
        def describe(self) -> ConnectorDescription:
            return ConnectorDescription("hukou_office", ("person",), shared_batches=True)

        async def query(self, q: DepartmentQuery) -> DepartmentAnswer:
            return DepartmentAnswer("hukou_office", tuple(r for r in register if r.id_number in q.id_numbers), now)

        async def poll(self, ticket: object) -> DepartmentAnswer:
            raise AssertionError("no tickets")

    office = SharedBatches(Office(), HUKOU)  # type: ignore[arg-type]
    first, second = await asyncio.gather(office.query(query(ZHANG)), office.query(query(LI)))
    assert isinstance(first, DepartmentAnswer) and isinstance(second, DepartmentAnswer)
    assert office.calls == 1
    assert {r.id_number for r in first.records} == {ZHANG, LI} == {r.id_number for r in second.records}
