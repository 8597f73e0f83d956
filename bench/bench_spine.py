"""Benchmark of hedui's spine: the gRPC API, the fan-out to departments, the database, the report.

Not a test: it prints figures. Two measurements, each against a hedui server in its own
process on loopback (pinned to another core than this load generator when there are two):

1. Throughput with instant sandbox departments: verifications per second with a bounded
   number in flight (CreateVerification, WatchVerification until the report is there, GetReport),
   against the floor of a trivial unary RPC at the same concurrency. The sandbox declares 50 calls
   a second per department, which hedui keeps to (batching concurrent verifications' queries): at 16 in
   flight that limit, not hedui, caps the rate at about 60 a second. The ratio is therefore measured with
   departments that declare no practical limit, and the rate under the declared limit is shown beside it.
2. Fan-out overhead: every department answers after 50 ms; verifications run one at a time and
   the end-to-end latency is divided by the slowest department's 50 ms (the aim is ≤ 1.25 at p50).

The household is verifier/data/demo-household.json (3 members) and the departments answer from
connectors/data/demo-sandbox.json.

    .venv/bin/python bench/bench_spine.py [--count 200] [--concurrency 16] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from connectors import ConnectorDescription, SandboxDataset
from connectors.sandbox import SandboxConnector
from consent import SigningKey
from hedui.v1 import consent_pb2, consent_pb2_grpc, verification_pb2, verification_pb2_grpc
from verifier.api import OPERATOR_METADATA, build_server, envelope_message
from verifier.cli import signed_authorization
from verifier.config import Settings
from verifier.protojson import plain_to_message
from verifier.request import VerificationRequest, parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database

REPO = Path(__file__).resolve().parents[1]
HOUSEHOLD = REPO / "verifier" / "data" / "demo-household.json"
SANDBOX = REPO / "connectors" / "data" / "demo-sandbox.json"
DEPARTMENTS = ("police", "housing", "tax", "vehicles", "banks", "social_security")
SLOW_MS = 50
AIM = 1.25  # issue 11: end-to-end p50 ÷ 50 ms at most this
THROUGHPUT_AIM = 0.03  # issue 11: verifications/s ÷ Check RPC/s at least this
METADATA = ((OPERATOR_METADATA, "bench"),)
RPC_TIMEOUT = 30.0
SERVER_START_TIMEOUT = 60.0
RUNNING = verification_pb2.Verification.RUNNING
T = TypeVar("T")
# The generated *_grpc modules carry no annotations.
VerificationStub: Any = verification_pb2_grpc.VerificationServiceStub
ConsentStub: Any = consent_pb2_grpc.ConsentServiceStub


# --- the server, in its own process -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerSpec:
    db_url: str
    sandbox: dict[str, Any]
    organisation: str
    public_pem: bytes
    cpu: int | None
    unlimited: bool = False


class UnlimitedSandbox(SandboxConnector):
    """A sandbox department that declares no practical call rate limit (the sandbox declares 50 a second)."""

    def describe(self) -> ConnectorDescription:
        # Made once, as the sandbox's own (hedui's resilience layer reads it before and after every call).
        if self._unlimited is None:
            self._unlimited = replace(super().describe(), max_queries_per_second=1_000_000)
        return self._unlimited

    _unlimited: ConnectorDescription | None = None


def _server_main(spec: ServerSpec, conn: Connection, stop: EventType) -> None:
    """Entry point of the server process: serve on 127.0.0.1:0, send the port, run until ``stop``."""
    if spec.cpu is not None:
        os.sched_setaffinity(0, {spec.cpu})
    try:
        asyncio.run(_serve(spec, conn, stop))
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise


async def _serve(spec: ServerSpec, conn: Connection, stop: EventType) -> None:
    settings = Settings(database_url=spec.db_url)
    dataset = SandboxDataset.from_json(spec.sandbox)
    kind = UnlimitedSandbox if spec.unlimited else SandboxConnector
    connectors = {department: kind(department, dataset) for department in dataset.catalogue}
    service = HeduiService(Database(settings.database_url), connectors, settings)
    await service.start()
    try:
        await service.trust_store.add(spec.organisation, spec.public_pem, note="bench_spine key")
        _, port, stop_server = await build_server(service, "127.0.0.1:0")
        try:
            conn.send(("port", port))
            await asyncio.to_thread(stop.wait)
        finally:
            await stop_server()
    finally:
        await service.close()


@contextlib.asynccontextmanager
async def server_process(spec: ServerSpec) -> AsyncIterator[tuple[int, int]]:
    """Start a hedui server process for ``spec``; yields (port, process id); stops it on exit."""
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    process = ctx.Process(target=_server_main, args=(spec, sender, stop), name="hedui-bench-server", daemon=True)
    process.start()
    sender.close()
    try:
        if not await asyncio.to_thread(receiver.poll, SERVER_START_TIMEOUT):
            raise RuntimeError(f"the server did not start within {SERVER_START_TIMEOUT:g} s")
        try:
            kind, value = receiver.recv()
        except EOFError:
            raise RuntimeError(f"the server process exited (code {process.exitcode}) before serving") from None
        if kind != "port":
            raise RuntimeError(f"the server failed to start: {value}")
        assert process.pid is not None
        yield int(value), process.pid
    finally:
        stop.set()
        await asyncio.to_thread(process.join, 15.0)
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, 5.0)
        receiver.close()


# --- the client ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One verification: ``start``/``seen``/``done`` are perf_counter(); the rest are epoch seconds, ``*_wall``
    from this process's clock and the others from the server's timestamps (same machine, ms resolution)."""

    name: str
    start: float
    seen: float
    done: float
    start_wall: float
    seen_wall: float
    create_time: float
    first_answer: float
    last_answer: float
    report_time: float
    departments_not_ok: int

    @property
    def latency(self) -> float:
        """From the CreateVerification call to the watch event that shows the report."""
        return self.seen - self.start


