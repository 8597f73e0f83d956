"""The helpers every ``hedui`` command shares: reading input files, option types, settings, output.

Invalid input is a :class:`UsageError`; :func:`verifier.cli.main` turns it into exit 2
and one line on stderr. Nothing here writes before the input is known to be valid.

The commands call the operations (``service.trust_store``, ``service.authorizations``, …) and nothing
else; an admin command opens its service with :meth:`verifier.service.HeduiService.administering`. The
``audit`` commands read the log's tables directly on purpose: a supervisor checks the log without a
running service and without trusting one.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Final, NoReturn, TypeVar

import grpc
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from audit.checkpoint import NoteSigner
from connectors import Connector, SandboxDataset, SandboxError
from connectors.departments import DepartmentCatalogue
from connectors.registry import ConnectorConfigError, build_connectors
from consent.envelope import load_public_key
from consent.identity import CHINA_TIME
from verifier.access import ClientTransport
from verifier.cli._edges import CannotCreate, open_then_create
from verifier.config import DEFAULT_BASE, ConfigError, Settings, load_settings
from verifier.errors import database_failure
from verifier.limits import CLIENT_OPTIONS  # issue 13: message sizes and keepalive on hedui's clients too

__all__ = [
    "DEFAULT_BASE",
    "HEDUI_SERVICES",
    "RETRY_SERVICE_CONFIG",
    "HeduiParser",
    "UsageError",
    "add_database_options",
    "atomic_output",
    "check_db_url",
    "close_connectors",
    "configured_connectors",
    "console",
    "database_unavailable",
    "fail",
    "hedui_channel",
    "instant",
    "log_signer",
    "public_key",
    "read_bytes",
    "read_json",
    "read_only_settings",
    "require_database",
    "sandbox_dataset",
    "service_settings",
    "shown",
    "trust_store_settings",
    "with_database",
]


class UsageError(Exception):
    """Invalid input to a command: ``hedui`` exits 2 with this one line and has written nothing."""


def fail(message: str) -> NoReturn:
    """Exit 2 with the first line of ``message`` on stderr (``hedui: error: ...``)."""
    first_line = message.strip().splitlines()[0] if message.strip() else "error"
    print(f"hedui: error: {first_line}", file=sys.stderr)
    raise SystemExit(2)


def database_unavailable(exc: BaseException) -> None:
    """Exit 2 with one line when ``exc`` is the database busy or out of reach (no SQL, no traceback)."""
    if database_failure(exc) is not None:
        fail(f"database: busy or out of reach ({type(exc).__name__}); try again in a moment")


class HeduiParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit 2, like every other invalid input."""

    def error(self, message: str) -> NoReturn:
        """Report a bad command line as :func:`fail` does."""
        fail(message)


# --- input files ------------------------------------------------------------------------------------


def read_bytes(path: Path, what: str, *, name_missing: bool = True) -> bytes:
    """The bytes of an input file; a missing or unreadable one names ``what`` and the path.

    ``name_missing=False``: a missing file is "cannot read" like any other (as ``hedui connector`` says it).
    """
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        if not name_missing:
            raise UsageError(f"{what} {path}: cannot read: {exc.strerror}") from None
        raise UsageError(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot read: {exc.strerror}") from None


def read_json(path: Path, what: str) -> Any:
    """An input file parsed as UTF-8 JSON."""
    data = read_bytes(path, what)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path}: not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} {path}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # issue 13: 100,000 nested [ is one line on stderr, not a traceback
        raise UsageError(f"{what} {path}: JSON nested too deeply") from None


