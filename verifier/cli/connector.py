"""``hedui connector ...``: the reference connector server and the conformance kit, for departments.

- ``hedui connector serve --department D [--entry-point NAME] [--config FILE] [--sandbox FILE]
  [--listen HOST:PORT] (--cert FILE --key FILE | --self-signed-out DIR) [--ticket-key FILE]
  [--query-log FILE]`` serves
  one department as ``hedui.v1.ConnectorService`` over TLS and prints the address it listens on and
  its certificate's SHA-256 fingerprint: the department's own connector (``--entry-point``, with the
  options of its ``[departments.D]`` table in ``--config``), or else the sandbox. Sandbox tickets
  are signed with the key in ``--ticket-key FILE``, else with a random key kept in
  ``DIR/ticket.key`` beside the self-signed certificate (so that tickets survive a restart of the
  server), else with the key derived from the dataset (:func:`connectors.sandbox.dataset_ticket_key`).
  The server looks a person up at most once per idempotency key: the sandbox keeps the rule itself,
  a department's own connector is served through :class:`connectors.idempotency.OncePerKey`.
  ``--query-log FILE`` appends a JSON line for each identity number actually looked up (passed on to
  the department's connector) (:class:`connectors.idempotency.QueryLog`).
  To slow its answers, give the dataset a ``slow`` fault (``"faults": {"tax": {"mode": "slow",
  "delay_ms": 2000}}``): the person is looked up at once, the answer comes ``delay_ms`` later.
- ``hedui connector check (--entry-point NAME | --address HOST:PORT --cert PEM | --config FILE)
  [--department D] [--sandbox FILE]`` runs the conformance kit (:mod:`connectors.conformance`) and
  prints a table: exit 0 when every check passes, 1 when one fails, 2 for invalid input. With
  ``--config``, each department is checked through the connector its table configures, built with
  the table's own options, as ``hedui serve`` would load it (a connector hedui would refuse to load
  is invalid input: exit 2).

``--department`` is any department the config declares (``[departments.*]``, see
:meth:`connectors.departments.DepartmentCatalogue.declare`), or one of the six without ``--config``.
The config is read as every command reads it (:func:`verifier.config.load_settings`, ``HEDUI_*``
variables included), without creating its key files.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.base import Connector
from connectors.conformance import CheckResult, ConnectorOpener, check_connector
from connectors.departments import DepartmentCatalogue
from connectors.idempotency import OncePerKey, QueryLog
from connectors.query_token import QueryTokenSigner, QueryTokenVerifier, new_token_key
from connectors.registry import (
    ENTRY_POINT_GROUP,
    SANDBOX_DEPARTMENTS,
    ConnectorConfigError,
    Factory,
    department_options,
    installed,
    load_connector,
    make_connector,
)
from connectors.remote import RemoteConnector
from connectors.sandbox import MIN_TICKET_KEY_BYTES, SandboxConnector, SandboxDataset
from connectors.server import start_connector_server
from connectors.tls import (
    CertificateError,
    certificate_authority,
    certificate_fingerprint,
    issue_certificate,
    load_certificates,
    self_signed_certificate,
    split_address,
)
from consent.identity import IdentityNumberError, mask, validate_identity_number
from verifier.access import is_loopback
from verifier.access._transport import write_new_file
from verifier.cli._common import UsageError, read_bytes, read_only_settings, sandbox_dataset

__all__ = ["DepartmentConfig", "add_connector_commands", "read_department_config"]

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
TICKET_KEY_FILE = "ticket.key"
SELF_SIGNED_NAMES = ("127.0.0.1", "localhost")


# --- the centre's config: which departments, which connectors, which options -----------------------


@dataclass(frozen=True, slots=True)
class DepartmentConfig:
    """What the kit reads of a hedui config: the declared departments and their ``[departments.*]`` tables."""

    catalogue: DepartmentCatalogue = field(default_factory=DepartmentCatalogue)
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def connector_of(self, department: str) -> str:
        """The entry point that serves ``department``: its table's ``connector``, else the sandbox for the six."""
        name = self.tables.get(department, {}).get("connector")
        if isinstance(name, str) and name:
            return name
        if department in SANDBOX_DEPARTMENTS:
            return "sandbox"
        raise UsageError(f"departments.{department}.connector: name the entry point of {department}'s connector")

    def options_of(self, department: str) -> dict[str, Any]:
        """The department's own options: its table without hedui's keys (connector, deadline, names, kinds)."""
        return department_options(self.tables.get(department, {}))