def _epoch(instant: str) -> float:
    return dt.datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp()


class Client:
    def __init__(
        self, channel: grpc.aio.Channel, create: verification_pb2.CreateVerificationRequest, server_pid: int
    ) -> None:
        self.server_pid = server_pid
        self.verifications = VerificationStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)
        self.create = create

    async def verify(self) -> Sample:
        start_wall, start = time.time(), time.perf_counter()
        created = await self.verifications.CreateVerification(self.create, metadata=METADATA, timeout=RPC_TIMEOUT)
        call = self.verifications.WatchVerification(
            verification_pb2.WatchVerificationRequest(name=created.name), metadata=METADATA, timeout=RPC_TIMEOUT
        )
        final: verification_pb2.Verification | None = None
        try:
            async for event in call:
                if event.verification.latest_report and event.verification.state != RUNNING:
                    final = event.verification
                    break
        finally:
            call.cancel()
        seen_wall, seen = time.time(), time.perf_counter()
        if final is None:
            raise RuntimeError(f"{created.name}: the watch ended without a report")
        await self.verifications.GetReport(
            verification_pb2.GetReportRequest(name=final.latest_report), metadata=METADATA, timeout=RPC_TIMEOUT
        )
        done = time.perf_counter()
        answered = [_epoch(d.updated_at) for d in final.departments]
        return Sample(
            name=final.name,
            start=start,
            seen=seen,
            done=done,
            start_wall=start_wall,
            seen_wall=seen_wall,
            create_time=_epoch(final.create_time),
            first_answer=min(answered),
            last_answer=max(answered),
            report_time=_epoch(final.update_time),
            departments_not_ok=sum(d.status != "ok" for d in final.departments),
        )

    async def health_check(self) -> None:
        await self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT)

    async def get_verification(self, name: str) -> None:
        await self.verifications.GetVerification(
            verification_pb2.GetVerificationRequest(name=name), metadata=METADATA, timeout=RPC_TIMEOUT
        )


