"""The ``hedui`` command: demo, serve, verify, keys, audit.

Invalid input exits 2 with one line on stderr and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.resources
import json
import logging
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import grpc
import prometheus_client
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from audit.checkpoint import NoteVerifier, open_checkpoint
from audit.merkle import ProofError, leaf_hash, verify_inclusion
from audit.verify import check_stored_log
from connectors import Connector, SandboxDataset, SandboxError, sandbox_connectors
from connectors.registry import ConnectorConfigError, build_connectors
from consent import (
    AUTHORIZATION_PAYLOAD_TYPE,
    AuthorizedMember,
    SigningKey,
    authorization_payload,
    sign_envelope,
)
from hedui.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    verification_pb2,
    verification_pb2_grpc,
)
from verifier.api import OPERATOR_METADATA, build_server, envelope_message
from verifier.audit_cli import add_audit_commands
from verifier.connector_cli import add_connector_commands
from verifier.consent_cli import add_consent_commands
from verifier.errors import ServiceError
from verifier.html import render_report_html
from verifier.policy import PolicyError, load_policy
from verifier.policy_cli import add_policy_commands
from verifier.protojson import message_to_plain
from verifier.render import print_report
from verifier.request import RequestError, VerificationRequest, parse_request
from verifier.service import Caller, HeduiService, PolicyBook
from verifier.settings import ConfigError, Settings, load_settings
from verifier.storage.db import Database
from verifier.usage import UsageError

__all__ = ["main"]

VERIFY_TIMEOUT_MARGIN = 30.0


def _fail(message: str) -> NoReturn:
    first_line = message.strip().splitlines()[0] if message.strip() else "error"
    print(f"hedui: error: {first_line}", file=sys.stderr)
    raise SystemExit(2)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what} {path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} {path}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def signed_authorization(request: VerificationRequest, key: SigningKey, today: dt.date) -> Any:
    """An authorization for every member whose ``signed`` is not false, signed with ``key``."""
    signers = [AuthorizedMember(m.id_number, m.name) for m in request.members if m.signed]
    payload = authorization_payload(
        commissioned_by=request.commissioned_by,
        purpose=request.purpose,
        members=signers,
        valid_from=today,
        valid_until=today + dt.timedelta(days=180),
        evidence={"kind": "development", "note": "signed by hedui's local development key"},
    )
    return sign_envelope(payload, AUTHORIZATION_PAYLOAD_TYPE, (key,))


# --- verify ---------------------------------------------------------------------------------------


async def _verify(
    request: VerificationRequest, dataset: SandboxDataset, policies: PolicyBook, db_url: str, settings: Settings
) -> dict[str, Any]:
    service = HeduiService(Database(db_url), sandbox_connectors(dataset), settings, policies)
    try:
        await service.start()
        caller = Caller(operator="hedui-verify", client="cli")
        key = SigningKey.generate_ed25519()
        now = dt.datetime.now(dt.UTC)
        await service.add_trusted_key(
            request.commissioned_by,
            key.public_pem(),
            not_before=now - dt.timedelta(minutes=1),
            not_after=now + dt.timedelta(hours=1),
            note="hedui verify: local development key",
            caller=caller,
        )
        auth = await service.register_authorization(signed_authorization(request, key, now.date()), caller=caller)
        view = await service.create_verification(request, [auth.name], caller=caller)
        await service.wait_for_report(view.name, settings.department_deadline_seconds + VERIFY_TIMEOUT_MARGIN)
        return await service.get_report(f"{view.name}/reports/latest", caller)
    finally:
        await service.close()


def _check_db_url(url: str) -> None:
    """Only SQLite and PostgreSQL URLs; anything else is invalid input, found before anything runs."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise UsageError(f"--db {url!r} is not a database URL") from None
    if backend not in ("sqlite", "postgresql"):
        raise UsageError(f"--db: {backend} is not supported (use sqlite:/// or postgresql://)")


def cmd_verify(args: argparse.Namespace) -> int:
    raw = _read_json(args.request, "request")
    try:
        request = parse_request(raw)
    except RequestError as exc:
        raise UsageError(f"{args.request}: {exc}") from None
    if not any(m.signed for m in request.members):
        raise UsageError(f"{args.request}: no member has signed; nothing may be queried")
    try:
        dataset = SandboxDataset.load(args.sandbox) if args.sandbox else SandboxDataset.demo()
    except SandboxError as exc:
        raise UsageError(f"sandbox {args.sandbox}: {exc}") from None
    try:
        policies = PolicyBook([load_policy(args.policy)]) if args.policy else PolicyBook.load(())
    except PolicyError as exc:
        raise UsageError(f"policy: {exc}") from None
    if request.policy and not policies.knows(request.policy):
        raise UsageError(f"{args.request}: policy: no policy for locality {request.policy!r}")
    if args.db:
        _check_db_url(args.db)
    settings = load_settings(None)
    db_url = args.db or settings.database_url
    try:
        report = asyncio.run(_verify(request, dataset, policies, db_url, settings))
    except ServiceError as exc:
        raise UsageError(str(exc)) from None
    except TimeoutError:
        print("hedui: error: no report before the departments' deadline (see the service log)", file=sys.stderr)
        return 1
    _output(report, args.format)
    return 0


