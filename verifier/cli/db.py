"""``hedui db migrate``: create or upgrade the schema as the tables' owner, and grant the service's role."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from sqlalchemy.exc import DBAPIError

from verifier.cli._common import UsageError, check_db_url
from verifier.cli._edges import CannotCreate, probe_database
from verifier.cli.retention import add_seal_command
from verifier.storage.db import Database

__all__ = ["add_db_commands"]


def _first_line(error: BaseException | None) -> str:
    """The first line of a driver's error, at most 200 characters."""
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


async def _migrate(url: str, service_role: str | None) -> None:
    """Migrate to the newest schema; on PostgreSQL grant ``service_role`` what the service needs."""
    db = Database(url)
    try:
        await db.migrate()
        if service_role:
            await db.grant_service_role(service_role)
    finally:
        await db.close()


def cmd_db_migrate(args: argparse.Namespace) -> int:
    """``hedui db migrate``: the schema at its newest version (and the role's grants)."""
    check_db_url(args.db)
    if args.service_role and not args.db.startswith("postgresql"):
        raise UsageError("--service-role: database roles exist on PostgreSQL only")
    try:
        probe_database(args.db)
        asyncio.run(_migrate(args.db, args.service_role))
    except CannotCreate as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(f"--service-role: {exc}") from None
    except DBAPIError as exc:  # e.g. a role that may not create tables: the server's first line, no SQL
        raise UsageError(f"database: cannot migrate ({_first_line(exc.orig)})") from None
    granted = f"; {args.service_role} may read and insert, never change audit records" if args.service_role else ""
    print(f"database at the newest schema{granted}")
    return 0


def add_db_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui db ...``."""
    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=parser_class)
    migrate = db_sub.add_parser("migrate", help="create or upgrade the schema (as the tables' owner)")
    migrate.add_argument("--db", required=True, help="database URL of the owning (migrating) role")
    migrate.add_argument(
        "--service-role", help="PostgreSQL role the service runs as: granted no UPDATE/DELETE/TRUNCATE on the log"
    )
    migrate.set_defaults(func=cmd_db_migrate)
    add_seal_command(db_sub)  # issue 17: hedui db seal (verifier/cli/retention.py)
