"""``hedui witness ...``: run a C2SP tlog-witness of hedui's audit log (or any log), as a separate process.

``witness keygen --key FILE --name NAME`` makes the witness's Ed25519 key (mode 0600) and prints its verifier
key (signature type 0x04) for the log's ``[witness_policy]`` and for supervisors; ``witness vkey --key FILE``
prints it again. ``witness serve --key FILE --state DIR --listen HOST:PORT --log ORIGIN=VKEY ...`` answers
``add-checkpoint`` and the monitoring URL (:mod:`audit.witness_server`) until it is stopped (SIGINT, SIGTERM).
Its state is its own directory, never hedui's database.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from audit.checkpoint import Checkpoint, CheckpointError, NoteVerifier
from audit.cosignature import CosignatureError, CosignatureVerifier
from audit.witness import WitnessError
from audit.witness_server import CosignatureSigner, WitnessService, serve
from audit.witnessing import WitnessSpec, check_stored_cosignatures, monitored_checkpoint
from verifier.cli._common import UsageError
from verifier.config import Settings

__all__ = ["add_witness_commands", "monitored", "stored_cosignatures_failure", "witness_specs"]


def _signer(path: Path) -> CosignatureSigner:
    """The witness key in ``path``; a missing or malformed file is invalid input."""
    try:
        return CosignatureSigner.from_key_file(path)
    except FileNotFoundError:
        raise UsageError(f"--key {path}: no such file (make one with hedui witness keygen)") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"--key {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _logs(values: list[str]) -> dict[str, list[NoteVerifier]]:
    """``ORIGIN=VKEY`` pairs: the logs witnessed and their keys (several keys per origin allowed)."""
    logs: dict[str, list[NoteVerifier]] = {}
    for value in values:
        origin, equals, vkey = value.partition("=")
        if not equals or not origin:
            raise UsageError(f"--log {value!r}: give ORIGIN=VKEY")
        try:
            logs.setdefault(origin, []).append(NoteVerifier.from_vkey(vkey))
        except CheckpointError as exc:
            raise UsageError(f"--log {origin}: {exc}") from None
    return logs


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write a new witness key; print its verifier key."""
    name = str(args.name)
    if not name or "+" in name or any(c.isspace() for c in name):
        raise UsageError("--name: a key name without spaces or '+', e.g. witness.example.org/w1")
    signer = CosignatureSigner.generate(name)
    try:
        fd = os.open(args.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"--key {args.key}: exists; a witness key is never overwritten") from None
    except OSError as exc:
        raise UsageError(f"--key {args.key}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(signer.key_file_text())
    print(signer.vkey)
    return 0


def cmd_vkey(args: argparse.Namespace) -> int:
    """Print the verifier key of a witness key."""
    print(_signer(args.key).vkey)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; prints ``witness <vkey> listening on HOST:PORT`` once it listens."""
    signer = _signer(args.key)
    logs = _logs(args.log or [])
    if not logs:
        raise UsageError("--log ORIGIN=VKEY: name at least one log to witness")
    host, colon, port = str(args.listen).rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen {args.listen!r}: give HOST:PORT")
    try:
        witness = WitnessService(signer, args.state, logs)
        server = serve(witness, host or "127.0.0.1", int(port))
    except OSError as exc:
        raise UsageError(f"cannot serve on {args.listen} with state {args.state}: {exc.strerror or exc}") from None
    # SIGTERM/SIGINT are blocked in every thread (the server's threads inherit the mask) and taken here with
    # sigwait: a signal delivered to a busy server thread would otherwise never wake a main thread blocked on
    # a lock, and the process would not stop.
    stopping = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stopping)
    thread = threading.Thread(target=server.serve_forever, name="witness-http", daemon=True)
    thread.start()
    print(f"witness {signer.vkey} listening on {host or '127.0.0.1'}:{server.server_port}", flush=True)
    signal.sigwait(stopping)
    server.shutdown()
    server.server_close()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stopping)
    return 0


def add_witness_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui witness keygen|vkey|serve``."""
    group = sub.add_parser("witness", help="run a C2SP tlog-witness (its own key and state, a separate process)")
    commands = group.add_subparsers(dest="witness_command", required=True, parser_class=parser_class)
    keygen = commands.add_parser("keygen", help="make the witness's Ed25519 key; print its verifier key")
    keygen.add_argument("--key", type=Path, required=True, help="where to write the secret key (never overwritten)")
    keygen.add_argument("--name", required=True, help="the witness's key name, e.g. witness.example.org/w1")
    keygen.set_defaults(func=cmd_keygen)
    vkey = commands.add_parser("vkey", help="print the verifier key of a witness key")
    vkey.add_argument("--key", type=Path, required=True)
    vkey.set_defaults(func=cmd_vkey)
    serving = commands.add_parser("serve", help="answer add-checkpoint (C2SP tlog-witness) over HTTP")
    serving.add_argument("--key", type=Path, required=True, help="the witness key (hedui witness keygen)")
    serving.add_argument("--state", type=Path, required=True, help="the witness's own state directory")
    serving.add_argument("--listen", default="127.0.0.1:7380", help="HOST:PORT (port 0: any free one)")
    serving.add_argument("--log", action="append", metavar="ORIGIN=VKEY", help="a log to witness (repeatable)")
    serving.set_defaults(func=cmd_serve)


# --- for `hedui audit verify`: the policy's witnesses and `--witness-url` -----------------------------------


def witness_specs(pairs: list[list[str]] | None, settings: Settings | None) -> list[WitnessSpec]:
    """The network witnesses a check applies: the configured policy's (``--config``), then ``--witness-url``."""
    specs = list(settings.witness_policy.witnesses) if settings is not None else []
    for url, vkey in pairs or []:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--witness-url {url}: not an http:// or https:// URL")
        try:
            verifier = CosignatureVerifier.from_vkey(vkey)
        except CosignatureError as exc:
            raise UsageError(f"--witness-url {url}: {exc}") from None
        twin = next((s for s in specs if s.verifier.public_key == verifier.public_key), None)
        if twin is not None:  # a cosignature does not commit to the name: one key is one witness
            raise UsageError(f"--witness-url {url}: its public key is already witness {twin.name}'s")
        specs.append(WitnessSpec(url, url, verifier))
    return specs


async def monitored(specs: list[WitnessSpec], verifier: NoteVerifier) -> list[Checkpoint]:
    """The checkpoint each witness cosigned last for the log (read from its monitoring URL), each verified."""
    seen = []
    for spec in specs:
        try:
            checkpoint = await monitored_checkpoint(spec, verifier)
        except WitnessError as exc:
            raise UsageError(str(exc)) from None
        if checkpoint is not None:
            seen.append(checkpoint)
    return seen


async def stored_cosignatures_failure(
    session: AsyncSession, specs: list[WitnessSpec], verifier: NoteVerifier
) -> str | None:
    """The first cosignature stored in the database that does not verify (``None``: all do, or none stored)."""
    connection = await session.connection()
    tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    if "audit_cosignatures" not in tables:
        return None
    return await check_stored_cosignatures(session, specs, verifier)
