"""Benchmark of issue 13's mutual TLS: the same calls with and without it, as a ratio (the aim is ≤ 1.15).

Not a test: it prints figures. One hedui service (SQLite in a temporary directory, the built-in sandbox
departments) serves two gRPC servers on loopback — one plaintext (every caller the development client), one
mutual TLS with the access interceptor looking the client's certificate up — and the same client work runs
against each, alternately, in rounds: whole verifications one at a time (RegisterAuthorization,
CreateVerification, WatchVerification until the report, GetReport) and bursts of GetVerification. Each figure
is the median over the rounds; the ratio is mTLS over plaintext. Client and server share this process (and so
the TLS work of both ends); a long-lived channel pays the handshake once, as a case system's does.

    .venv/bin/python bench/bench_mtls.py [--rounds 5] [--verifications 20] [--reads 300]
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

import grpc

from connectors import SandboxDataset, sandbox_connectors
from connectors.tls import certificate_authority, issue_certificate
from consent import SigningKey
from hedui.v1 import consent_pb2, consent_pb2_grpc, verification_pb2, verification_pb2_grpc
from verifier.access import Role, ServerTransport
from verifier.access._transport import SERVER_NAMES, mutual_tls
from verifier.api import build_server, envelope_message
from verifier.cli.verify import signed_authorization
from verifier.config import Settings
from verifier.protojson import plain_to_message
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database


async def _verification(channel: grpc.aio.Channel, request: object, key: SigningKey, plain: dict[str, object]) -> str:
    """One whole verification through the API; its name."""
    consent = consent_pb2_grpc.ConsentServiceStub(channel)
    verifications = verification_pb2_grpc.VerificationServiceStub(channel)
    envelope = signed_authorization(request, key, dt.date.today())  # type: ignore[arg-type]
    auth = await consent.RegisterAuthorization(
        consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(envelope))
    )
    create = verification_pb2.CreateVerificationRequest(authorizations=[auth.name])
    plain_to_message(plain, create.request)
    created = await verifications.CreateVerification(create)
    async for event in verifications.WatchVerification(verification_pb2.WatchVerificationRequest(name=created.name)):
        if event.verification.latest_report and event.verification.state != verification_pb2.Verification.RUNNING:
            break
    await verifications.GetReport(verification_pb2.GetReportRequest(name=f"{created.name}/reports/latest"))
    return str(created.name)


async def _round(
    channel: grpc.aio.Channel, args: argparse.Namespace, context: tuple[object, SigningKey, dict[str, object]]
) -> tuple[float, float]:
    """(seconds per verification, seconds per GetVerification) of one round on ``channel``."""
    started = time.perf_counter()
    name = ""
    for _ in range(args.verifications):
        name = await _verification(channel, *context)
    per_verification = (time.perf_counter() - started) / args.verifications
    stub = verification_pb2_grpc.VerificationServiceStub(channel)
    started = time.perf_counter()
    for _ in range(args.reads):
        await stub.GetVerification(verification_pb2.GetVerificationRequest(name=name))
    return per_verification, (time.perf_counter() - started) / args.reads


async def main(args: argparse.Namespace) -> None:
    """Run the rounds and print the medians and ratios."""
    text = importlib.resources.files("verifier").joinpath("data/demo-household.json").read_text("utf-8")
    plain = json.loads(text)
    request = parse_request(plain)
    with tempfile.TemporaryDirectory(prefix="hedui-bench-mtls-") as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'hedui.db'}")
        service = HeduiService(Database(settings.database_url), sandbox_connectors(SandboxDataset.demo()), settings)
        await service.start()
        key = SigningKey.generate_ed25519()
        await service.trust_store.add(request.commissioned_by, key.public_pem())
        ca, ca_key = certificate_authority("bench CA")
        server_pair = issue_certificate(ca, ca_key, "localhost", server_names=SERVER_NAMES)
        client = issue_certificate(ca, ca_key, "bench-case-system")
        await service.clients.add(client[0], request.commissioned_by, [Role.CASE_SYSTEM.value], name="bench")
        _, plain_port, stop_plain = await build_server(service, "127.0.0.1:0")
        _, tls_port, stop_tls = await build_server(
            service, "127.0.0.1:0", ServerTransport(mutual_tls(server_pair[0], server_pair[1], ca))
        )
        plaintext = grpc.aio.insecure_channel(f"127.0.0.1:{plain_port}")
        mtls = grpc.aio.secure_channel(
            f"127.0.0.1:{tls_port}",
            grpc.ssl_channel_credentials(ca, client[1], client[0]),
            options=[("grpc.ssl_target_name_override", "localhost")],
        )
        figures: dict[str, list[tuple[float, float]]] = {"plaintext": [], "mtls": []}
        try:
            for channel in (plaintext, mtls):  # warm up both: connections, caches
                await _round(channel, argparse.Namespace(verifications=2, reads=20), (request, key, plain))
            for _ in range(args.rounds):
                figures["plaintext"].append(await _round(plaintext, args, (request, key, plain)))
                figures["mtls"].append(await _round(mtls, args, (request, key, plain)))
        finally:
            await plaintext.close()
            await mtls.close()
            await stop_plain()
            await stop_tls()
            await service.close()
    medians = {k: (statistics.median(v[0] for v in f), statistics.median(v[1] for v in f)) for k, f in figures.items()}
    for what, index in (("verification (register, create, watch, report)", 0), ("GetVerification", 1)):
        plain_ms, tls_ms = medians["plaintext"][index] * 1000, medians["mtls"][index] * 1000
        print(f"{what}: plaintext {plain_ms:.2f} ms, mTLS {tls_ms:.2f} ms, ratio {tls_ms / plain_ms:.3f} (aim ≤ 1.15)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--verifications", type=int, default=20)
    parser.add_argument("--reads", type=int, default=300)
    asyncio.run(main(parser.parse_args()))