@contextlib.contextmanager
def atomic_output(path: Path, option: str = "--out") -> Iterator[IO[bytes]]:
    """A file written beside ``path`` and renamed into place when done: a failure leaves no half file."""
    if not path.parent.is_dir():
        raise UsageError(f"{option}: {path.parent} is not a directory")
    fd, tmp = tempfile.mkstemp(prefix=".hedui-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- option values ----------------------------------------------------------------------------------


def instant(value: str | None, option: str) -> dt.datetime | None:
    """An ISO 8601 date or time; China time when it names no offset; ``None`` when not given."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not a date or time (e.g. 2026-11-23T09:00+08:00)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TIME)


def shown(moment: dt.datetime | None) -> str:
    """A time as the tables show it: China time to the minute; empty for none."""
    return "" if moment is None else moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def check_db_url(url: str) -> str:
    """Only SQLite and PostgreSQL URLs; anything else is invalid input, found before anything runs."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise UsageError(f"--db {url!r} is not a database URL") from None
    if backend not in ("sqlite", "postgresql"):
        raise UsageError(f"--db: {backend} is not supported (use sqlite:/// or postgresql://)")
    return url


def require_database(url: str) -> str:
    """A SQLite URL must name an existing file: reading never creates a database (nor its directory)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UsageError(f"--db: {url!r} is not a database URL") from None
    name = parsed.database
    if parsed.get_backend_name() == "sqlite" and name not in (None, "", ":memory:") and not Path(name).is_file():
        raise UsageError(f"--db: there is no database at {name} (run hedui serve once to create it)")
    return url


# --- settings ---------------------------------------------------------------------------------------


def service_settings(config: Path | None, base: Path = DEFAULT_BASE, *, db: str | None = None) -> Settings:
    """The settings a service runs with (``db``: ``--db`` over the configured database): the database is opened
    (a SQLite file created) first, then the key files that do not exist are created (under ``base``). What
    cannot be opened or created is invalid input, and leaves nothing behind."""
    configured = with_database(read_only_settings(config, base), db)
    try:
        keys = list(configured.missing_key_files.values())
        created = open_then_create(configured.database_url, keys, lambda: load_settings(config, base))
    except CannotCreate as exc:
        raise UsageError(str(exc)) from None
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return with_database(created, db)


def read_only_settings(config: Path | None, base: Path = DEFAULT_BASE) -> Settings:
    """The settings read without creating anything: missing key files are in ``missing_key_files``."""
    try:
        return load_settings(config, base, create_keys=False)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def with_database(settings: Settings, db: str | None) -> Settings:
    """``--db`` over the configured database URL (checked first)."""
    return settings.with_overrides(database_url=check_db_url(db)) if db else settings


def trust_store_settings(args: argparse.Namespace, *, existing: bool = False) -> Settings:
    """The service's settings for an admin command: from --config, else from ./.hedui if the service keeps its
    keys there. No key file is created (only ``hedui serve``, ``hedui verify`` and ``hedui demo`` create them).
    The command appends audit entries, which must carry a MAC under the service's key (issue 12): without the
    service's key files there is nothing to write them with, and the command is refused (exit 2) rather than
    leave entries the service would refuse for good. ``existing``: the database must exist already (only
    ``keys add`` creates one, opened before anything is written)."""
    settings = read_only_settings(args.config, DEFAULT_BASE)
    if settings.missing_key_files:
        missing = ", ".join(f"{key} {path}" for key, path in sorted(settings.missing_key_files.items()))
        raise UsageError(
            f"the service's key files do not exist yet ({missing}): start `hedui serve` with this config once "
            "(it creates them), then run this command"
        )
    settings = with_database(settings, args.db)
    if existing:
        require_database(settings.database_url)
    return settings


def public_key(path: Path, option: str = "--public-key") -> bytes:
    """A public key PEM file (Ed25519, ECDSA P-256 or SM2), checked."""
    pem = read_bytes(path, option)
    try:
        load_public_key(pem)
    except ValueError as exc:
        raise UsageError(f"{option} {path}: {exc}") from None
    return pem


def add_database_options(p: argparse.ArgumentParser) -> None:
    """``--db`` and ``--config``, as every command reading the trust store takes them."""
    p.add_argument("--db", help="database URL (default: the config's, else sqlite:///.hedui/hedui.db)")
    p.add_argument("--config", type=Path, help="the service's TOML config")


def sandbox_dataset(path: Path | None, what: str, catalogue: DepartmentCatalogue | None = None) -> SandboxDataset:
    """A sandbox dataset file (read for ``catalogue``'s departments), else the built-in demo data.

    A file that is not a dataset is invalid input, its message after ``what``.
    """
    try:
        return SandboxDataset.load(path, catalogue) if path is not None else SandboxDataset.demo()
    except SandboxError as exc:
        raise UsageError(f"{what}: {exc}") from None


def configured_connectors(settings: Settings, sandbox: Path | None) -> dict[str, Connector]:
    """One connector per department as configured (entry point and options), checked before anything runs.

    ``sandbox`` (``--sandbox`` or the config's ``sandbox``) is the dataset every sandbox connector answers
    from; without it, each takes its own ``sandbox`` option, else the built-in demo data.
    """
    defaults = {"dataset": sandbox_dataset(sandbox, f"sandbox {sandbox}")} if sandbox else {}
    try:
        return build_connectors(settings.catalogue, settings.departments, defaults)
    except ConnectorConfigError as exc:
        raise UsageError(str(exc)) from None


async def close_connectors(connectors: Mapping[str, Connector]) -> None:
    """Close the connectors that hold a connection (remote ones); the others have nothing to close."""
    for connector in connectors.values():
        close = getattr(connector, "close", None)
        if close is not None:
            await close()


def log_signer(settings: Settings) -> NoteSigner:
    """The note signer of the service's audit log, from its configured origin and key."""
    return NoteSigner.from_private_bytes(settings.audit_log_origin, settings.audit_log_key)


# --- past the operations ----------------------------------------------------------------------------

Result = TypeVar("Result")


# --- gRPC clients of hedui -------------------------------------------------------------------------

HEDUI_SERVICES: Final = ("hedui.v1.ConsentService", "hedui.v1.VerificationService", "hedui.v1.AuditService")
# gRPC's own retries (A6): a call refused UNAVAILABLE (DATABASE_BUSY, a server restarting) is tried again, up to
# 4 attempts, after a jittered back-off of 0.2 s doubling to at most 2 s, or the delay the server's
# grpc-retry-pushback-ms trailer asks for (hedui sends its RetryInfo delay there).
RETRY_SERVICE_CONFIG: Final[dict[str, Any]] = {
    "methodConfig": [
        {
            "name": [{"service": name} for name in HEDUI_SERVICES],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.2s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}


def hedui_channel(address: str, transport: ClientTransport | None = None) -> grpc.aio.Channel:
    """A channel to a hedui service that retries calls refused ``UNAVAILABLE``: over TLS with ``transport``'s
    client certificate (issue 13: :func:`verifier.access.client_transport` gives the development CA's admin
    client), plaintext without one (a server built without TLS, on loopback: tests)."""
    options: list[tuple[str, Any]] = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(RETRY_SERVICE_CONFIG)),
        *CLIENT_OPTIONS,
    ]
    credentials = transport.credentials() if transport is not None else None
    if transport is None or credentials is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, credentials, options=[*options, *transport.options()])


# --- output -----------------------------------------------------------------------------------------


def console(width: int | None = 120, *, soft_wrap: bool = False) -> Console:
    """A terminal console; ``width`` columns when the output is not a terminal, so tables stay readable.

    ``width=None``: rich's own width (the terminal's, else ``COLUMNS``) either way.
    """
    if width is None or sys.stdout.isatty():
        return Console(soft_wrap=soft_wrap)
    return Console(width=width, soft_wrap=soft_wrap)
