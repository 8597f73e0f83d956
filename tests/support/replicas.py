"""Crash drills: ``hedui serve`` replicas in their own processes, departments as reference connector servers.

Issue 11's "done when": SIGKILL a ``hedui serve`` process while department queries are on the wire, and
check that nothing was lost or asked twice. The pieces, each a real process as an operator runs it:

- :func:`department_servers`: the six departments, each a ``hedui connector serve`` on loopback with a
  self-signed certificate (pinned by hedui's ``remote`` connector), answering from the example sandbox
  slowed by its ``slow`` fault, and writing a ``--query-log`` (one JSON line per identity number
  actually looked up: ``{"department", "key", "subject": sha256(id)[:16], "at"}``).
- :class:`Replica`: one ``hedui serve --config FILE`` (listening on a free port it reports), killed
  with SIGKILL or stopped with SIGTERM.
- :class:`CrashDrill`: a database, the config every replica of it shares, the signing key its trust
  store holds; submits verifications of distinct households (so that every identity number belongs to
  exactly one verification), kills a replica when queries are in flight, waits until every verification
  is done, and gathers :class:`Findings` from the public surfaces: the verifications and reports in the
  database, the audit log's entries, the departments' query logs and ``hedui audit verify``.

Household *n* is the example household with its identity numbers moved to area code 110000 + *n*, and the
departments hold a copy of the example household's records for it. Its verification asks each of the six
departments about its three members once, under
the idempotency key ``{verification_id}.{department}.1`` (the contract of issue 11): so every
(department, member) is looked up exactly once, every key has exactly one ``DEPARTMENT_QUERY_SENT``,
and every verification has exactly one report, version 1 (no department answers with a ticket).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from harness import example_request, example_sandbox, signed_envelope
from hedui_cli import service_keys
from sqlalchemy import select

from audit.log import audit_entries
from consent import SigningKey
from consent.envelope import Envelope
from consent.identity import check_character
from hedui.v1 import consent_pb2, consent_pb2_grpc, verification_pb2, verification_pb2_grpc
from verifier.api import OPERATOR_METADATA, envelope_message
from verifier.protojson import plain_to_message
from verifier.request import parse_request
from verifier.storage.db import Database
from verifier.storage.models import ReportRow, VerificationRow

HEDUI = [sys.executable, "-m", "verifier.cli"]
DEPARTMENTS = ("police", "housing", "tax", "vehicles", "banks", "social_security")
ORGANISATION = "533401-civil-affairs"
OPERATOR = (OPERATOR_METADATA, "crash-drill")
SERVING = re.compile(r"hedui serving on \S+ \(port (\d+)\)")
LISTENING = re.compile(r"listening on (\S+:\d+)")
FINGERPRINT = re.compile(r"fingerprint: ([0-9A-F:]{95})")
SHOWN = 8  # examples shown per kind of problem
RPC = 60.0  # seconds any one call of the drill may take: generous, but a hung replica fails the drill
FIRST_AREA = 110_000  # household n lives in area code 110000 + n (the example's people live in 533401)
# The example household's records in the example sandbox (interfaces.md's sandbox-small.json), counted by hand:
# police: the three members' person records (the fourth person, 张德福, is of another hukou); housing: RE-0001;
# tax: TX-2026-01 and TX-2026-02; vehicles: VH-0001; banks: BK-0001; social security: SS-2026-03.
RECORDS_PER_HOUSEHOLD = {"police": 3, "housing": 1, "tax": 2, "vehicles": 1, "banks": 1, "social_security": 1}


def quiet_environment() -> dict[str, str]:
    """This process's environment without the shell's ``HEDUI_*`` variables (the config file says it all)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("HEDUI_")}
    return {**env, "PYTHONUNBUFFERED": "1"}


def subject_of(id_number: str) -> str:
    """A person as the query log names them: the first 16 hex digits of SHA-256 of the identity number."""
    return hashlib.sha256(id_number.encode("ascii")).hexdigest()[:16]