def read_department_config(path: Path | None) -> DepartmentConfig:
    """The departments a config file declares and their tables (no file: the six, unconfigured).

    Read as every command reads the config (the typed settings, without creating key files); an
    invalid config is invalid input naming the key.
    """
    settings = read_only_settings(path)
    return DepartmentConfig(settings.catalogue, settings.departments)


def _declared(department: str, config: DepartmentConfig, given: Path | None) -> str:
    """``--department``: a department the config declares (or one of the six without a config)."""
    if department in config.catalogue:
        return department
    where = f"declare it in {given}" if given else "declare it with --config FILE"
    known = ", ".join(config.catalogue)
    raise UsageError(f"--department {department[:40]!r}: not a declared department (one of {known}; {where})")


def _read_file(path: Path, what: str) -> bytes:
    """A file named on the command line; a missing one is "cannot read" too, naming the option."""
    return read_bytes(path, what, name_missing=False)


# --- serve ------------------------------------------------------------------------------------------


def _key_pair(args: argparse.Namespace) -> tuple[bytes, bytes, str]:
    """(certificate PEM, key PEM, a line saying where they came from)."""
    if args.self_signed_out is not None:
        if args.cert is not None or args.key is not None:
            raise UsageError("give --cert and --key, or --self-signed-out, not both")
        directory: Path = args.self_signed_out
        cert_file, key_file = directory / CERT_FILE, directory / KEY_FILE
        if cert_file.exists() and key_file.exists():
            certificate, key = _read_file(cert_file, "--self-signed-out"), _read_file(key_file, "--self-signed-out")
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
    certificate, key = _read_file(args.cert, "--cert"), _read_file(args.key, "--key")
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
    key = _read_file(path, what).strip()
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


CLIENT_CA_FILE = "client-ca.pem"
HEDUI_CLIENT_FILES = ("hedui-client.pem", "hedui-client.key")
TOKEN_KEY_FILES = ("query-token.key", "query-token.pub")


def _development_clients(directory: Path) -> tuple[bytes, bytes, str]:
    """Issue 13, ``--self-signed-out DIR``: a client CA with hedui's client certificate and a query token key pair
    in DIR (made once, keys 0600); (the client CA, hedui's token public key, a line saying so)."""
    files = [directory / n for n in (CLIENT_CA_FILE, "client-ca.key", *HEDUI_CLIENT_FILES, *TOKEN_KEY_FILES)]
    if not all(f.exists() for f in files):
        try:
            ca, ca_key = certificate_authority("hedui connector development client CA")
            client, client_key = issue_certificate(ca, ca_key, "hedui")
            token_private, token_public = new_token_key()
            for path, data in zip(files, (ca, ca_key, client, client_key, token_private, token_public), strict=True):
                write_new_file(path, data, 0o600)  # review N9: new, 0600, nothing planted there written through
        except OSError as exc:
            raise UsageError(f"--self-signed-out {directory}: {exc.strerror}") from None
    ca_pem, public = files[0].read_bytes(), files[-1].read_bytes()
    line = (
        f"clients need a certificate of {files[0]} (hedui's: {files[2]}, key {files[3]}) and query tokens signed by "
        f"{files[4]} (public key {files[5]})"
    )
    return ca_pem, public, line