def _output(report: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(report, ensure_ascii=False, indent=2))
    elif fmt == "html":
        sys.stdout.write(render_report_html(report))
    else:
        print_report(report, _console())


def _console() -> Console:
    """A terminal console; 120 columns when the output is not a terminal, so tables stay readable."""
    return Console() if sys.stdout.isatty() else Console(width=120)


# --- serve ----------------------------------------------------------------------------------------


async def _serve(settings: Settings, connectors: Mapping[str, Connector]) -> None:
    service = HeduiService(Database(settings.database_url), connectors, settings)
    await service.start()
    _, port, stop = await build_server(service, settings.listen)
    logging.getLogger("hedui").info(
        "hedui serving on %s (port %d), database %s", settings.listen, port, service.db.url.split("@")[-1]
    )
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await stop()
    await service.close()
    for connector in connectors.values():
        close = getattr(connector, "close", None)
        if close is not None:
            await close()


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        dataset = SandboxDataset.load(settings.sandbox) if settings.sandbox else SandboxDataset.demo()
        PolicyBook.load(settings.policy_files)
        connectors = build_connectors(settings.departments, {"dataset": dataset})
    except (ConfigError, SandboxError, PolicyError, ConnectorConfigError) as exc:
        raise UsageError(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if settings.metrics_listen:
        host, _, port = settings.metrics_listen.rpartition(":")
        if not port.isdigit():
            raise UsageError(f"metrics_listen: {settings.metrics_listen!r} is not host:port")
        prometheus_client.start_http_server(int(port), addr=host or "127.0.0.1")
    asyncio.run(_serve(settings, connectors))
    return 0


# --- db -------------------------------------------------------------------------------------------


async def _migrate(url: str, service_role: str | None) -> None:
    db = Database(url)
    try:
        await db.migrate()
        if service_role:
            await db.grant_service_role(service_role)
    finally:
        await db.close()


def cmd_db_migrate(args: argparse.Namespace) -> int:
    _check_db_url(args.db)
    if args.service_role and not args.db.startswith("postgresql"):
        raise UsageError("--service-role: database roles exist on PostgreSQL only")
    try:
        asyncio.run(_migrate(args.db, args.service_role))
    except ValueError as exc:
        raise UsageError(f"--service-role: {exc}") from None
    granted = f"; {args.service_role} may read and insert, never change audit records" if args.service_role else ""
    print(f"database at the newest schema{granted}")
    return 0


# --- demo -----------------------------------------------------------------------------------------


async def _demo(console: Console) -> int:
    with tempfile.TemporaryDirectory(prefix="hedui-demo-") as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/hedui.db", department_deadline_seconds=10.0)
        service = HeduiService(Database(settings.database_url), sandbox_connectors(SandboxDataset.demo()), settings)
        await service.start()
        _, port, stop = await build_server(service, "127.0.0.1:0")
        try:
            return await _demo_client(service, port, console)
        finally:
            await stop()
            await service.close()


async def _demo_client(service: HeduiService, port: int, console: Console) -> int:
    text = importlib.resources.files("verifier").joinpath("data/demo-household.json").read_text("utf-8")
    request = parse_request(json.loads(text))
    key = SigningKey.generate_ed25519()
    await service.add_trusted_key(request.commissioned_by, key.public_pem(), note="demo organisation key")
    console.print(
        f"[bold]hedui demo[/] · service on 127.0.0.1:{port} · trusted key {key.keyid} for {request.commissioned_by}"
    )
    metadata = ((OPERATOR_METADATA, "demo-case-worker"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        consent = consent_pb2_grpc.ConsentServiceStub(channel)
        verifications = verification_pb2_grpc.VerificationServiceStub(channel)
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        envelope = signed_authorization(request, key, dt.date.today())
        auth = await consent.RegisterAuthorization(
            consent_pb2.RegisterAuthorizationRequest(envelope=envelope_message(envelope)), metadata=metadata
        )
        console.print(f"1. RegisterAuthorization → {auth.name} ({len(auth.members)} members signed)")
        create = verification_pb2.CreateVerificationRequest(authorizations=[auth.name])
        from verifier.protojson import plain_to_message

        plain_to_message(request.to_plain(), create.request)
        verification = await verifications.CreateVerification(create, metadata=metadata)
        console.print(f"2. CreateVerification → {verification.name}")
        console.print("3. WatchVerification:")
        seen: dict[str, str] = {}
        async for event in verifications.WatchVerification(
            verification_pb2.WatchVerificationRequest(name=verification.name), metadata=metadata
        ):
            for d in event.verification.departments:
                if seen.get(d.department) != d.status:
                    seen[d.department] = d.status
                    console.print(f"   {d.department:<16} {d.status:<12} {d.records} records {d.detail}")
            state = verification_pb2.Verification.State.Name(event.verification.state)
            if event.verification.latest_report and state != "RUNNING":
                break
        report = await verifications.GetReport(
            verification_pb2.GetReportRequest(name=f"{verification.name}/reports/latest"), metadata=metadata
        )
        console.print(f"4. GetReport → {report.name}")
        print_report(message_to_plain(report), console)
        events = await audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(page_size=500, verification=verification.name), metadata=metadata
        )
        kinds: dict[str, int] = {}
        for e in events.events:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        sent = kinds.get("DEPARTMENT_QUERY_SENT", 0)
        settled = sum(
            kinds.get(k, 0)
            for k in ("DEPARTMENT_ANSWER_RECEIVED", "DEPARTMENT_QUERY_FAILED", "DEPARTMENT_ANSWER_PENDING")
        )
        ok = sent > 0 and sent == settled and kinds.get("REPORT_CREATED", 0) >= 1 and kinds.get("REPORT_READ", 0) >= 1
        console.print("5. Audit trail: " + ", ".join(f"{k} ×{v}" for k, v in sorted(kinds.items())), soft_wrap=True)
        console.print(
            "   every query has its answer recorded" if ok else "   [red]INCOMPLETE: a query has no recorded answer[/]"
        )
        proven = await _demo_proofs(service, audit, events.events, metadata, console)
        return 0 if ok and proven else 1


async def _demo_proofs(
    service: HeduiService,
    audit: audit_pb2_grpc.AuditServiceStub,
    events: Sequence[audit_pb2.AuditEvent],
    metadata: tuple[tuple[str, str], ...],
    console: Console,
) -> bool:
    """Prove each of the verification's audit entries against the signed tree head, then check the whole log."""
    verifier = NoteVerifier.from_vkey(service.log.signer.verifier_key())
    head = await audit.GetSignedTreeHead(audit_pb2.GetSignedTreeHeadRequest(), metadata=metadata)
    checkpoint = open_checkpoint(head.checkpoint, verifier)
    console.print(
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
            console.print(f"   [red]entry {event.index}: {exc}[/]")
    console.print(f"   {proven} of {len(events)} entries of this verification proven in the signed tree (RFC 9162)")
    async with service.db.sessions() as session:
        result = await check_stored_log(session, verifier, origin=checkpoint.origin)
    console.print(
        f"7. Audit log check: {result.entries} entries, {result.heads} signed tree head(s) — "
        + ("intact" if result.intact else f"[red]NOT intact: {result.failure}[/]")
    )
    return proven == len(events) and result.intact


def cmd_demo(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_demo(_console()))


# --- entry point ----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _fail(message)


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="hedui", description="Household financial verification (核对) service.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="run a demo verification through the gRPC API and print the report")
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--config", type=Path, help="TOML config file")
    serve.set_defaults(func=cmd_serve)

    verify = sub.add_parser("verify", help="run one verification in-process and print the report")
    verify.add_argument("request", type=Path, help="verification request JSON")
    verify.add_argument("--sandbox", type=Path, help="sandbox dataset JSON (default: the built-in demo data)")
    verify.add_argument("--policy", type=Path, help="locality policy TOML (default: the built-in policy)")
    verify.add_argument("--db", help="database URL (default: sqlite:///.hedui/hedui.db)")
    verify.add_argument("--format", choices=("text", "json", "html"), default="text")
    verify.set_defaults(func=cmd_verify)

    add_consent_commands(sub, _Parser)  # hedui keys ..., hedui consent ...
    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    migrate = db_sub.add_parser("migrate", help="create or upgrade the schema (as the tables' owner)")
    migrate.add_argument("--db", required=True, help="database URL of the owning (migrating) role")
    migrate.add_argument(
        "--service-role", help="PostgreSQL role the service runs as: granted no UPDATE/DELETE/TRUNCATE on the log"
    )
    migrate.set_defaults(func=cmd_db_migrate)

    add_audit_commands(sub, _Parser)
    add_connector_commands(sub, _Parser)
    add_policy_commands(sub, _Parser)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        _fail(str(exc))
    return code


if __name__ == "__main__":
    sys.exit(main())