def idempotency_key(verification_id: str, department: str) -> str:
    """The key of a verification's first asking of a department (issue 11's contract, reason ``1``)."""
    return f"{verification_id}.{department}.1"


# --- households: each identity number in exactly one of them ------------------------------------------

_household_numbers = itertools.count(1)


def _renumbered(id_number: str, area: int) -> str:
    """``id_number`` with another six-digit area code (birth date and sequence kept), its check character anew."""
    first17 = f"{area:06d}{id_number[6:17]}"
    return first17 + check_character(first17)


def household(area: int) -> dict[str, Any]:
    """The example household (interfaces.md) with every identity number moved to area code ``area``.

    Its members' ages, declarations and deductions stay the example's; :func:`slowed_sandbox` gives the
    departments a copy of the example household's records for it.
    """
    request = copy.deepcopy(example_request())
    moved = {m["id_number"]: _renumbered(m["id_number"], area) for m in request["members"]}
    for member in request["members"]:
        member["id_number"] = moved[member["id_number"]]
    for deduction in request.get("deductions", []):
        deduction["id_number"] = moved[deduction["id_number"]]
    return request


def fresh_households(count: int) -> list[dict[str, Any]]:
    """``count`` households no other call in this process has handed out (area codes 110001, 110002, ...)."""
    return [household(FIRST_AREA + next(_household_numbers)) for _ in range(count)]


# --- departments -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepartmentServer:
    """One department's reference connector server: where it listens, its pinned certificate, its query log."""

    department: str
    address: str
    certificate: Path
    query_log: Path | None
    households: int
    """How many of :func:`fresh_households` (the first ones) its data holds the example's records for."""

    def table(self, timeout: float) -> dict[str, Any]:
        """Its ``[departments.<id>]`` table in hedui's config: the remote connector, pinned to its certificate."""
        return {
            "connector": "remote",
            "address": self.address,
            "certificate": str(self.certificate),
            "timeout": timeout,
        }


_PERSON_FIELDS = ("id_number", "owner_id")


def _moved_record(record: Mapping[str, Any], members: frozenset[str], area: int) -> dict[str, Any] | None:
    """A copy of an example record about one of the example's ``members``, moved to household ``area``."""
    person = next((record[f] for f in _PERSON_FIELDS if f in record), None)
    if person not in members:
        return None
    moved = dict(record)
    for name in _PERSON_FIELDS:
        if name in moved:
            moved[name] = _renumbered(moved[name], area)
    for name in ("record_id", "hukou_id"):  # a person's record id is HUKOU:ID, unique with its hukou
        if name in moved:
            moved[name] = f"{moved[name]}-{area}"
    return moved


def slowed_sandbox(delay_seconds: float, households: int) -> dict[str, Any]:
    """The example sandbox, every department slowed by ``delay_seconds`` (its ``slow`` fault), none with tickets,
    holding for each of the first ``households`` of :func:`fresh_households` a copy of the example household's
    records (:data:`RECORDS_PER_HOUSEHOLD`), its identity numbers, hukou and record ids moved to its area."""
    data = example_sandbox()
    data["banks"].pop("answer_after_seconds", None)
    data["faults"] = {d: {"mode": "slow", "delay_ms": round(delay_seconds * 1000)} for d in DEPARTMENTS}
    members = frozenset(m["id_number"] for m in example_request()["members"])
    for department in DEPARTMENTS:
        for records in data[department].values():
            if not isinstance(records, list):
                continue
            originals = list(records)
            for area in range(FIRST_AREA + 1, FIRST_AREA + households + 1):
                records += [m for r in originals if (m := _moved_record(r, members, area)) is not None]
    return data


def _drain(stream: IO[str], into: list[str], seen: threading.Event) -> None:
    for line in stream:
        into.append(line.rstrip("\n"))
        if FINGERPRINT.search(line):
            seen.set()
    seen.set()


