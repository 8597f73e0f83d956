"""``hedui connector ...``: the reference connector server and the conformance kit, for departments.

- ``hedui connector serve --department tax [--sandbox FILE] [--listen HOST:PORT] (--cert FILE --key FILE |
  --self-signed-out DIR) [--ticket-key FILE]`` serves one sandbox department as
  ``hedui.v1.ConnectorService`` over TLS and prints the address it listens on and its certificate's
  SHA-256 fingerprint. Tickets are signed with the key in ``--ticket-key FILE``, else with a random
  key kept in ``DIR/ticket.key`` beside the self-signed certificate (so that tickets survive a
  restart of the server), else with the key derived from the dataset
  (:func:`connectors.sandbox.dataset_ticket_key`).
- ``hedui connector check (--entry-point NAME | --address HOST:PORT --cert PEM) [--department D]
  [--sandbox FILE]`` runs the conformance kit (:mod:`connectors.conformance`) and prints a table:
  exit 0 when every check passes, 1 when one fails, 2 for invalid input.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.base import Connector
from connectors.conformance import CheckResult, check_connector
from connectors.records import DEPARTMENTS
from connectors.registry import ENTRY_POINT_GROUP, installed
from connectors.remote import RemoteConnector
from connectors.sandbox import MIN_TICKET_KEY_BYTES, SandboxConnector, SandboxDataset, SandboxError
from connectors.server import start_connector_server
from connectors.tls import (
    CertificateError,
    certificate_fingerprint,
    load_certificates,
    self_signed_certificate,
    split_address,
)
from consent.identity import IdentityNumberError, mask, validate_identity_number
from verifier.usage import UsageError

__all__ = ["add_connector_commands"]

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
TICKET_KEY_FILE = "ticket.key"
SELF_SIGNED_NAMES = ("127.0.0.1", "localhost")

Factory = Callable[[str, Mapping[str, Any]], Connector]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot read: {exc.strerror}") from None


def _dataset(path: Path | None) -> SandboxDataset:
    try:
        return SandboxDataset.load(path) if path is not None else SandboxDataset.demo()
    except SandboxError as exc:
        raise UsageError(f"--sandbox: {exc}") from None


# --- serve ------------------------------------------------------------------------------------------


def _key_pair(args: argparse.Namespace) -> tuple[bytes, bytes, str]:
    """(certificate PEM, key PEM, a line saying where they came from)."""
    if args.self_signed_out is not None:
        if args.cert is not None or args.key is not None:
            raise UsageError("give --cert and --key, or --self-signed-out, not both")
        directory: Path = args.self_signed_out
        cert_file, key_file = directory / CERT_FILE, directory / KEY_FILE
        if cert_file.exists() and key_file.exists():
            certificate, key = _read(cert_file, "--self-signed-out"), _read(key_file, "--self-signed-out")
            _check_pair(certificate, key, str(cert_file))
            return certificate, key, f"using the certificate {cert_file} and key {key_file}"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            certificate, key = self_signed_certificate(SELF_SIGNED_NAMES)
            cert_file.write_bytes(certificate)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
        except OSError as exc:
            raise UsageError(f"--self-signed-out {directory}: {exc.strerror}") from None
        names = ", ".join(SELF_SIGNED_NAMES)
        return certificate, key, f"wrote a self-signed certificate for {names}: {cert_file} (key {key_file})"
    if args.cert is None or args.key is None:
        raise UsageError("give --cert FILE --key FILE, or --self-signed-out DIR for a development certificate")
    certificate, key = _read(args.cert, "--cert"), _read(args.key, "--key")
    _check_pair(certificate, key, str(args.cert))
    return certificate, key, f"certificate {args.cert}"


def _ticket_key(args: argparse.Namespace) -> tuple[bytes | None, str]:
    """(the key that signs tickets, or None for the dataset's; a line saying where it came from).

    A key file holds the key as text (whitespace around it ignored), at least 16 bytes of it.
    """
    path: Path | None = args.ticket_key
    what = "--ticket-key"
    if path is None and args.self_signed_out is not None:
        path, what = args.self_signed_out / TICKET_KEY_FILE, "--self-signed-out"
        if not path.exists():
            try:
                path.touch(mode=0o600)
                path.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
            except OSError as exc:
                raise UsageError(f"{what} {path}: {exc.strerror}") from None
            return path.read_bytes().strip(), f"wrote a random ticket key: {path}"
    if path is None:
        return None, "tickets signed with the key derived from the dataset"
    key = _read(path, what).strip()
    if len(key) < MIN_TICKET_KEY_BYTES:
        raise UsageError(f"{what} {path}: a ticket key must be at least {MIN_TICKET_KEY_BYTES} bytes")
    return key, f"tickets signed with the key in {path}"


def _check_pair(certificate: bytes, key: bytes, where: str) -> None:
    try:
        first = load_certificates(certificate)[0]
    except CertificateError as exc:
        raise UsageError(f"{where}: {exc}") from None
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"the key for {where} is not an unencrypted PEM private key: {exc}") from None
    info = serialization.PublicFormat.SubjectPublicKeyInfo
    public = first.public_key().public_bytes(serialization.Encoding.PEM, info)
    if private.public_key().public_bytes(serialization.Encoding.PEM, info) != public:
        raise UsageError(f"the key does not belong to the certificate {where}")


async def _serve(connector: Connector, listen: str, certificate: bytes, key: bytes, lines: Sequence[str]) -> None:
    try:
        server = await start_connector_server(connector, listen, certificate, key)
    except OSError as exc:
        raise UsageError(f"--listen: {exc}") from None
    host, _ = split_address(listen)
    shown = f"[{host}]" if ":" in host else host
    department = connector.describe().department
    for line in lines:
        print(line, flush=True)
    print(f"connector server for {department} listening on {shown}:{server.port} (TLS)", flush=True)
    print(f"certificate SHA-256 fingerprint: {certificate_fingerprint(certificate)}", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await server.stop()


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        split_address(args.listen)
    except ValueError as exc:
        raise UsageError(f"--listen: {exc}") from None
    dataset = _dataset(args.sandbox)
    certificate, key, origin = _key_pair(args)
    ticket_key, tickets = _ticket_key(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    data = f"serving sandbox data from {args.sandbox}" if args.sandbox else "serving the built-in demo sandbox data"
    connector = SandboxConnector(args.department, dataset, ticket_key=ticket_key)
    asyncio.run(_serve(connector, args.listen, certificate, key, [origin, data, tickets]))
    return 0


# --- check ------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    department: str
    source: str
    results: list[CheckResult]
    skipped: str = ""


def _factory(name: str) -> Factory:
    entry_points = installed()
    found = entry_points.get(name)
    if found is None:
        listed = ", ".join(sorted(entry_points)) or "none"
        raise UsageError(f"--entry-point: no {name!r} in group {ENTRY_POINT_GROUP} (installed: {listed})")
    try:
        factory = found.load()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise UsageError(f"--entry-point {name}: cannot load {found.value}: {reason}") from None
    if not callable(factory):
        raise UsageError(f"--entry-point {name}: {found.value} is not callable")
    return factory  # type: ignore[no-any-return]


def _known_people(args: argparse.Namespace) -> list[str]:
    people: list[str] = []
    for number in args.id_number or ():
        try:
            people.append(validate_identity_number(number))
        except IdentityNumberError as exc:
            raise UsageError(f"--id-number {mask(number)}: {exc}") from None
    if args.sandbox is not None or not people:
        dataset = _dataset(args.sandbox)
        people.extend(sorted({r.subject for records in dataset.records.values() for r in records}))
    return list(dict.fromkeys(people))


async def _check_entry_point(args: argparse.Namespace, people: list[str]) -> list[_Outcome]:
    factory = _factory(args.entry_point)
    options: dict[str, Any] = {"sandbox": str(args.sandbox) if args.sandbox is not None else None}
    outcomes = []
    for department in [args.department] if args.department else DEPARTMENTS:
        source = f"entry point {args.entry_point}"
        try:
            connector = factory(department, options)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if args.department is None and isinstance(exc, LookupError | ValueError):
                outcomes.append(_Outcome(department, source, [], skipped=f"not served by this entry point ({reason})"))
                continue
            outcomes.append(
                _Outcome(department, source, [CheckResult("describe", False, f"the factory raised {reason}")])
            )
            continue

        async def reopen(department: str = department) -> Connector:
            return factory(department, options)

        results = await check_connector(
            connector,
            department=department,
            id_numbers=people,
            reopen=reopen,
            deadline_seconds=args.deadline,
            ticket_timeout_seconds=args.ticket_timeout,
        )
        outcomes.append(_Outcome(department, source, results))
    return outcomes


async def _check_address(args: argparse.Namespace, people: list[str]) -> list[_Outcome]:
    if args.cert is None:
        raise UsageError("--address needs --cert: the department's certificate PEM to pin")
    pem = _read(args.cert, "--cert")
    try:
        connector = RemoteConnector(
            args.address, pem, department=args.department, server_name=args.server_name, timeout=args.deadline
        )
    except (ValueError, CertificateError) as exc:
        raise UsageError(f"--address/--cert: {exc}") from None

    async def reopen() -> Connector:
        return await RemoteConnector.connect(
            args.address, pem, department=connector.department, server_name=args.server_name, timeout=args.deadline
        )

    try:
        results = await check_connector(
            connector,
            department=args.department,
            id_numbers=people,
            reopen=reopen,
            deadline_seconds=args.deadline,
            ticket_timeout_seconds=args.ticket_timeout,
        )
    finally:
        await connector.close()
    return [_Outcome(connector.department or args.department or "?", f"server at {args.address}", results)]


def _print(outcomes: list[_Outcome]) -> None:
    console = Console(soft_wrap=True)
    for outcome in outcomes:
        if outcome.skipped:
            console.print(f"{outcome.department} ({escape(outcome.source)}): skipped, {escape(outcome.skipped)}")
            continue
        passed = sum(r.passed for r in outcome.results)
        table = Table(title=f"conformance of {outcome.department} ({escape(outcome.source)})", title_justify="left")
        table.add_column("check")
        table.add_column("result")
        table.add_column("detail", overflow="fold")
        for result in outcome.results:
            verdict = "[green]pass[/]" if result.passed else "[bold red]FAIL[/]"
            table.add_row(result.name, verdict, escape(result.detail))
        console.print(table)
        console.print(f"{outcome.department}: {passed} of {len(outcome.results)} checks passed")


def cmd_check(args: argparse.Namespace) -> int:
    if args.entry_point is not None and (args.cert is not None or args.server_name is not None):
        raise UsageError("--cert and --server-name go with --address, not --entry-point")
    if not args.deadline > 0 or not args.ticket_timeout > 0:
        raise UsageError("--deadline and --ticket-timeout must be positive numbers of seconds")
    if args.address is not None:
        try:
            split_address(args.address)
        except ValueError as exc:
            raise UsageError(f"--address: {exc}") from None
    people = _known_people(args)
    check = _check_entry_point if args.entry_point is not None else _check_address
    outcomes = asyncio.run(check(args, people))
    _print(outcomes)
    checked = [o for o in outcomes if not o.skipped]
    if not checked:
        print(f"entry point {args.entry_point} serves none of the departments {', '.join(DEPARTMENTS)}")
        return 1
    return 0 if all(r.passed for o in checked for r in o.results) else 1


# --- parser -----------------------------------------------------------------------------------------


def add_connector_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui connector ...``; invalid input raises :class:`verifier.usage.UsageError` (exit 2)."""
    connector = sub.add_parser("connector", help="department connectors: a reference server and the conformance kit")
    commands = connector.add_subparsers(dest="connector_command", required=True, parser_class=parser_class)

    serve = commands.add_parser(
        "serve", help="serve one sandbox department as hedui.v1.ConnectorService over TLS (reference server)"
    )
    serve.add_argument("--department", required=True, choices=DEPARTMENTS)
    serve.add_argument("--sandbox", type=Path, help="sandbox dataset JSON (default: the built-in demo data)")
    serve.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (default 127.0.0.1:0, a free port)")
    serve.add_argument("--cert", type=Path, help="the server's certificate (chain) PEM")
    serve.add_argument("--key", type=Path, help="the certificate's private key PEM")
    serve.add_argument(
        "--self-signed-out",
        type=Path,
        metavar="DIR",
        help=f"use DIR/{CERT_FILE} and DIR/{KEY_FILE}, generating a self-signed pair for 127.0.0.1/localhost first",
    )
    serve.add_argument(
        "--ticket-key",
        type=Path,
        metavar="FILE",
        help=f"the key that signs tickets (default: DIR/{TICKET_KEY_FILE} with --self-signed-out, generated first; "
        "else derived from the dataset)",
    )
    serve.set_defaults(func=cmd_serve)

    check = commands.add_parser("check", help="run the conformance kit against a connector; exit 1 if a check fails")
    target = check.add_mutually_exclusive_group(required=True)
    target.add_argument("--entry-point", metavar="NAME", help=f"a connector factory installed in {ENTRY_POINT_GROUP}")
    target.add_argument("--address", metavar="HOST:PORT", help="a connector server (hedui.v1.ConnectorService)")
    check.add_argument("--cert", type=Path, help="with --address: the department's certificate PEM, pinned")
    check.add_argument("--server-name", help="with --address: the name to check the certificate against")
    check.add_argument("--department", choices=DEPARTMENTS, help="the department (default: every one / the server's)")
    check.add_argument(
        "--sandbox", type=Path, help="sandbox dataset: the entry point's data and the people to ask about"
    )
    check.add_argument("--id-number", action="append", help="a person the department knows (repeatable)")
    check.add_argument("--deadline", type=float, default=10.0, help="seconds each call may take (default 10)")
    check.add_argument("--ticket-timeout", type=float, default=60.0, help="seconds to wait for a ticket's answer")
    check.set_defaults(func=cmd_check)
