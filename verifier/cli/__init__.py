"""The ``hedui`` command: one module per command group, sharing the helpers of :mod:`verifier.cli._common`.

``demo``, ``serve``, ``verify``, ``keys``, ``consent``, ``audit``, ``policy``, ``db``, ``config`` and
``connector`` (:mod:`verifier.cli.connector`). Invalid input exits 2 with one line on stderr and writes
nothing; a database that is busy or out of reach is exit 2 and one line too; a reader that stops early
(``hedui consent verify … | head``) ends the command quietly.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

# The commands' imports make some 180 000 objects and no garbage; the collector's passes over them cost about 0.2 s
# of every command's start-up (and of `hedui serve`'s). Paused while they load, and what they made is left out of
# later collections (gc.freeze: they live as long as the process).
collecting = gc.isenabled()
gc.disable()
try:
    from verifier.cli._common import HeduiParser, UsageError, database_unavailable, fail
    from verifier.cli.audit import add_audit_commands
    from verifier.cli.clients import add_clients_commands
    from verifier.cli.config import add_config_commands
    from verifier.cli.connector import add_connector_commands
    from verifier.cli.consent import add_consent_commands
    from verifier.cli.db import add_db_commands
    from verifier.cli.demo import add_demo_command
    from verifier.cli.departments import add_departments_commands
    from verifier.cli.keys import add_keys_commands
    from verifier.cli.policy import add_policy_commands
    from verifier.cli.report import add_report_commands
    from verifier.cli.retention import add_retention_commands
    from verifier.cli.serve import add_serve_command
    from verifier.cli.verify import _verify, add_verify_command, run_verification, signed_authorization
    from verifier.cli.witness import add_witness_commands
finally:
    gc.freeze()
    if collecting:
        gc.enable()

# ``_verify`` stays importable from here for the tests that run a verification on a sandbox dataset.
__all__ = ["_verify", "main", "parser", "run_verification", "signed_authorization"]

# The exit status of a process ended by SIGPIPE, as a shell reports it.
BROKEN_PIPE_EXIT = 128 + 13


def parser() -> HeduiParser:
    """The whole command line: every group registered on one parser."""
    top = HeduiParser(prog="hedui", description="Household financial verification (核对) service.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=HeduiParser)
    add_demo_command(sub)
    add_serve_command(sub)
    add_verify_command(sub)
    add_keys_commands(sub, HeduiParser)
    add_clients_commands(sub, HeduiParser)
    add_consent_commands(sub, HeduiParser)
    add_db_commands(sub, HeduiParser)
    add_audit_commands(sub, HeduiParser)
    add_connector_commands(sub, HeduiParser)
    add_policy_commands(sub, HeduiParser)
    add_config_commands(sub, HeduiParser)
    add_departments_commands(sub, HeduiParser)
    add_report_commands(sub, HeduiParser)
    add_witness_commands(sub, HeduiParser)
    add_retention_commands(sub, HeduiParser)  # issue 17
    return top


def _quiet_broken_pipe() -> int:
    """The reader went away: point stdout at /dev/null so the interpreter's last flush cannot fail either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return BROKEN_PIPE_EXIT


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command: its exit code; exit 2 and one line for invalid input; quiet when the reader goes away."""
    try:
        args = parser().parse_args(argv)
        code: int = args.func(args)
        sys.stdout.flush()
    except UsageError as exc:
        fail(str(exc))
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except Exception as exc:
        database_unavailable(exc)  # exit 2 and one line for a database busy or out of reach; else a bug
        raise
    return code