@contextlib.contextmanager
def department_servers(
    directory: Path, *, delay_seconds: float, households: int, query_logs: bool = True, timeout: float = 90.0
) -> Iterator[dict[str, DepartmentServer]]:
    """The six departments as ``hedui connector serve`` processes, started together, stopped with SIGTERM.

    Their data holds the example household's records for each of the first ``households`` households
    :func:`fresh_households` hands out (:func:`slowed_sandbox`).

    ``query_logs``: pass ``--query-log`` (issue 11's contract); without it the drill can run against a
    server that does not know the option yet, and checks the audit log alone.
    """
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "sandbox.json"
    data.write_text(json.dumps(slowed_sandbox(delay_seconds, households), ensure_ascii=False), encoding="utf-8")
    started: dict[str, tuple[subprocess.Popen[str], list[str], threading.Event, IO[str]]] = {}
    try:
        for department in DEPARTMENTS:
            args = [*HEDUI, "connector", "serve", "--department", department, "--listen", "127.0.0.1:0"]
            args += ["--self-signed-out", str(directory / department), "--sandbox", str(data)]
            args += ["--no-client-auth"]  # issue 13: the replicas' remote connectors present no client certificate
            if query_logs:
                args += ["--query-log", str(directory / f"{department}.queries.jsonl")]
            errors = (directory / f"{department}.stderr").open("w+", encoding="utf-8")
            process = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=errors, text=True, env=quiet_environment(), cwd=directory
            )
            lines: list[str] = []
            seen = threading.Event()
            assert process.stdout is not None
            threading.Thread(target=_drain, args=(process.stdout, lines, seen), daemon=True).start()
            started[department] = (process, lines, seen, errors)
        yield {
            d: _listening(d, directory, *started[d][:3], timeout=timeout, query_logs=query_logs, households=households)
            for d in started
        }
    finally:
        for process, _, _, _ in started.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _, _, stderr in started.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            stderr.close()


def _listening(
    department: str,
    directory: Path,
    process: subprocess.Popen[str],
    lines: list[str],
    seen: threading.Event,
    *,
    timeout: float,
    query_logs: bool,
    households: int,
) -> DepartmentServer:
    """The address a started connector server printed, or an error saying why it did not start."""
    seen.wait(timeout)
    address = next((m.group(1) for line in list(lines) if (m := LISTENING.search(line))), None)
    if address is None or not any(FINGERPRINT.search(line) for line in list(lines)):
        errors = (directory / f"{department}.stderr").read_text(encoding="utf-8")[-1500:]
        code = process.poll()
        why = f"exited {code}" if code is not None else f"said nothing within {timeout:.0f} s"
        raise AssertionError(f"the {department} connector server did not start ({why}): {lines} {errors}")
    log = directory / f"{department}.queries.jsonl" if query_logs else None
    return DepartmentServer(department, address, directory / department / "cert.pem", log, households)


def read_query_logs(servers: Mapping[str, DepartmentServer]) -> list[dict[str, Any]]:
    """Every line of every department's query log (a torn last line of a killed writer is skipped)."""
    lines: list[dict[str, Any]] = []
    for server in servers.values():
        if server.query_log is None or not server.query_log.exists():
            continue
        for text in server.query_log.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                line = json.loads(text)
                if isinstance(line, dict):
                    lines.append({"department": server.department, **line})
    return lines


# --- hedui serve -----------------------------------------------------------------------------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    raise TypeError(f"no TOML for {value!r}")