def _client_auth(args: argparse.Namespace) -> tuple[bytes | None, list[bytes], str]:
    """Issue 13: (the client CA, hedui's query token public keys, a line) the server requires; ``--no-client-auth``
    only when asked, said loudly."""
    if args.no_client_auth:
        if args.client_ca is not None or args.query_token_key:
            raise UsageError("--no-client-auth goes without --client-ca and --query-token-key")
        if not is_loopback(args.listen):  # review S8: as hedui serve listens in plaintext on loopback only
            raise UsageError(f"--no-client-auth listens on loopback only, not {args.listen} (development only)")
        return (
            None,
            [],
            "WARNING: --no-client-auth: any TLS client is answered, without a query token (development only)",
        )
    if args.client_ca is not None or args.query_token_key:
        if args.client_ca is None or not args.query_token_key:
            raise UsageError("--client-ca and --query-token-key go together (hedui's client CA and token key)")
        public = [_read_file(p, "--query-token-key") for p in args.query_token_key]
        try:
            QueryTokenVerifier(public)
        except ValueError as exc:
            raise UsageError(f"--query-token-key: {exc}") from None
        return _read_file(args.client_ca, "--client-ca"), public, f"clients need a certificate of {args.client_ca}"
    if args.self_signed_out is not None:
        ca, development_key, line = _development_clients(args.self_signed_out)
        return ca, [development_key], line
    raise UsageError(
        "give --client-ca FILE and --query-token-key FILE (hedui's), or --self-signed-out DIR, or --no-client-auth"
    )


async def _serve(
    connector: Connector,
    listen: str,
    certificate: bytes,
    key: bytes,
    lines: Sequence[str],
    clients: tuple[bytes | None, list[bytes]] = (None, []),
) -> None:
    try:
        server = await start_connector_server(
            connector, listen, certificate, key, client_ca=clients[0], query_token_keys=clients[1]
        )
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


def _query_log(path: Path | None) -> QueryLog | None:
    """``--query-log FILE``: opened for appending (created if need be); one that cannot be is invalid input."""
    if path is None:
        return None
    try:
        return QueryLog(path)
    except OSError as exc:
        raise UsageError(f"--query-log {path}: {exc.strerror}") from None


def _served_connector(
    args: argparse.Namespace, config: DepartmentConfig, dataset: SandboxDataset | None, query_log: QueryLog | None
) -> tuple[Connector, list[str]]:
    """The connector ``serve`` serves: the department's own (``--entry-point``) or the sandbox; and what it says."""
    department = args.department
    logged = [] if query_log is None else [f"logging every identity number looked up to {query_log.path}"]
    if dataset is None:
        try:
            connector = load_connector(department, args.entry_point, config.options_of(department), config.catalogue)
        except ConnectorConfigError as exc:
            raise UsageError(str(exc)) from None
        # The department's connector behind the rule: each (key, identity number) reaches it at most once.
        kept = OncePerKey(connector, config.catalogue[department], query_log=query_log)
        return kept, [f"serving {department} through entry point {args.entry_point}", *logged]
    ticket_key, tickets = _ticket_key(args)
    data = f"serving sandbox data from {args.sandbox}" if args.sandbox else "serving the built-in demo sandbox data"
    try:
        connector = SandboxConnector(department, dataset, ticket_key=ticket_key, query_log=query_log)
    except ValueError as exc:
        raise UsageError(f"--department {department}: {exc}") from None
    return connector, [data, tickets, *logged]


def cmd_serve(args: argparse.Namespace) -> int:
    """``hedui connector serve``: one department's connector over TLS until SIGINT or SIGTERM."""
    try:
        split_address(args.listen)
    except ValueError as exc:
        raise UsageError(f"--listen: {exc}") from None
    config = read_department_config(args.config)
    _declared(args.department, config, args.config)
    dataset = None
    if args.entry_point is None:
        dataset = sandbox_dataset(args.sandbox, "--sandbox", config.catalogue)
    elif args.ticket_key is not None or args.sandbox is not None:
        raise UsageError("--ticket-key and --sandbox go with the sandbox, not --entry-point")
    certificate, key, origin = _key_pair(args)
    client_ca, token_keys, client_line = _client_auth(args)
    query_log = _query_log(args.query_log)
    try:
        connector, lines = _served_connector(args, config, dataset, query_log)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        said = [origin, client_line, *lines]
        asyncio.run(_serve(connector, args.listen, certificate, key, said, (client_ca, token_keys)))
    finally:
        if query_log is not None:
            query_log.close()
    return 0