@dataclass(frozen=True, slots=True)
class Run:
    results: list[Any]
    errors: list[str]
    seconds: float
    server_cpu: float | None  # CPU seconds of the hedui server process (not of PostgreSQL)
    client_cpu: float  # CPU seconds of this load generator

    @property
    def rate(self) -> float:
        return len(self.results) / self.seconds if self.seconds > 0 else float("nan")

    def cpu(self) -> str:
        """How busy the server and the load generator were, as a share of one core."""
        server = "server ?" if self.server_cpu is None else f"server {self.server_cpu / self.seconds:.0%}"
        return f"{server}, load generator {self.client_cpu / self.seconds:.0%} of a core"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` from /proc (Linux), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bounded(count: int, concurrency: int, job: Callable[[], Awaitable[T]], server_pid: int) -> Run:
    """Run ``job`` ``count`` times with at most ``concurrency`` in flight."""
    remaining = count
    results: list[T] = []
    errors: list[str] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            try:
                results.append(await job())
            except (grpc.aio.AioRpcError, RuntimeError) as exc:
                errors.append(
                    f"{exc.code().name}: {exc.details()}" if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
                )

    server_start, client_start, start = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))
    seconds = time.perf_counter() - start
    server_end = cpu_seconds(server_pid)
    server = None if server_start is None or server_end is None else server_end - server_start
    return Run(results, errors, seconds, server, time.process_time() - client_start)


async def _client(channel: grpc.aio.Channel, request: VerificationRequest, key: SigningKey, pid: int) -> Client:
    """Register one authorization for the household (signed with ``key``) and prepare its create request."""
    envelope = signed_authorization(request, key, dt.date.today())
    auth = await ConsentStub(channel).RegisterAuthorization(
        consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(envelope)),
        metadata=METADATA,
        timeout=RPC_TIMEOUT,
    )
    create = verification_pb2.CreateVerificationRequest(authorizations=[auth.name])
    plain_to_message(request.to_plain(), create.request)
    return Client(channel, create, pid)


@contextlib.asynccontextmanager
async def hedui(
    db_url: str, sandbox: dict[str, Any], request: VerificationRequest, cpu: int | None, *, unlimited: bool = False
) -> AsyncIterator[Client]:
    """A hedui server process with its own trusted key, and a client with an authorization registered;
    ``unlimited``: its departments declare no practical rate limit."""
    key = SigningKey.generate_ed25519()
    spec = ServerSpec(db_url, sandbox, request.commissioned_by, key.public_pem(), cpu, unlimited)
    async with server_process(spec) as (port, pid), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), RPC_TIMEOUT)
        yield await _client(channel, request, key, pid)


# --- figures ------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100) of the values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * p / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class Table:
    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[tuple[str, str]] = []

    def add(self, label: str, value: str) -> None:
        self.rows.append((label, value))

    def print(self) -> None:
        width = max(len(label) for label, _ in self.rows)
        print(f"\n{self.title}")
        print("-" * len(self.title))
        for label, value in self.rows:
            print(f"  {label:<{width}}  {value}")


@dataclass(frozen=True, slots=True)
class Options:
    count: int
    concurrency: int
    warmup: int
    floor_count: int
    slow_count: int
    db: str | None
    time_limit: float


def _db_url(option: str | None, tmp: Path, name: str) -> str:
    return option if option else f"sqlite:///{tmp / name}"


def _check(run: Run, what: str, table: Table) -> None:
    if run.errors:
        table.add(f"ERRORS in {what}", f"{len(run.errors)}; first: {run.errors[0]}")


def _not_ok(run: Run) -> int:
    return sum(s.departments_not_ok for s in run.results)


async def throughput(
    options: Options, request: VerificationRequest, sandbox: dict[str, Any], tmp: Path, cpu: int | None
) -> tuple[Table, bool]:
    table = Table(f"1. Throughput: instant sandbox departments, {options.concurrency} in flight, over loopback gRPC")
    async with hedui(_db_url(options.db, tmp, "declared.db"), sandbox, request, cpu) as client:
        await bounded(max(options.warmup, 1), options.concurrency, client.verify, client.server_pid)
        declared = await bounded(options.count, options.concurrency, client.verify, client.server_pid)
    async with hedui(_db_url(options.db, tmp, "throughput.db"), sandbox, request, cpu, unlimited=True) as client:
        warm = await bounded(max(options.warmup, 1), options.concurrency, client.verify, client.server_pid)
        if not warm.results:
            raise RuntimeError(f"no warm-up verification succeeded: {warm.errors[:1]}")
        one = warm.results[0].name
        unloaded = await bounded(min(20, options.count), 1, client.verify, client.server_pid)
        run = await bounded(options.count, options.concurrency, client.verify, client.server_pid)
        check = await bounded(options.floor_count, options.concurrency, client.health_check, client.server_pid)
        get = await bounded(
            options.floor_count, options.concurrency, lambda: client.get_verification(one), client.server_pid
        )
    latencies = [s.latency for s in run.results]
    delivery = [s.seen_wall - s.report_time for s in run.results]
    table.add(
        "verifications (after warm-up)",
        f"{len(run.results)} of {options.count} in {run.seconds:.2f} s (warm-up {len(warm.results)})",
    )
    per = f"{run.server_cpu / len(run.results) * 1000:.1f} ms" if run.server_cpu and run.results else "?"
    table.add("verifications/s", f"{run.rate:.1f}  ({run.cpu()}; server CPU {per} per verification)")
    table.add(
        "  same, departments at the sandbox's 50 calls/s",
        f"{declared.rate:.1f}  ({declared.cpu()}; hedui batches queries to keep to the limit)",
    )
    table.add(
        "latency under load p50 / p95",
        f"{ms(percentile(latencies, 50))} / {ms(percentile(latencies, 95))} (Create → watch shows report)",
    )
    table.add(
        "latency unloaded, one at a time p50",
        f"{ms(percentile([s.latency for s in unloaded.results], 50))} ({len(unloaded.results)} verifications)",
    )
    table.add("report → watcher sees it p50 / max", f"{ms(percentile(delivery, 50))} / {ms(max(delivery, default=0))}")
    table.add("floor: health Check RPC/s", f"{check.rate:.0f}  ({len(check.results)} calls; {check.cpu()})")
    table.add(
        "floor: GetVerification RPC/s", f"{get.rate:.0f}  ({len(get.results)} calls on one verification; {get.cpu()})"
    )
    table.add(
        "verifications/s ÷ Check RPC/s",
        f"{run.rate / check.rate:.4f}  (1 verification ≈ {check.rate / run.rate:.0f} Checks; aim ≥ {THROUGHPUT_AIM}: "
        f"{'met' if run.rate / check.rate >= THROUGHPUT_AIM else 'NOT met'})",
    )
    table.add(
        "verifications/s ÷ GetVerification RPC/s",
        f"{run.rate / get.rate:.4f}  (1 verification ≈ {get.rate / run.rate:.1f} GetVerifications)",
    )
    not_ok = _not_ok(run) + _not_ok(warm) + _not_ok(unloaded)
    if not_ok:
        table.add("WARNING", f"{not_ok} department results were not 'ok'")
    for r, what in (
        (warm, "warm-up"),
        (unloaded, "unloaded run"),
        (run, "verifications"),
        (declared, "verifications at the declared limit"),
        (check, "Check"),
        (get, "Get"),
    ):
        _check(r, what, table)
    ok = not any(r.errors for r in (warm, unloaded, run, declared, check, get)) and not not_ok
    return table, ok


async def fanout_overhead(
    options: Options, request: VerificationRequest, sandbox: dict[str, Any], tmp: Path, cpu: int | None
) -> tuple[Table, bool]:
    slow = copy.deepcopy(sandbox)
    slow["faults"] = {d: {"mode": "slow", "delay_ms": SLOW_MS} for d in DEPARTMENTS}
    table = Table(
        f"2. Fan-out overhead: all {len(DEPARTMENTS)} departments slow ({SLOW_MS} ms), one verification at a time"
    )
    async with hedui(_db_url(options.db, tmp, "fanout.db"), slow, request, cpu) as client:
        warm = await bounded(3, 1, client.verify, client.server_pid)
        run = await bounded(options.slow_count, 1, client.verify, client.server_pid)
    per = f"{run.server_cpu / len(run.results) * 1000:.1f} ms" if run.server_cpu and run.results else "?"
    samples: list[Sample] = run.results
    ratios = [s.latency / (SLOW_MS / 1000) for s in samples]
    p50, p95 = percentile(ratios, 50), percentile(ratios, 95)
    latencies = [s.latency for s in samples]
    table.add("verifications", f"{len(samples)} of {options.slow_count} (after {len(warm.results)} warm-up)")
    table.add(
        "end-to-end latency p50 / p95 / max",
        f"{ms(percentile(latencies, 50))} / {ms(percentile(latencies, 95))} / {ms(max(latencies, default=0))}",
    )
    table.add("latency ÷ 50 ms  p50", f"{p50:.3f}   (aim ≤ {AIM:.2f}: {'met' if p50 <= AIM else 'NOT met'})")
    table.add("latency ÷ 50 ms  p95", f"{p95:.3f}")
    table.add("overhead over 50 ms  p50", ms(percentile(latencies, 50) - SLOW_MS / 1000))
    table.add("server CPU per verification", f"{per}  ({run.cpu()})")
    parts: list[tuple[str, Callable[[Sample], float]]] = [
        ("  call → create_time", lambda s: s.create_time - s.start_wall),
        ("  create_time → first department settled", lambda s: s.first_answer - s.create_time),
        ("  first → last department settled", lambda s: s.last_answer - s.first_answer),
        ("  last department → report (update_time)", lambda s: s.report_time - s.last_answer),
        ("  report → watcher sees it", lambda s: s.seen_wall - s.report_time),
        ("  (GetReport afterwards, not in latency)", lambda s: s.done - s.seen),
    ]
    table.add("where the time goes: median / max", "(server timestamps of the final event, ms resolution)")
    for label, part in parts:
        values = [part(s) for s in samples]
        table.add(label, f"{ms(statistics.median(values))} / {ms(max(values))}" if values else "n/a")
    not_ok = _not_ok(run) + _not_ok(warm)
    if not_ok:
        table.add("WARNING", f"{not_ok} department results were not 'ok' (deadline?)")
    _check(warm, "warm-up", table)
    _check(run, "verifications", table)
    return table, not run.errors and not warm.errors and not not_ok and bool(samples)


def _cpus() -> tuple[int | None, int | None, str]:
    """(server CPU, load-generator CPU, description): pin to different cores when there are at least two."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return None, None, f"{len(available) or os.cpu_count()} CPU(s) usable; no pinning"
    return available[0], available[1], f"server pinned to CPU {available[0]}, load generator to CPU {available[1]}"


async def bench(options: Options) -> int:
    request = parse_request(json.loads(HOUSEHOLD.read_text(encoding="utf-8")))
    sandbox: dict[str, Any] = json.loads(SANDBOX.read_text(encoding="utf-8"))
    server_cpu, client_cpu, pinning = _cpus()
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    print("hedui spine benchmark")
    print(f"command:   {shlex.join(sys.orig_argv)}")
    print(f"platform:  Python {platform.python_version()}, grpcio {grpc.__version__}, {platform.machine()}; {pinning}")
    db = (
        f"{options.db.split('@')[-1]} (not pinned; server CPU figures exclude PostgreSQL)"
        if options.db
        else "SQLite in a temporary directory (WAL, synchronous=FULL)"
    )
    print(f"database:  {db}")
    print(
        f"household: {len(request.members)} members ({HOUSEHOLD.relative_to(REPO)}); "
        f"departments: sandbox {SANDBOX.relative_to(REPO)}"
    )
    ok = True
    with tempfile.TemporaryDirectory(prefix="hedui-bench-") as tmp:
        async with asyncio.timeout(options.time_limit):
            for phase in (throughput, fanout_overhead):
                table, passed = await phase(options, request, sandbox, Path(tmp), server_cpu)
                table.print()
                ok = ok and passed
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=200, help="verifications in the throughput run (default 200)")
    parser.add_argument("--concurrency", type=int, default=16, help="verifications/RPCs in flight (default 16)")
    parser.add_argument(
        "--warmup", type=int, default=16, help="warm-up verifications before measuring (default 16, at least 1)"
    )
    parser.add_argument("--floor-count", type=int, default=2000, help="calls for each floor RPC (default 2000)")
    parser.add_argument("--slow-count", type=int, default=30, help="sequential verifications with 50 ms departments")
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary directory); e.g. postgresql://...")
    parser.add_argument("--time-limit", type=float, default=110.0, help="abort after this many seconds (default 110)")
    args = parser.parse_args(argv)
    for name in ("count", "concurrency", "floor_count", "slow_count"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    options = Options(
        args.count, args.concurrency, args.warmup, args.floor_count, args.slow_count, args.db, args.time_limit
    )
    try:
        return asyncio.run(bench(options))
    except TimeoutError:
        print(f"\nbench_spine: aborted after --time-limit {options.time_limit:g} s", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