def write_config(path: Path, settings: Mapping[str, object], departments: Mapping[str, Mapping[str, object]]) -> Path:
    """A ``hedui.toml``: flat ``settings``, then one ``[departments.<id>]`` table each."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in settings.items()]
    for department, table in departments.items():
        lines += ["", f"[departments.{department}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Replica:
    """One ``hedui serve --config FILE`` process, its stderr kept in ``NAME.log`` beside the config."""

    def __init__(self, name: str, config: Path) -> None:
        self.name = name
        self.config = config
        self.log_file = config.parent / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.channel: grpc.aio.Channel | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log_file.open("wb") as log:
            return subprocess.Popen(
                [*HEDUI, "serve", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.config.parent,
                env=quiet_environment(),
            )

    async def start(self, timeout: float = 90.0) -> Replica:
        """Start the process and wait until it says which port it serves on (or fail with its log)."""
        self.process = process = self._spawn()
        give_up = time.monotonic() + timeout
        while True:
            found = SERVING.search(self.log())
            if found:
                break
            if process.poll() is not None or time.monotonic() > give_up:
                self.kill()
                raise AssertionError(
                    f"hedui serve {self.name!r} did not start within {timeout:.0f} s "
                    f"(exit {process.returncode}): {self.log()[-2000:]}"
                )
            await asyncio.sleep(0.1)
        self.port = int(found.group(1))
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")
        return self

    def log(self) -> str:
        """What the process has written so far."""
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    @property
    def consent(self) -> consent_pb2_grpc.ConsentServiceStub:
        """Its ConsentService."""
        assert self.channel is not None, f"{self.name} is not running"
        return consent_pb2_grpc.ConsentServiceStub(self.channel)  # type: ignore[no-untyped-call]

    @property
    def verifications(self) -> verification_pb2_grpc.VerificationServiceStub:
        """Its VerificationService."""
        assert self.channel is not None, f"{self.name} is not running"
        return verification_pb2_grpc.VerificationServiceStub(self.channel)  # type: ignore[no-untyped-call]

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last integration, its connections cut."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    async def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait: its exit code (None if it had to be killed); the channel closed."""
        if self.channel is not None:
            await self.channel.close()
            self.channel = None
        if self.process is None:
            return None
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


# --- the drill -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submitted:
    """A verification that ``CreateVerification`` accepted: its id, the household, the replica it went to."""

    verification_id: str
    request: dict[str, Any]
    via: str

    @property
    def area(self) -> int:
        """Its number among :func:`fresh_households` (1, 2, ...)."""
        return int(self.request["members"][0]["id_number"][:6]) - FIRST_AREA

    @property
    def subjects(self) -> dict[str, str]:
        """Its members as the query log names them (subject → identity number)."""
        return {subject_of(m["id_number"]): m["id_number"] for m in self.request["members"]}