# --- check ------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """The checks of one department's connector, or why it was skipped."""

    department: str
    source: str
    results: list[CheckResult]
    skipped: str = ""


def _factory(name: str) -> Factory:
    """The factory of entry point ``name``; one that is not installed or does not load is invalid input."""
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


def _known_people(args: argparse.Namespace, catalogue: DepartmentCatalogue) -> list[str]:
    """Whom to ask about: ``--id-number``s, and everyone in ``--sandbox`` (or the demo data, if none is given)."""
    people: list[str] = []
    for number in args.id_number or ():
        try:
            people.append(validate_identity_number(number))
        except IdentityNumberError as exc:
            raise UsageError(f"--id-number {mask(number)}: {exc}") from None
    if args.sandbox is not None or not people:
        dataset = sandbox_dataset(args.sandbox, "--sandbox", catalogue)
        people.extend(sorted({r.subject for records in dataset.records.values() for r in records}))
    return list(dict.fromkeys(people))


@dataclass(frozen=True, slots=True)
class _Kit:
    """One ``check`` run: its arguments, the config's departments and the people to ask about."""

    args: argparse.Namespace
    config: DepartmentConfig
    people: list[str]

    def options(self, department: str) -> dict[str, Any]:
        """A department's own options from the config, and ``--sandbox`` if given."""
        options = self.config.options_of(department)
        if self.args.sandbox is not None:
            options["sandbox"] = str(self.args.sandbox)
        return options

    async def check(self, department: str | None, connector: Connector, reopen: ConnectorOpener) -> list[CheckResult]:
        """The conformance kit on one connector of ``department``."""
        return await check_connector(
            connector,
            department=department,
            id_numbers=self.people,
            reopen=reopen,
            deadline_seconds=self.args.deadline,
            ticket_timeout_seconds=self.args.ticket_timeout,
            catalogue=self.config.catalogue,
        )


async def _check_entry_point(kit: _Kit) -> list[_Outcome]:
    """``--entry-point``: the factory for the ``--department``, or for every declared one it serves."""
    args, catalogue = kit.args, kit.config.catalogue
    factory = _factory(args.entry_point)
    outcomes = []
    for department in [args.department] if args.department else list(catalogue):
        source = f"entry point {args.entry_point}"
        options = kit.options(department)
        try:
            connector = make_connector(factory, department, options, catalogue)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if args.department is None and isinstance(exc, LookupError | ValueError):
                outcomes.append(_Outcome(department, source, [], skipped=f"not served by this entry point ({reason})"))
                continue
            outcomes.append(
                _Outcome(department, source, [CheckResult("describe", False, f"the factory raised {reason}")])
            )
            continue

        async def reopen(department: str = department, options: Mapping[str, Any] = options) -> Connector:
            return cast(Connector, make_connector(factory, department, options, catalogue))

        if not isinstance(connector, Connector):
            failed = CheckResult("describe", False, f"the factory gave a {type(connector).__name__}, not a Connector")
            outcomes.append(_Outcome(department, source, [failed]))
            continue
        outcomes.append(_Outcome(department, source, await kit.check(department, connector, reopen)))
    return outcomes


async def _check_configured(kit: _Kit) -> list[_Outcome]:
    """``--config`` alone: each department through the connector its table configures, loaded as hedui loads it.

    The ``--department``, else every department the config has a table for (else the six).
    """
    config = kit.config
    departments = [kit.args.department] if kit.args.department else list(config.tables) or list(config.catalogue)
    outcomes = []
    for department in departments:
        name = config.connector_of(department)
        options = kit.options(department)
        try:
            connector = load_connector(department, name, options, config.catalogue)
        except ConnectorConfigError as exc:
            raise UsageError(str(exc)) from None

        async def reopen(
            department: str = department, name: str = name, options: Mapping[str, Any] = options
        ) -> Connector:
            return load_connector(department, name, options, config.catalogue)

        source = f"entry point {name}, departments.{department} of {kit.args.config}"
        outcomes.append(_Outcome(department, source, await kit.check(department, connector, reopen)))
    return outcomes


