"""``hedui retention run``: department answers past ``department_answers_months`` crypto-shredded (their month's
data key destroyed), each destruction in the audit log; the service does the same daily (issue 17,
docs/sealing.md). Reports stay readable and the audit log verifiable."""

from __future__ import annotations

import argparse
from typing import Any

from verifier.cli._common import UsageError, add_database_options, trust_store_settings
from verifier.service import HeduiService
from verifier.storage.sealing import Retention, run_retention, seal_legacy

__all__ = ["add_retention_commands", "add_seal_command", "cmd_db_seal", "cmd_retention_run"]


def cmd_retention_run(args: argparse.Namespace) -> int:
    """Destroy the answers keys past retention; print what was destroyed."""
    from verifier.cli.keys import run_admin

    settings = trust_store_settings(args, existing=True)
    months = settings.department_answers_months

    async def work(service: HeduiService) -> Retention:
        """Retention, with its audit entries, and the destroyed keys' old row versions scrubbed."""
        if service.sealer is None:
            raise UsageError("sealing is off")
        return await run_retention(
            service.db, service.sealer, service.audit, months, operator="hedui-retention", client="cli"
        )

    done = run_admin(settings, work)
    if not done.destroyed:
        print(f"no department answers older than {months} months: nothing destroyed")
    for key in done.destroyed:
        print(f"department answers of {key.period} deleted: data key {key.id} destroyed")
    if done.destroyed:
        print(done.scrubbed)
    return 0


def cmd_db_seal(args: argparse.Namespace) -> int:
    """``hedui db seal``: the rows written before revision 0012 sealed in place (idempotent)."""
    from verifier.cli.keys import run_admin

    settings = trust_store_settings(args, existing=True)

    async def work(service: HeduiService) -> dict[str, int]:
        """The sealing pass in one transaction."""
        if service.sealer is None:
            raise UsageError("sealing is off")
        async with service.db.write() as session:
            return await seal_legacy(session, service.sealer)

    done = run_admin(settings, work)
    print("sealed: " + ", ".join(f"{table} {count}" for table, count in done.items()))
    return 0


def add_seal_command(db_sub: Any) -> None:
    """Register ``hedui db seal``."""
    seal = db_sub.add_parser("seal", help="seal the rows written before personal data was sealed at rest (issue 17)")
    add_database_options(seal)
    seal.set_defaults(func=cmd_db_seal)


def add_retention_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui retention run``."""
    retention = sub.add_parser("retention", help="keep personal data no longer than the policy allows")
    retention_sub = retention.add_subparsers(dest="retention_command", required=True, parser_class=parser_class)
    run = retention_sub.add_parser("run", help="crypto-shred department answers past department_answers_months")
    add_database_options(run)
    run.set_defaults(func=cmd_retention_run)