@dataclass
class Findings:
    """What a drill found; :meth:`problems` is empty when nothing was lost, asked twice or reported twice."""

    verifications: int
    unfinished_at_kill: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    without_report: list[str] = field(default_factory=list)
    not_completed: list[str] = field(default_factory=list)
    not_answered: list[str] = field(default_factory=list)
    wrong_records: list[str] = field(default_factory=list)
    lookups: int | None = None
    duplicate_lookups: dict[tuple[str, str], int] = field(default_factory=dict)
    missing_lookups: list[str] = field(default_factory=list)
    foreign_keys: list[str] = field(default_factory=list)
    query_sent: int = 0
    duplicate_sent: dict[str, int] = field(default_factory=dict)
    missing_sent: list[str] = field(default_factory=list)
    extra_reports: dict[str, list[int]] = field(default_factory=dict)
    audit_verify: subprocess.CompletedProcess[str] | None = None
    notes: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """One line per kind of failure, with its count and a few examples."""
        n = self.verifications
        found: list[str] = list(self.notes)
        if self.unfinished_at_kill == 0:
            found.append("the kill came when every verification had already finished: nothing was in flight")
        _add(found, self.without_report, f"verifications LOST (no report) of {n}")
        _add(found, self.not_completed, f"verifications not COMPLETED on the survivor of {n}")
        _add(found, self.not_answered, f"verifications with a department not answered (status not ok) of {n}")
        _add(found, self.wrong_records, f"verifications whose records are not the departments' {RECORDS_PER_HOUSEHOLD}")
        if self.lookups is None:
            found.append("no department query log to check (the connector server was run without --query-log)")
        dup = [
            f"{key} subject {subject} looked up {c}×" for (key, subject), c in sorted(self.duplicate_lookups.items())
        ]
        _add(found, dup, "DUPLICATE department look-ups by (key, subject) in the query logs")
        _add(found, self.missing_lookups, "(department, member) pairs never looked up")
        _add(found, self.foreign_keys, "look-ups under a key that is not the verification's {id}.{department}.1")
        sent = [f"{key}: {c} DEPARTMENT_QUERY_SENT" for key, c in sorted(self.duplicate_sent.items())]
        _add(found, sent, "DUPLICATE queries by key in the audit log (more than one DEPARTMENT_QUERY_SENT)")
        _add(found, self.missing_sent, "keys with no DEPARTMENT_QUERY_SENT")
        reports = [f"verifications/{v}: REPORT_CREATED versions {vs}" for v, vs in sorted(self.extra_reports.items())]
        _add(found, reports, "DUPLICATE reports (a verification with other than one REPORT_CREATED, version 1)")
        verify = self.audit_verify
        if verify is not None and verify.returncode != 0:
            found.append(f"hedui audit verify exited {verify.returncode}: {(verify.stdout + verify.stderr).strip()}")
        return found

    def summary(self) -> str:
        """The counts, one line each (printed by the drill; the failure message of the tests)."""
        n = self.verifications
        lines = [
            f"verifications: {n}; unfinished when killed: {self.unfinished_at_kill}; "
            + ", ".join(f"{what} {seconds:.1f} s" for what, seconds in self.timings.items()),
            f"lost (no report): {len(self.without_report)}; not completed: {len(self.not_completed)}; "
            f"a department not ok: {len(self.not_answered)}; records not as the departments hold them: "
            f"{len(self.wrong_records)}",
            f"look-ups logged: {self.lookups}; duplicate (key, subject): {len(self.duplicate_lookups)}; "
            f"missing: {len(self.missing_lookups)}; under a foreign key: {len(self.foreign_keys)}",
            f"DEPARTMENT_QUERY_SENT: {self.query_sent} for {n * len(DEPARTMENTS)} keys; "
            f"keys sent twice or more: {len(self.duplicate_sent)}; keys never sent: {len(self.missing_sent)}",
            f"verifications with other than one report (version 1): {len(self.extra_reports)}",
            "hedui audit verify: "
            + ("not run" if self.audit_verify is None else f"exit {self.audit_verify.returncode}"),
        ]
        problems = self.problems()
        return "\n".join(lines + (["PROBLEMS:", *problems] if problems else ["no problems"]))


def _add(found: list[str], items: Sequence[str], what: str) -> None:
    if items:
        shown = "; ".join(items[:SHOWN]) + (f"; … {len(items) - SHOWN} more" if len(items) > SHOWN else "")
        found.append(f"{len(items)} {what}: {shown}")


async def _bounded(concurrency: int, calls: Sequence[Callable[[], Awaitable[Any]]], what: str) -> list[Any]:
    """Run ``calls`` with at most ``concurrency`` at once; their results in order. Any call that fails with a
    gRPC error fails the drill, saying how many of ``what`` failed and with which codes."""
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            try:
                return await call()
            except grpc.aio.AioRpcError as exc:
                return exc

    results = await asyncio.gather(*(one(c) for c in calls))
    failed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    if failed:
        codes = Counter(f"{r.code().name}: {(r.details() or '')[:160]}" for r in failed)
        shown = "; ".join(f"{n}× {text}" for text, n in codes.most_common(3))
        raise AssertionError(f"{len(failed)} of {len(results)} {what} calls failed: {shown}")
    return results