def _hedui_identity(args: argparse.Namespace) -> tuple[bytes | None, bytes | None, QueryTokenSigner | None]:
    """Issue 13: the client certificate, key and query token key ``check --address`` presents: ``--client-cert``,
    ``--client-key``, ``--query-token-key``, else the development ones beside ``--cert`` (as ``serve
    --self-signed-out`` writes them), else none."""
    beside = args.cert.parent
    defaults = [beside / HEDUI_CLIENT_FILES[0], beside / HEDUI_CLIENT_FILES[1], beside / TOKEN_KEY_FILES[0]]
    given = [args.client_cert, args.client_key, args.query_token_key]
    if not any(given) and all(p.exists() for p in defaults):
        given = defaults
    if (given[0] is None) != (given[1] is None):
        raise UsageError("--client-cert and --client-key go together")
    certificate = _read_file(given[0], "--client-cert") if given[0] else None
    key = _read_file(given[1], "--client-key") if given[1] else None
    try:
        tokens = QueryTokenSigner(_read_file(given[2], "--query-token-key")) if given[2] else None
    except ValueError as exc:
        raise UsageError(f"--query-token-key: {exc}") from None
    return certificate, key, tokens


async def _check_address(kit: _Kit) -> list[_Outcome]:
    """``--address``: a connector server, its certificate pinned."""
    args, catalogue = kit.args, kit.config.catalogue
    if args.cert is None:
        raise UsageError("--address needs --cert: the department's certificate PEM to pin")
    pem = _read_file(args.cert, "--cert")
    client_certificate, client_key, tokens = _hedui_identity(args)

    def remote(department: str | None) -> RemoteConnector:
        return RemoteConnector(
            args.address,
            pem,
            department=department,
            server_name=args.server_name,
            timeout=args.deadline,
            catalogue=catalogue,
            client_certificate=client_certificate,
            client_key=client_key,
            query_tokens=tokens,
        )

    try:
        connector = remote(args.department)
    except (ValueError, CertificateError) as exc:
        raise UsageError(f"--address/--cert: {exc}") from None

    async def reopen() -> Connector:
        # As RemoteConnector.connect: the server's description fetched, the channel closed if that fails.
        reopened = remote(connector.department)
        try:
            await reopened.start()
        except BaseException:
            await reopened.close()
            raise
        return reopened

    try:
        results = await kit.check(args.department, connector, reopen)
    finally:
        await connector.close()
    return [_Outcome(connector.department or args.department or "?", f"server at {args.address}", results)]


def _print(outcomes: list[_Outcome]) -> None:
    """One table of checks per department, and a line of how many passed."""
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


def _check_arguments(args: argparse.Namespace) -> None:
    """Options that do not go together, or values out of range: invalid input."""
    if args.entry_point is None and args.address is None and args.config is None:
        raise UsageError("one of the arguments --entry-point --address is required (or --config FILE)")
    if args.address is None and (args.cert is not None or args.server_name is not None):
        raise UsageError("--cert and --server-name go with --address, not --entry-point")
    if not args.deadline > 0 or not args.ticket_timeout > 0:
        raise UsageError("--deadline and --ticket-timeout must be positive numbers of seconds")
    if args.address is not None:
        try:
            split_address(args.address)
        except ValueError as exc:
            raise UsageError(f"--address: {exc}") from None


