"""``hedui demo``: the main job on the embedded default, through the gRPC API, with nothing to set up.

Starts the service on a free loopback port with a temporary SQLite database and the built-in sandbox
data, trusts a fresh organisation key, registers the demo household's authorization, creates the
verification, watches it, prints the report, and proves the verification's audit entries in the
signed tree. Exit 0 when every query has its answer recorded and every entry is proven.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.resources
import json
import logging
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from audit.checkpoint import NoteVerifier, open_checkpoint
from audit.merkle import ProofError, leaf_hash, verify_inclusion
from connectors import SandboxDataset, sandbox_connectors
from consent import SigningKey
from hedui.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    verification_pb2,
    verification_pb2_grpc,
)
from verifier.access import ClientTransport, client_transport, server_transport
from verifier.api import OPERATOR_METADATA, build_server, envelope_message
from verifier.cli._common import console, hedui_channel, log_signer
from verifier.cli.verify import signed_authorization
from verifier.config import Settings, TlsSettings
from verifier.protojson import message_to_plain, plain_to_message
from verifier.report.text import print_report
from verifier.request import parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database

__all__ = ["add_demo_command"]

Metadata = tuple[tuple[str, str], ...]
# The audit kinds that settle a department query (an answer, a failure, or a ticket to poll).
INCOMPLETE = "INCOMPLETE: a query has no recorded answer"
SETTLING_KINDS = ("DEPARTMENT_ANSWER_RECEIVED", "DEPARTMENT_QUERY_FAILED", "DEPARTMENT_ANSWER_PENDING")


async def _demo(out: Console) -> int:
    """The demo against a service of its own in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="hedui-demo-") as tmp:
        # Issue 13: the development CA in the demo's own data directory; the demo calls as its admin client.
        tls = TlsSettings(development_dir=Path(tmp) / "tls")
        settings = Settings(database_url=f"sqlite:///{tmp}/hedui.db", department_deadline_seconds=10.0, tls=tls)
        service = HeduiService(Database.from_settings(settings), sandbox_connectors(SandboxDataset.demo()), settings)
        await service.start()
        _, port, stop = await build_server(service, "127.0.0.1:0", server_transport(tls, "127.0.0.1:0"))
        try:
            return await _demo_client(service, port, out, client_transport(tls))
        finally:
            await stop()
            await service.close()


async def _watch(
    verifications: verification_pb2_grpc.VerificationServiceStub, name: str, metadata: Metadata, out: Console
) -> None:
    """Print each department's status as it changes, until the verification has its report."""
    seen: dict[str, str] = {}
    async for event in verifications.WatchVerification(
        verification_pb2.WatchVerificationRequest(name=name), metadata=metadata
    ):
        for d in event.verification.departments:
            if seen.get(d.department) != d.status:
                seen[d.department] = d.status
                out.print(f"   {d.department:<16} {d.status:<12} {d.records} records {d.detail}")
        state = verification_pb2.Verification.State.Name(event.verification.state)
        if event.verification.latest_report and state != "RUNNING":
            break


def _trail_complete(events: Sequence[audit_pb2.AuditEvent], out: Console) -> bool:
    """Print the verification's audit trail by kind; whether every query sent has its answer recorded."""
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    sent = kinds.get("DEPARTMENT_QUERY_SENT", 0)
    settled = sum(kinds.get(k, 0) for k in SETTLING_KINDS)
    ok = sent > 0 and sent == settled and kinds.get("REPORT_CREATED", 0) >= 1 and kinds.get("REPORT_READ", 0) >= 1
    out.print("5. Audit trail: " + ", ".join(f"{k} ×{v}" for k, v in sorted(kinds.items())), soft_wrap=True)
    out.print("   every query has its answer recorded" if ok else f"   [red]{INCOMPLETE}[/]")
    return ok


def _request_id() -> str:
    """A fresh idempotency key for one call (retried with the same key)."""
    return f"demo-{uuid.uuid4()}"