class CrashDrill:
    """One database, the config its replicas share, and the checks of issue 11 afterwards.

    ``settings`` are extra flat settings for every replica (e.g. ``work_lease_seconds``).
    """

    def __init__(
        self,
        directory: Path,
        database_url: str,
        departments: Mapping[str, DepartmentServer],
        settings: Mapping[str, object],
    ) -> None:
        self.directory = directory
        self.database_url = database_url
        self.departments = departments
        self.key = SigningKey.generate_ed25519()
        directory.mkdir(parents=True, exist_ok=True)
        base: dict[str, object] = {
            "database_url": database_url,
            "listen": "127.0.0.1:0",
            "audit_subject_key_file": str(directory / "keys" / "subject.key"),
            "audit_log_key_file": str(directory / "keys" / "log.key"),
            # Generous: a slowed department under a loaded machine must never be "no answer within N s".
            "department_deadline_seconds": 120.0,
            "poll_interval_seconds": 0.2,
            **settings,
        }
        tables = {d: server.table(timeout=60.0) for d, server in departments.items()}
        self.config = write_config(directory / "hedui.toml", base, tables)
        with self.config.open("a", encoding="utf-8") as config:  # issue 13: the drills' clients call in plaintext
            config.write("\n[tls]\nplaintext = true\n")
        self.replicas: list[Replica] = []
        self.submitted: list[Submitted] = []
        self.unfinished_at_kill: int | None = None
        self.notes: list[str] = []
        self.timings: dict[str, float] = {}
        self.db = Database(database_url)

    async def __aenter__(self) -> CrashDrill:
        """Trust the drill's key (``hedui keys add``) before any replica starts; the service's key files are made
        first, as its first start would make them (``keys add`` records its change under them)."""
        service_keys(self.directory, self.config)
        public = self.directory / "case-system.pub.pem"
        public.write_bytes(self.key.public_pem())
        done = await self.hedui("keys", "add", "--organisation", ORGANISATION, "--public-key", str(public))
        assert done.returncode == 0, f"hedui keys add failed: {done.stdout} {done.stderr}"
        return self

    async def __aexit__(self, *_: object) -> None:
        """Stop every replica still running (SIGTERM), close the reading connection."""
        for replica in self.replicas:
            await replica.stop()
        await self.db.close()

    async def hedui(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """A ``hedui`` command with the drill's config, in its own process."""
        return await asyncio.to_thread(
            subprocess.run,
            [*HEDUI, *args, "--config", str(self.config)],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=quiet_environment(),
            check=False,
        )

    async def start(self, name: str) -> Replica:
        """A new ``hedui serve`` on the shared config."""
        replica = await Replica(name, self.config).start()
        self.replicas.append(replica)
        return replica

    async def submit(self, count: int, via: Sequence[Replica], concurrency: int = 48) -> list[Submitted]:
        """Register an authorization for each of ``count`` fresh households, then create their verifications,
        household *i* through ``via[i % len(via)]`` (all registered first, then the creates in one burst)."""
        households = fresh_households(count)
        started = time.monotonic()
        metadata = (OPERATOR,)

        def register(i: int) -> Callable[[], Awaitable[str]]:
            async def call() -> str:
                envelope = signed_authorization(households[i], self.key)
                message = consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(envelope))
                reply = await via[i % len(via)].consent.RegisterAuthorization(message, metadata=metadata, timeout=RPC)
                return str(reply.name)

            return call

        authorizations = await _bounded(concurrency, [register(i) for i in range(count)], "RegisterAuthorization")

        def create(i: int) -> Callable[[], Awaitable[Submitted]]:
            async def call() -> Submitted:
                message = verification_pb2.CreateVerificationRequest(authorizations=[authorizations[i]])
                plain_to_message(households[i], message.request)
                replica = via[i % len(via)]
                reply = await replica.verifications.CreateVerification(message, metadata=metadata, timeout=RPC)
                return Submitted(str(reply.name).removeprefix("verifications/"), households[i], replica.name)

            return call

        submitted = await _bounded(concurrency, [create(i) for i in range(count)], "CreateVerification")
        self.submitted += submitted
        self.timings["submitted in"] = time.monotonic() - started
        return submitted

    async def states(self) -> dict[str, tuple[str, int]]:
        """Each submitted verification's (state, latest report version), read from the database."""
        ids = [s.verification_id for s in self.submitted]
        v = VerificationRow
        async with self.db.sessions() as session:
            rows = (await session.execute(select(v.id, v.state, v.latest_report_version).where(v.id.in_(ids)))).all()
        return {row.id: (row.state, row.latest_report_version) for row in rows}

    async def _unfinished(self) -> int:
        return sum(1 for state, version in (await self.states()).values() if state != "COMPLETED" or version < 1)

    async def _asked(self) -> int:
        """Look-ups of this drill's people the departments logged (the servers may be shared by several drills),
        or (without query logs) queries the audit log says were sent."""
        if any(s.query_log is not None for s in self.departments.values()):
            ours = {subject for s in self.submitted for subject in s.subjects}
            return sum(1 for line in read_query_logs(self.departments) if line.get("subject") in ours)
        async with self.db.sessions() as session:
            found = await session.execute(
                select(audit_entries.c.seq).where(audit_entries.c.kind == "DEPARTMENT_QUERY_SENT").limit(1)
            )
            return len(found.all())

    async def kill_when_in_flight(self, replica: Replica, deadline: float = 60.0) -> int:
        """SIGKILL ``replica`` as soon as a department has been asked; the verifications unfinished then."""
        started = time.monotonic()
        give_up = started + deadline
        while await self._asked() == 0:
            if time.monotonic() > give_up:
                self.notes.append(f"no department was asked within {deadline:.0f} s of the last CreateVerification")
                break
            await asyncio.sleep(0.05)
        replica.kill()
        self.timings["killed after"] = time.monotonic() - started
        self.unfinished_at_kill = await self._unfinished()
        return self.unfinished_at_kill

    async def wait_until_done(self, deadline: float, stalled: float = 45.0) -> float:
        """Poll the database until every submitted verification is COMPLETED with a report; give up after
        ``deadline`` s, or after ``stalled`` s in which none more finished (the checks then say what is
        missing). The seconds it took."""
        started = last_progress = time.monotonic()
        left = await self._unfinished()
        while True:
            now = time.monotonic()
            if not left or now - started > deadline or now - last_progress > stalled:
                if left:
                    why = (
                        f"{deadline:.0f} s passed" if now - started > deadline else f"none finished for {stalled:.0f} s"
                    )
                    self.notes.append(f"gave up waiting with {left} unfinished: {why}")
                self.timings["waited for the rest"] = now - started
                return now - started
            await asyncio.sleep(0.25)
            still = await self._unfinished()
            if still < left:
                last_progress = time.monotonic()
            left = still

    async def findings(self, survivor: Replica) -> Findings:
        """Every check of issue 11, from the survivor's API, the database, the query logs and ``audit verify``."""
        found = Findings(len(self.submitted), self.unfinished_at_kill, dict(self.timings), notes=list(self.notes))
        await self._check_views(survivor, found)
        code = await survivor.stop()
        if code != 0:
            found.notes.append(f"the survivor {survivor.name!r} exited {code} on SIGTERM: {survivor.log()[-1500:]}")
        await self._check_reports(found)
        await self._check_audit(found)
        self._check_query_logs(found)
        found.audit_verify = await self.hedui("audit", "verify")
        return found

    async def _check_views(self, survivor: Replica, found: Findings) -> None:
        """The survivor's view of each verification: COMPLETED, a report, every department ok."""

        def get(s: Submitted) -> Callable[[], Awaitable[verification_pb2.Verification]]:
            async def call() -> verification_pb2.Verification:
                request = verification_pb2.GetVerificationRequest(name=f"verifications/{s.verification_id}")
                return await survivor.verifications.GetVerification(request, metadata=(OPERATOR,), timeout=RPC)  # type: ignore[no-any-return]

            return call

        views = await _bounded(16, [get(s) for s in self.submitted], "GetVerification (on the survivor)")
        for submitted, view in zip(self.submitted, views, strict=True):
            state = verification_pb2.Verification.State.Name(view.state)
            statuses = {d.department: d.status for d in view.departments}
            if not view.latest_report:
                found.without_report.append(f"{view.name} {state} {statuses}")
            elif view.state != verification_pb2.Verification.COMPLETED:
                found.not_completed.append(f"{view.name} {state}")
            if view.latest_report and any(statuses.get(d) != "ok" for d in DEPARTMENTS):
                found.not_answered.append(f"{view.name} {statuses}")
            elif view.latest_report:
                counts = {d.department: d.records for d in view.departments}
                covered = all(submitted.area <= server.households for server in self.departments.values())
                if covered and counts != RECORDS_PER_HOUSEHOLD:
                    found.wrong_records.append(f"{view.name} records {counts}")

    async def _check_reports(self, found: Findings) -> None:
        """The reports stored: one a verification, version 1 (REPORT_CREATED is counted in ``_check_audit``)."""
        ids = [s.verification_id for s in self.submitted]
        async with self.db.sessions() as session:
            rows = (await session.execute(select(ReportRow.verification_id, ReportRow.version))).all()
        stored: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            stored[row.verification_id].append(row.version)
        for vid in ids:
            if stored.get(vid, []) not in ([], [1]):  # none: counted as lost by _check_views
                found.extra_reports[vid] = sorted(stored[vid])

    async def _check_audit(self, found: Findings) -> None:
        """DEPARTMENT_QUERY_SENT exactly once per key; REPORT_CREATED exactly once per verification, version 1."""
        e = audit_entries.c
        kinds = ("DEPARTMENT_QUERY_SENT", "REPORT_CREATED")
        async with self.db.sessions() as session:
            rows = (
                await session.execute(select(e.kind, e.verification, e.department, e.entry).where(e.kind.in_(kinds)))
            ).all()
        sent: Counter[str] = Counter()
        created: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            details = json.loads(row.entry).get("details", {})
            if row.kind == "DEPARTMENT_QUERY_SENT":
                sent[str(details.get("idempotency_key") or idempotency_key(row.verification, row.department))] += 1
            else:
                created[row.verification].append(int(details.get("version", 0)))
        keys = [idempotency_key(s.verification_id, d) for s in self.submitted for d in DEPARTMENTS]
        found.query_sent = sum(sent[k] for k in keys)
        found.duplicate_sent = {k: sent[k] for k in keys if sent[k] > 1}
        found.missing_sent = [k for k in keys if sent[k] == 0]
        for s in self.submitted:
            versions = sorted(created.get(s.verification_id, []))
            if versions and versions != [1]:
                found.extra_reports[s.verification_id] = versions

    def _check_query_logs(self, found: Findings) -> None:
        """Each (department, member) of each verification looked up exactly once, under the verification's key."""
        if not any(s.query_log is not None for s in self.departments.values()):
            return
        owner = {subject: s for s in self.submitted for subject in s.subjects}
        lines = [line for line in read_query_logs(self.departments) if line.get("subject") in owner]
        found.lookups = len(lines)
        by_pair: Counter[tuple[str, str]] = Counter()
        per_person: Counter[tuple[str, str]] = Counter()
        for line in lines:
            department, subject, key = str(line["department"]), str(line["subject"]), str(line.get("key", ""))
            expected = idempotency_key(owner[subject].verification_id, department)
            if expected not in key.split(","):
                found.foreign_keys.append(f"{department} subject {subject} under {key!r} (expected {expected})")
            for part in key.split(","):
                by_pair[(part, subject)] += 1
            per_person[(department, subject)] += 1
        found.duplicate_lookups = {pair: c for pair, c in by_pair.items() if c > 1}
        for (department, subject), c in per_person.items():
            key = idempotency_key(owner[subject].verification_id, department)
            if c > 1 and (key, subject) not in found.duplicate_lookups:
                found.duplicate_lookups[(key, subject)] = c  # asked again under another key: still twice
        found.missing_lookups = [
            f"{idempotency_key(s.verification_id, d)} subject {subject}"
            for s in self.submitted
            for d in DEPARTMENTS
            for subject in s.subjects
            if per_person[(d, subject)] == 0
        ]


def signed_authorization(request: Mapping[str, Any], key: SigningKey) -> Envelope:
    """An authorization envelope for ``request``'s members, signed by ``key`` (valid 90 days from today)."""
    return signed_envelope(parse_request(dict(request)), key)


__all__ = [
    "DEPARTMENTS",
    "CrashDrill",
    "DepartmentServer",
    "Findings",
    "Replica",
    "Submitted",
    "department_servers",
    "fresh_households",
    "idempotency_key",
    "read_query_logs",
    "subject_of",
    "write_config",
]
