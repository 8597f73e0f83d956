"""``hedui serve``: the gRPC server with the configured departments, until SIGINT or SIGTERM.

The configuration is ``--config FILE`` and ``HEDUI_*`` variables (``hedui config show`` prints the
effective one). The service creates its key files on first start. With ``metrics_listen`` set, the same
process answers ``/metrics``, ``/healthz`` and ``/readyz`` there (verifier/observability).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from audit.tiles import Tiles
from connectors import Connector
from verifier.access import TransportError, server_transport
from verifier.api import build_server
from verifier.cli._common import (
    UsageError,
    close_connectors,
    configured_connectors,
    read_only_settings,
    service_settings,
)
from verifier.config import ConfigError, HeduiConfig, Settings, read_config
from verifier.errors import database_failure
from verifier.observability import OperatorEndpoint, TilesEndpoint, configure_logging, refresh_scraped
from verifier.observability.tracing import enable_tracing
from verifier.policy import PolicyBook, PolicyError
from verifier.service import HeduiService
from verifier.storage.db import Database, MigrationFailed, async_url

__all__ = ["SCHEMA_DOC", "add_serve_command"]

# Where an operator reads every configuration key (its type, default and HEDUI_* variable).
SCHEMA_DOC = "docs/operations.md, section 'Configuration'"
log = logging.getLogger("hedui")


async def _serve(settings: Settings, config: HeduiConfig, connectors: Mapping[str, Connector]) -> None:
    """Start the service, its gRPC server and its operator endpoint; stop them all on SIGINT or SIGTERM."""
    service = HeduiService(Database.from_settings(settings), connectors, settings)
    service.readiness.interval = config.health_check_interval_seconds
    await _started(service)
    endpoint = OperatorEndpoint(service.readiness, lambda: refresh_scraped(service.db, service.log))
    try:  # an address in use or not this machine's: one line, the work given back
        transport = server_transport(settings.tls, settings.listen)  # issue 13: mTLS, the development CA or plaintext
        _, port, stop = await build_server(service, settings.listen, transport)
    except TransportError as exc:
        await service.close()
        raise UsageError(str(exc)) from None
    except OSError as exc:
        await service.close()
        raise UsageError(f"listen {settings.listen}: {exc.strerror or exc}") from None
    try:
        where = f", metrics on port {await endpoint.start(settings.metrics_listen)}" if settings.metrics_listen else ""
    except OSError as exc:
        await stop()
        await service.close()
        raise UsageError(f"metrics_listen {settings.metrics_listen}: {exc.strerror or exc}") from None
    # Issue 12: the log as C2SP tlog-tiles; its entry bundles only when asked for (issue 13: entries are not public).
    tiles = TilesEndpoint(Tiles(service.log, service.db.sessions, entries=settings.tiles_entries))
    try:
        where += f", tiles on port {await tiles.start(settings.tiles_listen)}" if settings.tiles_listen else ""
    except OSError as exc:
        await stop()
        await endpoint.close()
        await service.close()
        raise UsageError(f"tiles_listen {settings.tiles_listen}: {exc.strerror or exc}") from None
    log.info(
        "hedui serving on %s (port %d)%s, database %s, %s",
        settings.listen,
        port,
        where,
        async_url(settings.database_url).split("@")[-1],
        transport.description,
    )
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    log.info("hedui stopping: no new calls, giving work leases back")
    await stop()
    await endpoint.close()
    await tiles.close()
    await service.close()
    await close_connectors(connectors)
    log.info("hedui stopped")


async def _started(service: HeduiService) -> None:
    """Start the service; a schema this version cannot migrate (a role that may not change it, a revision newer
    than this code) is one line, not a traceback (a database out of reach is said by the command's handler)."""
    try:
        await service.start()
    except (DBAPIError, MigrationFailed) as exc:
        await service.db.close()
        if database_failure(exc) is not None:
            raise
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
        raise UsageError(
            f"database: cannot bring the schema to this version ({lines[0][:200]}); run hedui db migrate as the "
            "tables' owner with this version"
        ) from None


def _checked(config: Path | None) -> tuple[Settings, dict[str, Connector]]:
    """Every part of the configuration checked (policies, sandbox, connectors) before a key file is created."""
    configured = read_only_settings(config)
    try:
        PolicyBook.load(configured.policy_files, departments=configured.catalogue)
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    connectors = configured_connectors(configured, configured.sandbox)  # checked before any key file exists
    return service_settings(config), connectors


def cmd_serve(args: argparse.Namespace) -> int:
    """``hedui serve``: run the service until it is told to stop."""
    try:
        config = read_config(args.config).config
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if config.tracing:
        enable_tracing()
    settings, connectors = _checked(args.config)
    configure_logging(config.log_format, config.log_level)
    asyncio.run(_serve(settings, config, connectors))
    return 0


def add_serve_command(sub: Any) -> None:
    """Register ``hedui serve``."""
    serve = sub.add_parser(
        "serve",
        help="run the gRPC server",
        description="Run the gRPC server. Every key of the TOML config can also be set by a HEDUI_* variable "
        "(nested tables with __, e.g. HEDUI_DEPARTMENTS__TAX__DEADLINE_SECONDS=20); "
        "`hedui config show` prints the effective configuration and where each value came from (secrets "
        "redacted), `hedui config check FILE` validates a file. Every key is documented in "
        f"{SCHEMA_DOC} (the schema: verifier/config/_schema.py).",
    )
    serve.add_argument("--config", type=Path, help=f"TOML config file (its keys: {SCHEMA_DOC})")
    serve.set_defaults(func=cmd_serve)