async def _demo_client(service: HeduiService, port: int, out: Console, transport: ClientTransport) -> int:
    """The case system's side: register, create, watch, read the report, check the audit trail."""
    text = importlib.resources.files("verifier").joinpath("data/demo-household.json").read_text("utf-8")
    request = parse_request(json.loads(text))
    key = SigningKey.generate_ed25519()
    await service.trust_store.add(request.commissioned_by, key.public_pem(), note="demo organisation key")
    out.print(
        f"[bold]hedui demo[/] · service on 127.0.0.1:{port} · trusted key {key.keyid} for {request.commissioned_by}"
    )
    metadata: Metadata = ((OPERATOR_METADATA, "demo-case-worker"),)
    async with hedui_channel(f"127.0.0.1:{port}", transport) as channel:
        consent = consent_pb2_grpc.ConsentServiceStub(channel)
        verifications = verification_pb2_grpc.VerificationServiceStub(channel)
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        envelope = signed_authorization(request, key, dt.date.today())
        # request_ids make the channel's retries (UNAVAILABLE) safe: one authorization, one verification.
        auth = await consent.RegisterAuthorization(
            consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(envelope), request_id=_request_id()),
            metadata=metadata,
        )
        out.print(f"1. RegisterAuthorization → {auth.name} ({len(auth.members)} members signed)")
        create = verification_pb2.CreateVerificationRequest(authorizations=[auth.name], request_id=_request_id())
        plain_to_message(request.to_plain(), create.request)
        verification = await verifications.CreateVerification(create, metadata=metadata)
        out.print(f"2. CreateVerification → {verification.name}")
        out.print("3. WatchVerification:")
        await _watch(verifications, verification.name, metadata, out)
        report = await verifications.GetReport(
            verification_pb2.GetReportRequest(name=f"{verification.name}/reports/latest"), metadata=metadata
        )
        out.print(f"4. GetReport → {report.name}")
        print_report(message_to_plain(report), out)
        events = await audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(page_size=500, verification=verification.name), metadata=metadata
        )
        ok = _trail_complete(events.events, out)
        proven = await _demo_proofs(service, audit, events.events, metadata, out)
        return 0 if ok and proven else 1


async def _demo_proofs(
    service: HeduiService,
    audit: audit_pb2_grpc.AuditServiceStub,
    events: Sequence[audit_pb2.AuditEvent],
    metadata: Metadata,
    out: Console,
) -> bool:
    """Prove each of the verification's audit entries against the signed tree head, then check the whole log."""
    verifier = NoteVerifier.from_vkey(log_signer(service.settings).verifier_key())
    head = await audit.GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest(), metadata=metadata)
    checkpoint = open_checkpoint(head.checkpoint, verifier)
    out.print(
        f"6. GetSignedTreeHead → {checkpoint.origin} size {checkpoint.size} root {checkpoint.root_hash.hex()[:16]}…"
        f" signed by {verifier.vkey.split('+')[1]}"
    )
    proven = 0
    for event in events:
        proof = await audit.GetInclusionProof(
            audit_pb2.GetInclusionProofRequest(index=event.index, tree_size=checkpoint.size), metadata=metadata
        )
        try:
            verify_inclusion(leaf_hash(event.entry), event.index, checkpoint.size, list(proof.hashes), head.root_hash)
            proven += 1
        except ProofError as exc:
            out.print(f"   [red]entry {event.index}: {exc}[/]")
    out.print(f"   {proven} of {len(events)} entries of this verification proven in the signed tree (RFC 9162)")
    result = await service.audit_queries.check_log()
    out.print(
        f"7. Audit log check: {result.entries} entries, {result.heads} signed tree head(s) — "
        + ("intact" if result.intact else f"[red]NOT intact: {result.failure}[/]")
    )
    return proven == len(events) and result.intact


def cmd_demo(args: argparse.Namespace) -> int:
    """``hedui demo``: exit 0 when the demo verification's audit trail is complete and proven."""
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_demo(console()))


def add_demo_command(sub: Any) -> None:
    """Register ``hedui demo``."""
    demo = sub.add_parser("demo", help="run a demo verification through the gRPC API and print the report")
    demo.set_defaults(func=cmd_demo)
