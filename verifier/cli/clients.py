"""``hedui clients add|list|revoke``: the gRPC API's clients, each a certificate's key with an organisation and roles.

Like ``hedui keys``, the commands work on the database with the service's key files (each change is an audit
entry with its MAC), beside a running server or not; a revocation counts at the server within
:data:`verifier.access.CACHE_SECONDS`. docs/access.md says how a case system gets its certificate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from rich.table import Table

from connectors.tls import CertificateError, load_certificates
from verifier.access import Client, DevelopmentCa, Role
from verifier.cli._common import UsageError, add_database_options, console, read_bytes, shown, trust_store_settings
from verifier.cli._edges import CannotCreate, probe_database
from verifier.cli.keys import run_admin
from verifier.config import Settings
from verifier.operations import Caller
from verifier.service import HeduiService

__all__ = ["add_clients_commands"]

CALLER = Caller.internal(operator="hedui-clients", client="cli")


def _plain(client: Client) -> dict[str, Any]:
    """One client as a JSON line."""
    return {
        "name": client.name,
        "organisation": client.organisation,
        "roles": sorted(client.roles),
        "key_sha256": client.key_sha256,
        "not_after": client.not_after.isoformat(),
        "added_at": client.added_at.isoformat(),
        "revoked_at": None if client.revoked_at is None else client.revoked_at.isoformat(),
        "revoke_reason": client.revoke_reason,
        "note": client.note,
    }


def _client_ca(settings: Settings) -> Path | None:
    """The CA the server checks client certificates against: ``[tls] client_ca_file``, else the development CA's
    (when it exists), else none known."""
    tls = settings.tls
    if tls.client_ca_file is not None:
        return tls.client_ca_file
    development = DevelopmentCa(tls.development_dir).path("ca.pem")
    return development if development.is_file() and not tls.plaintext else None


def _check_issuer(pem: bytes, settings: Settings) -> None:
    """Refuse a certificate the server's TLS would refuse: one the configured client CA did not issue."""
    ca_file = _client_ca(settings)
    if ca_file is None:
        return
    try:
        certificate = load_certificates(pem)[0]
        ca = load_certificates(read_bytes(ca_file, "tls.client_ca_file"))[0]
    except CertificateError as exc:
        raise UsageError(f"--certificate: {exc}") from None
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise UsageError(
            f"--certificate: not issued by the client CA {ca_file} itself: the server would refuse it"
        ) from None


def cmd_clients_add(args: argparse.Namespace) -> int:
    """``hedui clients add``: know a client certificate's key as a client of an organisation with roles."""
    pem = read_bytes(args.certificate, "--certificate")
    settings = trust_store_settings(args)
    _check_issuer(pem, settings)
    try:  # the database can be opened (or created) before anything is written
        probe_database(settings.database_url)
    except CannotCreate as exc:
        raise UsageError(str(exc)) from None

    async def add(service: HeduiService) -> Client:
        """Add the client."""
        return await service.clients.add(
            pem, args.organisation, args.role, name=args.name or "", note=args.note, caller=CALLER
        )

    client = run_admin(settings, add)
    print(f"{client.name}  {client.organisation}  {','.join(sorted(client.roles))}  sha256:{client.key_sha256}")
    return 0


def cmd_clients_list(args: argparse.Namespace) -> int:
    """``hedui clients list``: every client with its roles and revocation, as a table or JSON lines."""
    settings = trust_store_settings(args, existing=True)

    async def listing(service: HeduiService) -> list[Client]:
        """The clients, of one organisation if asked."""
        return await service.clients.list(args.organisation or "")

    clients = run_admin(settings, listing)
    if args.format == "json":
        for client in clients:
            print(json.dumps(_plain(client), ensure_ascii=False, sort_keys=True))
        return 0
    table = Table(title=f"clients ({len(clients)})")
    for column in ("name", "organisation", "roles", "key sha256", "until", "revoked at", "reason"):
        table.add_column(column, no_wrap=column != "reason")
    now = dt.datetime.now(dt.UTC)
    for c in clients:
        until = shown(c.not_after) + (" (expired)" if c.not_after < now else "")
        roles = ",".join(sorted(c.roles))
        table.add_row(
            c.name, c.organisation, roles, c.key_sha256[:16] + "…", until, shown(c.revoked_at), c.revoke_reason or ""
        )
    console(180).print(table)
    return 0


def cmd_clients_revoke(args: argparse.Namespace) -> int:
    """``hedui clients revoke``: refuse a client from now on."""
    settings = trust_store_settings(args, existing=True)

    async def revoke(service: HeduiService) -> Client:
        """Revoke the client."""
        return await service.clients.revoke(args.client, args.reason, caller=CALLER)

    client = run_admin(settings, revoke)
    print(f"{client.name} of {client.organisation} revoked from {shown(client.revoked_at)} (China time)")
    return 0


def add_clients_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui clients ...``; invalid input raises ``UsageError`` (exit 2)."""
    clients = sub.add_parser("clients", help="manage the gRPC API's clients (certificates, organisations, roles)")
    clients_sub = clients.add_subparsers(dest="clients_command", required=True, parser_class=parser_class)

    add = clients_sub.add_parser("add", help="know a client certificate as a client of an organisation")
    add.add_argument("--certificate", type=Path, required=True, help="the client's certificate PEM")
    add.add_argument("--organisation", required=True, help="its organisation id, e.g. 533401-civil-affairs")
    add.add_argument(
        "--role", action="append", required=True, choices=[r.value for r in Role], help="a role (repeat for several)"
    )
    add.add_argument("--name", help="the client's name in the audit log (default: the certificate's common name)")
    add.add_argument("--note", default="", help="a note kept with the client")
    add_database_options(add)
    add.set_defaults(func=cmd_clients_add)

    listing = clients_sub.add_parser("list", help="list the clients with their roles and revocations")
    listing.add_argument("--organisation")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    add_database_options(listing)
    listing.set_defaults(func=cmd_clients_list)

    revoke = clients_sub.add_parser("revoke", help="refuse a client from now on")
    revoke.add_argument("client", help="the client's name or its key's SHA-256")
    revoke.add_argument("--reason", required=True)
    add_database_options(revoke)
    revoke.set_defaults(func=cmd_clients_revoke)