def cmd_check(args: argparse.Namespace) -> int:
    """``hedui connector check``: the conformance kit; exit 0 when every check passes, 1 when one fails."""
    _check_arguments(args)
    config = read_department_config(args.config)
    if args.department is not None:
        _declared(args.department, config, args.config)
    kit = _Kit(args, config, _known_people(args, config.catalogue))
    if args.entry_point is not None:
        outcomes = asyncio.run(_check_entry_point(kit))
    elif args.address is not None:
        outcomes = asyncio.run(_check_address(kit))
    else:
        outcomes = asyncio.run(_check_configured(kit))
    _print(outcomes)
    checked = [o for o in outcomes if not o.skipped]
    if not checked:
        print(f"entry point {args.entry_point} serves none of the departments {', '.join(config.catalogue)}")
        return 1
    return 0 if all(r.passed for o in checked for r in o.results) else 1


# --- parser -----------------------------------------------------------------------------------------


def _add_serve(commands: Any) -> None:
    """``hedui connector serve``'s options."""
    serve = commands.add_parser(
        "serve", help="serve one department's connector as hedui.v1.ConnectorService over TLS (reference server)"
    )
    serve.add_argument("--department", required=True, help="a department the config declares (or one of the six)")
    serve.add_argument("--entry-point", metavar="NAME", help=f"the department's own connector, in {ENTRY_POINT_GROUP}")
    serve.add_argument("--config", type=Path, help="hedui config: [departments.*] declarations and connector options")
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
        help=f"the key that signs sandbox tickets (default: DIR/{TICKET_KEY_FILE} with --self-signed-out, "
        "generated first; else derived from the dataset)",
    )
    serve.add_argument("--client-ca", type=Path, metavar="FILE", help="issue 13: the CA of hedui's client certificate")
    serve.add_argument(
        "--query-token-key",
        type=Path,
        action="append",
        metavar="FILE",
        help="issue 13: hedui's query token public key PEM (repeatable while hedui rotates it)",
    )
    serve.add_argument(
        "--no-client-auth",
        action="store_true",
        help="answer any TLS client, without a query token (development only; said loudly)",
    )
    serve.add_argument(
        "--query-log",
        type=Path,
        metavar="FILE",
        help="append one JSON line per identity number actually looked up "
        "(not for answers given again under the same idempotency key), flushed at once",
    )
    serve.set_defaults(func=cmd_serve)


def _add_check(commands: Any) -> None:
    """``hedui connector check``'s options."""
    check = commands.add_parser("check", help="run the conformance kit against a connector; exit 1 if a check fails")
    target = check.add_mutually_exclusive_group()
    target.add_argument("--entry-point", metavar="NAME", help=f"a connector factory installed in {ENTRY_POINT_GROUP}")
    target.add_argument("--address", metavar="HOST:PORT", help="a connector server (hedui.v1.ConnectorService)")
    check.add_argument(
        "--config", type=Path, help="hedui config: declared departments, and alone, the connectors to check"
    )
    check.add_argument("--cert", type=Path, help="with --address: the department's certificate PEM, pinned")
    check.add_argument("--server-name", help="with --address: the name to check the certificate against")
    check.add_argument("--client-cert", type=Path, help="with --address: hedui's client certificate (mutual TLS)")
    check.add_argument("--client-key", type=Path, help="with --address: its private key")
    check.add_argument("--query-token-key", type=Path, help="with --address: the Ed25519 key that signs query tokens")
    check.add_argument("--department", help="the department (default: every one / the config's / the server's)")
    check.add_argument(
        "--sandbox", type=Path, help="sandbox dataset: the entry point's data and the people to ask about"
    )
    check.add_argument("--id-number", action="append", help="a person the department knows (repeatable)")
    check.add_argument("--deadline", type=float, default=10.0, help="seconds each call may take (default 10)")
    check.add_argument("--ticket-timeout", type=float, default=60.0, help="seconds to wait for a ticket's answer")
    check.set_defaults(func=cmd_check)


def add_connector_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui connector ...``; invalid input raises :class:`verifier.cli._common.UsageError` (exit 2)."""
    connector = sub.add_parser("connector", help="department connectors: a reference server and the conformance kit")
    commands = connector.add_subparsers(dest="connector_command", required=True, parser_class=parser_class)
    _add_serve(commands)
    _add_check(commands)
