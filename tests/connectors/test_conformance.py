"""The conformance kit (connectors/conformance.py) and ``hedui connector check``."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from connector_process import HEDUI, connector_server, query_log_lines, repeated_look_ups
from harness import SANDBOX_FILE, example_sandbox

from connectors.base import (
    ConnectorDescription,
    DepartmentAnswer,
    DepartmentQuery,
    DepartmentRefused,
    DepartmentUnavailable,
    Ticket,
)
from connectors.conformance import CHECKS, CheckResult, check_connector, unknown_identity_numbers
from connectors.departments import DEFAULT_DEPARTMENTS
from connectors.idempotency import OncePerKey
from connectors.records import TaxIncomeRecord
from connectors.remote import RemoteConnector
from connectors.sandbox import SandboxConnector, SandboxDataset, connector_factory
from connectors.server import start_connector_server
from connectors.tls import self_signed_certificate
from consent.identity import validate_identity_number
from verifier.cli import main

ZHANG = "533401197803120118"
DEFU = "533401194501010411"  # another household register


def people(dataset: SandboxDataset) -> list[str]:
    return sorted({r.subject for records in dataset.records.values() for r in records})


def dataset(**changes: Any) -> SandboxDataset:
    raw = example_sandbox()
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return SandboxDataset.from_json(raw)


def failed(results: list[CheckResult]) -> set[str]:
    return {r.name for r in results if not r.passed}


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def test_unknown_identity_numbers_are_valid_distinct_and_unknown() -> None:
    numbers = unknown_identity_numbers(2500, exclude=[])
    assert len(set(numbers)) == 2500
    assert all(validate_identity_number(n) == n for n in numbers)
    assert all(n.startswith("990000") for n in numbers)
    assert numbers[0] not in unknown_identity_numbers(3, exclude=numbers[:1])


# --- the built-in connectors pass ---------------------------------------------------------------------


@pytest.mark.parametrize("department", [d.id for d in DEFAULT_DEPARTMENTS])
async def test_every_sandbox_department_passes(department: str) -> None:
    data = dataset()

    async def reopen() -> SandboxConnector:
        return SandboxConnector(department, data)

    results = await check_connector(
        SandboxConnector(department, data), department=department, id_numbers=people(data), reopen=reopen
    )
    assert [r.name for r in results] == list(CHECKS)
    assert failed(results) == set(), results
    assert "synchronous" in by_name(results)["async-tickets"].detail
    if department == "tax":
        assert by_name(results)["records-schema"].detail == "4 records in 6 answers, every one valid"
        assert by_name(results)["batching"].detail.startswith("100 identity numbers in one query: 2 records")


async def test_an_asynchronous_bank_passes_with_a_ticket_across_a_restart() -> None:
    data = dataset(banks={"answer_after_seconds": 0.2})

    async def reopen() -> SandboxConnector:
        return connector_factory("banks", {"dataset": data})

    results = await check_connector(
        SandboxConnector("banks", data), department="banks", id_numbers=people(data), reopen=reopen
    )
    assert failed(results) == set(), results
    detail = by_name(results)["async-tickets"].detail
    assert "tickets answered through poll, one of them by a new connector instance" in detail


async def test_a_flaky_department_passes_after_retries() -> None:
    data = dataset(faults={"tax": {"mode": "flaky", "fail_first": 2}})
    results = await check_connector(SandboxConnector("tax", data), id_numbers=people(data))
    assert failed(results) == set(), results
    assert "2 transient errors retried" in by_name(results)["deadline"].detail


async def test_the_reference_remote_server_passes() -> None:
    data = dataset(banks={"answer_after_seconds": 0.2})
    certificate, key = self_signed_certificate()
    server = await start_connector_server(SandboxConnector("banks", data), "127.0.0.1:0", certificate, key)
    address = f"127.0.0.1:{server.port}"
    remote = RemoteConnector(address, certificate)  # the department comes from Describe

    async def reopen() -> RemoteConnector:
        return await RemoteConnector.connect(address, certificate, department="banks")

    try:
        results = await check_connector(remote, id_numbers=people(data), reopen=reopen)
    finally:
        await remote.close()
        await server.stop(0)
    assert failed(results) == set(), results
    assert by_name(results)["refusal"].detail.startswith("refused: Query: PERMISSION_DENIED")


# --- a deliberately bad connector fails the right checks -------------------------------------------------


FRESH = itertools.count(1)


class Flawed:
    """The sandbox tax department with one flaw."""

    def __init__(self, flaw: str, data: SandboxDataset | None = None) -> None:
        self.flaw = flaw
        self.inner = SandboxConnector("tax", data or dataset())

    def describe(self) -> ConnectorDescription:
        d = self.inner.describe()
        if self.flaw == "zero batch size":
            return dataclasses.replace(d, max_batch_size=0)
        if self.flaw == "says asynchronous":
            return dataclasses.replace(d, asynchronous=True)
        if self.flaw == "wrong department":
            return dataclasses.replace(d, department="customs")
        return d

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        if self.flaw == "no refusal":
            query = dataclasses.replace(query, authorization_reference=query.authorization_reference or "ignored")
        if self.flaw == "slow":
            await asyncio.sleep(0.5)
        if self.flaw == "errors on strangers" and not any(n.startswith("533401") for n in query.id_numbers):
            raise DepartmentUnavailable("tax", "no such person", transient=False)
        if self.flaw == "refuses with the wrong exception" and not query.authorization_reference:
            raise PermissionError("no reference")
        if self.flaw == "first of the batch only":
            query = dataclasses.replace(query, id_numbers=query.id_numbers[:1])
        if self.flaw == "looks up again":
            query = dataclasses.replace(query, idempotency_key=f"{query.idempotency_key}.{next(FRESH)}")
        answer = await self.inner.query(query)
        assert isinstance(answer, DepartmentAnswer)
        return self.spoil(answer)

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        return await self.inner.poll(ticket)

    def spoil(self, answer: DepartmentAnswer) -> DepartmentAnswer:
        records = list(answer.records)
        if not records:
            return answer
        first = records[0]
        assert isinstance(first, TaxIncomeRecord)
        if self.flaw == "unknown-person records":
            records.append(dataclasses.replace(first, record_id="TX-NEIGHBOUR", id_number=DEFU))
        elif self.flaw == "duplicate ids":
            records.append(dataclasses.replace(first, period="2026-03"))
        elif self.flaw == "negative money":
            records[0] = dataclasses.replace(first, amount_fen=-100)
        elif self.flaw == "invalid identity number":
            records[0] = dataclasses.replace(first, id_number="533401197803120119")
        return dataclasses.replace(answer, records=tuple(records))


@pytest.mark.parametrize(
    ("flaw", "failing", "detail"),
    [
        ("unknown-person records", {"records-about-asked"}, "record 2 ('TX-NEIGHBOUR') is about a person not asked"),
        ("duplicate ids", {"evidence-ids"}, "record id 'TX-2026-01' appears twice"),
        ("negative money", {"records-schema"}, "tax.tax_income.amount_fen: must not be negative, got -100"),
        (
            "invalid identity number",
            {"records-schema", "records-about-asked"},
            "names an invalid identity number: check character",
        ),
        ("no refusal", {"refusal"}, "a query without authorization reference was accepted (an answer with "),
        (
            "refuses with the wrong exception",
            {"refusal"},
            "raised PermissionError (no reference), not DepartmentRefused",
        ),
        ("errors on strangers", {"unknown-identities"}, "raised DepartmentUnavailable: tax: no such person"),
        ("first of the batch only", {"batching"}, "the batch answer differs from the single answers"),
        ("says asynchronous", {"async-tickets"}, "says asynchronous, but no query returned a ticket"),
        ("looks up again", {"idempotency"}, "is not the first answer's 20"),
    ],
)
async def test_a_flawed_connector_fails_exactly_the_right_check(flaw: str, failing: set[str], detail: str) -> None:
    data = dataset()
    results = await check_connector(Flawed(flaw, data), department="tax", id_numbers=people(data))
    assert failed(results) == failing, results
    assert any(detail in by_name(results)[name].detail for name in failing), results


async def test_a_connector_with_every_flaw_of_the_issue_fails_each_of_those_checks() -> None:
    """Records about unknown people, duplicate ids, negative money, no refusal: all at once."""

    class Everything(Flawed):
        async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
            query = dataclasses.replace(query, authorization_reference="ignored")
            answer = await self.inner.query(query)
            assert isinstance(answer, DepartmentAnswer)
            for flaw in ("unknown-person records", "duplicate ids", "negative money"):
                self.flaw = flaw
                answer = self.spoil(answer)
            return answer

    data = dataset()
    results = await check_connector(Everything("", data), id_numbers=people(data))
    assert failed(results) == {"records-about-asked", "evidence-ids", "records-schema", "refusal"}


async def test_a_slow_connector_fails_the_deadline() -> None:
    data = dataset()
    results = await check_connector(Flawed("slow", data), id_numbers=people(data)[:2], deadline_seconds=0.2)
    assert "deadline" in failed(results)
    assert "no answer within 0.2 s" in by_name(results)["deadline"].detail


@pytest.mark.parametrize(
    ("flaw", "department", "detail"),
    [
        ("zero batch size", None, "max_batch_size must be an integer >= 1, got 0"),
        ("wrong department", None, "department 'customs' is not one of police"),
        ("", "banks", "department is tax, expected banks"),
    ],
)
async def test_a_bad_description_stops_the_run(flaw: str, department: str | None, detail: str) -> None:
    results = await check_connector(Flawed(flaw), department=department)
    assert [r.name for r in results] == list(CHECKS)
    assert failed(results) == set(CHECKS)
    assert detail in results[0].detail
    assert all(r.detail == "not run: describe() failed" for r in results[1:])


async def test_a_ticket_that_never_comes_fails() -> None:
    data = dataset(banks={"answer_after_seconds": 3600})
    results = await check_connector(SandboxConnector("banks", data), id_numbers=[ZHANG], ticket_timeout_seconds=1)
    assert "later than the kit waits (1 s)" in by_name(results)["records-schema"].detail


async def test_a_ticket_that_breaks_on_a_new_instance_fails() -> None:
    data = dataset(banks={"answer_after_seconds": 0.1})

    class Forgetful(SandboxConnector):
        async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
            raise DepartmentRefused("banks", "unknown ticket (kept in memory, lost on restart)")

    async def reopen() -> Forgetful:
        return Forgetful("banks", data)

    results = await check_connector(SandboxConnector("banks", data), id_numbers=[ZHANG], reopen=reopen)
    assert failed(results) == {"async-tickets"}
    assert "polling the ticket on a new instance failed" in by_name(results)["async-tickets"].detail


async def test_an_unreachable_server_fails_describe() -> None:
    certificate, _ = self_signed_certificate()
    remote = RemoteConnector("127.0.0.1:1", certificate, department="tax", timeout=2)
    results = await check_connector(remote)
    await remote.close()
    assert "UNAVAILABLE" in results[0].detail and not results[0].passed


async def test_the_kit_keeps_to_the_query_rate() -> None:
    calls: list[float] = []
    data = dataset()

    class Limited(SandboxConnector):
        def describe(self) -> ConnectorDescription:
            return dataclasses.replace(super().describe(), max_queries_per_second=10)

        async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
            calls.append(asyncio.get_running_loop().time())
            return await super().query(query)

    results = await check_connector(Limited("tax", data), id_numbers=people(data))
    assert failed(results) == set()
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 0.09, gaps


# --- hedui connector check -------------------------------------------------------------------------------


def hedui(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [*HEDUI, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=environment, check=False
    )


def install_entry_point(directory: Path, name: str, module: str, source: str) -> dict[str, str]:
    """A distribution with one ``hedui.connectors`` entry point, found through PYTHONPATH."""
    (directory / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = directory / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[hedui.connectors]\n{name} = {module}:factory\n", encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join([str(directory), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.integration
def test_check_the_built_in_sandbox_entry_point_exits_0(tmp_path: Path) -> None:
    done = hedui("connector", "check", "--entry-point", "sandbox", "--sandbox", str(SANDBOX_FILE), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for department in (d.id for d in DEFAULT_DEPARTMENTS):
        assert f"{department}: 10 of 10 checks passed" in done.stdout
    assert "FAIL" not in done.stdout


@pytest.mark.integration
def test_check_through_the_config_passes_the_department_s_own_options(tmp_path: Path) -> None:
    raw = example_sandbox()
    extra = {"record_id": "TX-2026-03", "id_number": ZHANG, "period": "2026-03", "category": "wages", "amount_fen": 1}
    raw["tax"]["income"].append(extra)  # three records for ZHANG: the demo data has two
    sandbox = tmp_path / "sandbox.json"
    sandbox.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    config = tmp_path / "hedui.toml"
    config.write_text(f'[departments.tax]\nconnector = "sandbox"\nsandbox = "{sandbox}"\ndeadline_seconds = 5\n')
    done = hedui("connector", "check", "--config", str(config), "--id-number", ZHANG, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tax: 10 of 10 checks passed" in done.stdout
    assert "police" not in done.stdout  # only the departments the config configures
    assert "in one query: 3 records, the same as 1 single query" in done.stdout  # the table's sandbox option


@pytest.mark.integration
def test_check_a_department_package_that_does_not_refuse_exits_1(tmp_path: Path) -> None:
    env = install_entry_point(
        tmp_path,
        "lenient-tax",
        "lenient_tax",
        """
        import dataclasses
        from connectors.sandbox import SandboxConnector, SandboxDataset

        class Lenient(SandboxConnector):
            async def query(self, query):
                return await super().query(dataclasses.replace(query, authorization_reference="whatever"))

        def factory(department, options):
            if department != "tax":
                raise ValueError("this package serves tax only")
            return Lenient(department, SandboxDataset.demo())
        """,
    )
    done = hedui("connector", "check", "--entry-point", "lenient-tax", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "tax: 9 of 10 checks passed" in done.stdout
    assert "refusal" in done.stdout and "FAIL" in done.stdout
    assert "police (entry point lenient-tax): skipped, not served by this entry point" in done.stdout
    # with --department, a factory that refuses the department is a failure
    done = hedui("connector", "check", "--entry-point", "lenient-tax", "--department", "banks", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "the factory raised ValueError: this package serves tax only" in done.stdout


@pytest.mark.integration
def test_check_the_reference_server_in_another_process(tmp_path: Path) -> None:
    with connector_server(tmp_path / "tls", "social_security", sandbox=SANDBOX_FILE) as server:
        cert = str(tmp_path / "tls" / "cert.pem")
        good = hedui("connector", "check", "--address", server.address, "--cert", cert, cwd=tmp_path)
        other = tmp_path / "other.pem"
        other.write_bytes(self_signed_certificate()[0])
        wrong_pin = hedui(
            "connector", "check", "--address", server.address, "--cert", str(other), "--deadline", "3", cwd=tmp_path
        )
        wrong_department = hedui(
            "connector", "check", "--address", server.address, "--cert", cert, "--department", "tax", cwd=tmp_path
        )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "social_security: 10 of 10 checks passed" in good.stdout
    assert wrong_pin.returncode == 1
    assert "TLS handshake failed" in wrong_pin.stdout
    assert wrong_department.returncode == 1
    assert "serves social_security, not tax" in wrong_department.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--entry-point", "no-such-connector"], "no 'no-such-connector' in group hedui.connectors (installed: "),
        (["--address", "127.0.0.1:1"], "--address needs --cert"),
        (["--address", "nowhere", "--cert", "cert.pem"], "--address: 'nowhere' is not HOST:PORT"),
        (["--address", "127.0.0.1:1", "--cert", "missing.pem"], "--cert missing.pem: cannot read"),
        (["--address", "127.0.0.1:1", "--cert", "garbage.pem"], "not a PEM X.509 certificate"),
        (["--entry-point", "sandbox", "--cert", "cert.pem"], "--cert and --server-name go with --address"),
        (["--entry-point", "sandbox", "--sandbox", "garbage.pem"], "--sandbox: garbage.pem: not JSON"),
        (["--entry-point", "sandbox", "--id-number", "12345"], "--id-number *****: must be 18 characters"),
        (["--entry-point", "sandbox", "--deadline", "0"], "must be positive"),
        (["--entry-point", "sandbox", "--address", "127.0.0.1:1"], "not allowed with argument"),
        ([], "one of the arguments --entry-point --address is required"),
    ],
)
def test_check_with_bad_input_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "cert.pem").write_bytes(self_signed_certificate()[0])
    (tmp_path / "garbage.pem").write_text("garbage")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["connector", "check", *args])
    out, err = capsys.readouterr()
    assert exited.value.code == 2, out + err
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.integration
def test_check_an_asynchronous_entry_point_with_a_sandbox_file(tmp_path: Path) -> None:
    raw = example_sandbox()
    raw["banks"]["answer_after_seconds"] = 0.2
    sandbox = tmp_path / "sandbox.json"
    sandbox.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    done = hedui(
        "connector",
        "check",
        "--entry-point",
        "sandbox",
        "--department",
        "banks",
        "--sandbox",
        str(sandbox),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "one of them by a new connector instance" in done.stdout


async def test_the_batch_check_keeps_to_an_identity_limit_below_the_batch_size() -> None:
    sizes: list[int] = []
    data = dataset()

    class Capped(SandboxConnector):
        def describe(self) -> ConnectorDescription:
            return dataclasses.replace(super().describe(), max_batch_size=100, max_identities_per_second=20)

        async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
            sizes.append(len(query.id_numbers))
            return await super().query(query)

    results = await asyncio.wait_for(check_connector(Capped("tax", data), id_numbers=people(data)), 20)
    assert failed(results) == set()
    assert max(sizes) == 20  # hedui never sends more in one call, nor should the kit
    assert "20 identity numbers (capped by the limit of 20 identity numbers per second)" in (
        by_name(results)["batching"].detail
    )


# --- idempotency: a repeated key is answered from the first answer -----------------------------------------


async def test_the_idempotency_check_reports_what_it_saw() -> None:
    data = dataset()
    results = await check_connector(SandboxConnector("police", data), id_numbers=people(data))
    assert by_name(results)["idempotency"].passed
    # the first two people, DEFU and ZHANG: DEFU's register (himself) and ZHANG's (ZHANG, LI, MING)
    assert sorted(people(data))[:2] == [DEFU, ZHANG]
    assert by_name(results)["idempotency"].detail == (
        "the same key again: the first answer (4 records, the same answered_at); a part of a shared batch: the batch's"
    )


class Forgetful:
    """A department that keeps no first answers: every query is looked up again (a new key to the sandbox)."""

    def __init__(self, inner: SandboxConnector) -> None:
        self.inner = inner

    def describe(self) -> ConnectorDescription:
        return self.inner.describe()

    async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
        return await self.inner.query(dataclasses.replace(query, idempotency_key=f"fresh.{next(FRESH)}"))

    async def poll(self, ticket: Ticket) -> DepartmentAnswer | Ticket:
        return await self.inner.poll(ticket)


async def test_a_bank_that_hands_out_a_new_ticket_for_a_repeated_key_fails() -> None:
    data = dataset(banks={"answer_after_seconds": 0.05})
    results = await check_connector(Forgetful(SandboxConnector("banks", data)), id_numbers=people(data))
    assert failed(results) == {"idempotency"}, results
    assert "the same key again: a new ticket, not the first one" in by_name(results)["idempotency"].detail


async def test_a_bank_that_looks_up_again_for_fewer_people_under_a_pending_key_fails() -> None:
    """The same key and people get the same ticket, but fewer people under the key get a new ticket: a second
    look-up (the sandbox looks up when a ticket is resolved), with a later answered_at."""

    class ExactAskingsOnly(Forgetful):
        async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
            people = hashlib.sha256(",".join(sorted(query.id_numbers)).encode()).hexdigest()[:16]
            asking = f"{query.idempotency_key}.for.{people}"
            return await self.inner.query(dataclasses.replace(query, idempotency_key=asking))

    data = dataset(banks={"answer_after_seconds": 0.05})
    results = await check_connector(ExactAskingsOnly(SandboxConnector("banks", data)), id_numbers=people(data))
    assert failed(results) == {"idempotency"}, results
    detail = by_name(results)["idempotency"].detail
    assert "the same key, fewer people: answered_at" in detail, detail
    assert "the same key again" not in detail  # the whole asking repeated is kept: only the fewer people fail
    # behind OncePerKey (what `hedui connector serve --entry-point` serves a department's own connector through)
    behind = OncePerKey(ExactAskingsOnly(SandboxConnector("banks", data)), data.catalogue["banks"])
    assert failed(await check_connector(behind, id_numbers=people(data))) == set()


async def test_an_asynchronous_sandbox_passes_the_check_with_fewer_people() -> None:
    data = dataset(banks={"answer_after_seconds": 0.05})
    results = await check_connector(SandboxConnector("banks", data), id_numbers=people(data))
    assert by_name(results)["idempotency"].passed, results
    assert "the same key about fewer people while its ticket was pending: the first answer's" in (
        by_name(results)["idempotency"].detail
    )


async def test_a_part_of_a_shared_batch_looked_up_again_fails() -> None:
    """Repeats of a whole key are kept, but a part of a shared batch is not: the sandbox keeps only the whole key."""

    class WholeKeysOnly(Flawed):
        async def query(self, query: DepartmentQuery) -> DepartmentAnswer | Ticket:
            whole = query.idempotency_key.replace(",", "+").replace("+", ".and.")
            return await self.inner.query(dataclasses.replace(query, idempotency_key=whole))

    data = dataset()
    results = await check_connector(WholeKeysOnly("", data), id_numbers=people(data))
    assert failed(results) == {"idempotency"}, results
    assert "part of the batch: answered_at" in by_name(results)["idempotency"].detail


async def test_a_server_that_looks_up_again_fails_over_the_wire() -> None:
    data = dataset()
    certificate, key = self_signed_certificate()
    server = await start_connector_server(Forgetful(SandboxConnector("tax", data)), "127.0.0.1:0", certificate, key)
    remote = RemoteConnector(f"127.0.0.1:{server.port}", certificate)
    try:
        results = await check_connector(remote, id_numbers=people(data))
    finally:
        await remote.close()
        await server.stop(0)
    assert failed(results) == {"idempotency"}, results
    assert "looked up again, not answered from the first answer" in by_name(results)["idempotency"].detail


@pytest.mark.integration
def test_the_reference_server_keeps_the_rule_in_front_of_a_department_s_own_connector(tmp_path: Path) -> None:
    """A connector that looks everyone up every time, served by ``hedui connector serve --entry-point``: it passes."""
    env = install_entry_point(
        tmp_path,
        "forgetful-tax",
        "forgetful_tax",
        """
        import dataclasses, itertools
        from connectors.sandbox import SandboxConnector, SandboxDataset

        FRESH = itertools.count()

        class Forgetful(SandboxConnector):
            async def query(self, query):
                return await super().query(dataclasses.replace(query, idempotency_key=f"fresh.{next(FRESH)}"))

        def factory(department, options):
            return Forgetful(department, SandboxDataset.demo())
        """,
    )
    log = tmp_path / "queries.jsonl"
    extra = ["--entry-point", "forgetful-tax", "--query-log", str(log)]
    with connector_server(tmp_path / "tls", "tax", extra=extra, env={**os.environ, **env}) as server:
        assert any(f"logging every identity number looked up to {log}" in line for line in server.output)
        cert = str(tmp_path / "tls" / "cert.pem")
        done = hedui("connector", "check", "--address", server.address, "--cert", cert, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tax: 10 of 10 checks passed" in done.stdout
    assert query_log_lines(log), "the kit's look-ups are logged"
    assert repeated_look_ups(log) == {}
