"""Benchmark of issue 17's sealing at rest: the same work with the cells sealed and without, as a ratio (aim ≤ 1.15).

Not a test: it prints figures. Two hedui services in this process, each over its own SQLite file in a temporary
directory with the built-in sandbox departments: one seals (``--suite standard``: AES-256-GCM and HMAC-SHA256;
``sm``: SM4-GCM and HMAC-SM3), one does not (``sealing = False``, a switch for this bench only). The same work runs
on each, alternately, in rounds: whole verifications one at a time through the operations (RegisterAuthorization,
CreateVerification, the wait for the report, GetReport) and bursts of report reads: as the ``hedui.v1.Report``
message the ``GetReport`` RPC sends, and as the JSON value ``hedui verify`` prints. Each figure is the median over the
rounds; the ratio is sealed over plain, of the wall time and of this process's CPU time (the steadier figure on a
loaded machine: a verification's wall time is mostly waiting on the departments and the coalescing of answers).

    .venv/bin/python bench/bench_sealing.py [--suite standard|sm] [--rounds 15] [--verifications 20] [--reads 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.resources
import json
import statistics
import tempfile
import time
from pathlib import Path

from connectors import SandboxDataset, sandbox_connectors
from consent import SigningKey
from consent.suite import CryptoSuite
from verifier.cli.verify import signed_authorization
from verifier.config import Settings
from verifier.request import VerificationRequest, parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database


async def _service(directory: Path, suite: CryptoSuite, *, sealing: bool) -> HeduiService:
    """A started service over a new SQLite file in ``directory``."""
    settings = Settings(database_url=f"sqlite:///{directory / 'hedui.db'}", crypto_suite=suite, sealing=sealing)
    service = HeduiService(Database(settings.database_url), sandbox_connectors(SandboxDataset.demo()), settings)
    await service.start()
    return service


async def _round(
    service: HeduiService, request: VerificationRequest, key: SigningKey, args: argparse.Namespace
) -> tuple[float, ...]:
    """Wall and CPU seconds per verification, per GetReport message, per JSON read, of one round on ``service``."""
    started, cpu = time.perf_counter(), time.process_time()
    name = ""
    for _ in range(args.verifications):
        envelope = signed_authorization(request, key, dt.date.today())
        authorization = await service.authorizations.register(envelope)
        created = await service.verifications.create(request, [authorization.name])
        await service.verifications.wait_for_report(created.name, 60.0)
        name = created.name
        await service.reports.get(f"{name}/reports/latest")
    per_verification = (time.perf_counter() - started) / args.verifications
    cpu_verification = (time.process_time() - cpu) / args.verifications
    figures = [per_verification, cpu_verification]
    for read in (service.reports.message, service.reports.get):
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.reads):
            await read(f"{name}/reports/latest")
        figures += [(time.perf_counter() - started) / args.reads, (time.process_time() - cpu) / args.reads]
    return tuple(figures)


async def main(args: argparse.Namespace) -> None:
    """Run the rounds and print the medians and ratios."""
    text = importlib.resources.files("verifier").joinpath("data/demo-household.json").read_text("utf-8")
    request = parse_request(json.loads(text))
    suite = CryptoSuite(args.suite)
    figures: dict[str, list[tuple[float, ...]]] = {"plain": [], "sealed": []}
    with tempfile.TemporaryDirectory(prefix="hedui-bench-sealing-") as tmp:
        (Path(tmp) / "plain").mkdir()
        (Path(tmp) / "sealed").mkdir()
        services = {
            "plain": await _service(Path(tmp) / "plain", suite, sealing=False),
            "sealed": await _service(Path(tmp) / "sealed", suite, sealing=True),
        }
        key = SigningKey.generate_ed25519()
        try:
            for service in services.values():
                await service.trust_store.add(request.commissioned_by, key.public_pem())
                await _round(service, request, key, argparse.Namespace(verifications=2, reads=20))  # warm up
            for _ in range(args.rounds):
                for what, service in services.items():
                    figures[what].append(await _round(service, request, key, args))
        finally:
            for service in services.values():
                await service.close()
    reads = (("GetReport (the message)", 2), ("report as JSON (hedui verify)", 4))
    for what, index in (("verification (register, create, wait, report)", 0), *reads):
        line = []
        for clock, offset in (("wall", 0), ("CPU", 1)):
            plain_ms = statistics.median(f[index + offset] for f in figures["plain"]) * 1000
            sealed_ms = statistics.median(f[index + offset] for f in figures["sealed"]) * 1000
            line.append(f"{clock} plain {plain_ms:.2f} ms, sealed {sealed_ms:.2f} ms, ratio {sealed_ms / plain_ms:.3f}")
        print(f"{what} ({suite}): " + "; ".join(line) + " (aim ≤ 1.15)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=[s.value for s in CryptoSuite], default="standard")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--verifications", type=int, default=20)
    parser.add_argument("--reads", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
