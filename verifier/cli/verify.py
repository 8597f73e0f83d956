"""``hedui verify REQUEST.json``: one verification in-process, through the same service code as the server.

The departments are the configured ones (``--config FILE`` and ``HEDUI_*``; without a config, the
sandbox departments answering from the built-in demo data); ``--sandbox``, ``--policy`` and ``--db``
override the configuration's values. Members whose ``"signed"`` is not ``false`` are covered by an
authorization signed with a fresh local development key, trusted for one hour. Every input is checked
before anything is written: invalid input exits 2 with nothing created (not even the key files).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors import Connector, SandboxDataset, sandbox_connectors
from connectors.departments import DepartmentCatalogue
from consent import (
    AUTHORIZATION_PAYLOAD_TYPE,
    AuthorizedMember,
    Envelope,
    SigningKey,
    authorization_payload,
    sign_envelope,
)
from verifier.cli._common import (
    UsageError,
    check_db_url,
    close_connectors,
    configured_connectors,
    console,
    read_json,
    read_only_settings,
    service_settings,
)
from verifier.config import Settings
from verifier.errors import ServiceError
from verifier.operations import Caller
from verifier.policy import PolicyBook, PolicyError, load_policy
from verifier.report.html import render_report_html
from verifier.report.text import print_report
from verifier.request import RequestError, VerificationRequest, parse_request
from verifier.service import HeduiService
from verifier.storage.db import Database

__all__ = ["PRINTED", "add_verify_command", "run_verification", "signed_authorization", "verify_and_render"]

# The printed views, rendered with the service's print context (centre, authorizations' paper details, digest).
PRINTED = frozenset({"html", "pdf"})
# How much longer than the slowest department's deadline ``verify`` waits for the report.
VERIFY_TIMEOUT_MARGIN = 30.0


def signed_authorization(
    request: VerificationRequest, key: SigningKey, today: dt.date, *, signed_at: dt.datetime | None = None
) -> Envelope:
    """An authorization for every member whose ``signed`` is not false, signed with ``key`` (at ``signed_at``)."""
    signers = [AuthorizedMember(m.id_number, m.name) for m in request.members if m.signed]
    payload = authorization_payload(
        commissioned_by=request.commissioned_by,
        purpose=request.purpose,
        members=signers,
        valid_from=today,
        valid_until=today + dt.timedelta(days=180),
        evidence={
            "kind": "development",
            "note": "signed by hedui's local development key",
            # The printed report shows an authorization's form number (docs/report.md); a development one has none.
            "form_number": f"开发授权-{today:%Y%m%d}",
        },
        signed_at=signed_at,
    )
    return sign_envelope(payload, AUTHORIZATION_PAYLOAD_TYPE, (key,))


async def run_verification(
    request: VerificationRequest, connectors: Mapping[str, Connector], policies: PolicyBook, settings: Settings
) -> dict[str, Any]:
    """Trust a fresh development key, register its authorization, verify and return the latest report."""
    report, _ = await verify_and_render(request, connectors, policies, settings, "json")
    return report


async def verify_and_render(
    request: VerificationRequest,
    connectors: Mapping[str, Connector],
    policies: PolicyBook,
    settings: Settings,
    view: str,
) -> tuple[dict[str, Any], str | bytes | None]:
    """:func:`run_verification`, and the report's printed ``view`` (``html`` or ``pdf``; else none), rendered
    while the service is up (it reads the authorizations' form numbers and signing dates)."""
    service = HeduiService(Database.from_settings(settings), connectors, settings, policies)
    try:
        await service.start()
        caller = Caller(operator="hedui-verify", client="cli")
        key = SigningKey.generate(settings.crypto_suite)  # issue 17: SM2 under the sm suite
        now = dt.datetime.now(dt.UTC)
        await service.trust_store.add(
            request.commissioned_by,
            key.public_pem(),
            not_before=now - dt.timedelta(minutes=1),
            not_after=now + dt.timedelta(hours=1),
            note="hedui verify: local development key",
            caller=caller,
        )
        envelope = signed_authorization(request, key, now.date(), signed_at=now)
        auth = await service.authorizations.register(envelope, caller=caller)
        created = await service.verifications.create(request, [auth.name], caller=caller)
        slowest = max((settings.deadline(d) for d in connectors), default=settings.department_deadline_seconds)
        await service.verifications.wait_for_report(created.name, slowest + VERIFY_TIMEOUT_MARGIN)
        report = await service.reports.get(f"{created.name}/reports/latest", caller)
        rendered = await service.reports.render(report, view) if view in PRINTED else None
        return report, rendered
    finally:
        await service.close()


async def _verify(
    request: VerificationRequest, dataset: SandboxDataset, policies: PolicyBook, db_url: str, settings: Settings
) -> dict[str, Any]:
    """One verification against the sandbox departments of ``dataset`` (kept for the tests that call it)."""
    chosen = settings.with_overrides(database_url=db_url)
    return await run_verification(request, sandbox_connectors(dataset), policies, chosen)


def _request(path: Path) -> VerificationRequest:
    """The request file, checked; a request nobody signed is refused (nothing may be queried)."""
    try:
        request = parse_request(read_json(path, "request"))
    except RequestError as exc:
        raise UsageError(f"{path}: {exc}") from None
    if not any(m.signed for m in request.members):
        raise UsageError(f"{path}: no member has signed; nothing may be queried")
    return request


def _policies(policy: Path | None, settings: Settings) -> PolicyBook:
    """``--policy`` alone if given, else the configuration's policy files beside the built-in default."""
    try:
        if policy:
            return PolicyBook([load_policy(policy, departments=settings.catalogue)])
        return PolicyBook.load(settings.policy_files, departments=settings.catalogue)
    except PolicyError as exc:
        raise UsageError(f"policy: {exc}") from None


async def _run(
    request: VerificationRequest,
    connectors: Mapping[str, Connector],
    policies: PolicyBook,
    settings: Settings,
    view: str,
) -> tuple[dict[str, Any], str | bytes | None]:
    """:func:`verify_and_render`, the connectors closed afterwards."""
    try:
        return await verify_and_render(request, connectors, policies, settings, view)
    finally:
        await close_connectors(connectors)


def cmd_verify(args: argparse.Namespace) -> int:
    """``hedui verify``: check every input, then verify and print the report (exit 1 if none came in time)."""
    request = _request(args.request)
    configured = read_only_settings(args.config)
    policies = _policies(args.policy, configured)
    if request.policy and not policies.knows(request.policy):
        raise UsageError(f"{args.request}: policy: no policy for locality {request.policy!r}")
    if args.db:
        check_db_url(args.db)
    connectors = configured_connectors(configured, args.sandbox or configured.sandbox)
    settings = service_settings(args.config, db=args.db)  # the database opened before a key file is created
    try:
        report, rendered = asyncio.run(_run(request, connectors, policies, settings, args.format))
    except ServiceError as exc:
        raise UsageError(str(exc)) from None
    except TimeoutError:
        print("hedui: error: no report before the departments' deadline (see the service log)", file=sys.stderr)
        return 1
    if isinstance(rendered, bytes):
        sys.stdout.buffer.write(rendered)
        sys.stdout.buffer.flush()
    elif rendered is not None:
        sys.stdout.write(rendered)
    else:
        output_report(report, args.format, settings.catalogue)
    return 0


def output_report(report: dict[str, Any], fmt: str, catalogue: DepartmentCatalogue) -> None:
    """The report on standard output as JSON, the printable HTML document (departments named from the
    ``catalogue``) or the terminal tables."""
    if fmt == "json":
        print(json.dumps(report, ensure_ascii=False, indent=2))
    elif fmt == "html":
        sys.stdout.write(render_report_html(report, catalogue=catalogue))
    else:
        print_report(report, console())


def add_verify_command(sub: Any) -> None:
    """Register ``hedui verify``."""
    verify = sub.add_parser("verify", help="run one verification in-process and print the report")
    verify.add_argument("request", type=Path, help="verification request JSON")
    verify.add_argument("--config", type=Path, help="TOML config: its departments' connectors, policies, database")
    verify.add_argument("--sandbox", type=Path, help="sandbox dataset JSON (default: the config's, else the demo data)")
    verify.add_argument("--policy", type=Path, help="locality policy TOML (default: the config's and the built-in)")
    verify.add_argument("--db", help="database URL (default: the config's, else sqlite:///.hedui/hedui.db)")
    verify.add_argument(
        "--format",
        choices=("text", "json", "html", "pdf"),
        default="text",
        help="text (terminal), json, html (the printable document) or pdf (the official report, to stdout)",
    )
    verify.set_defaults(func=cmd_verify)
