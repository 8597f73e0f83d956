"""``hedui audit ...``: the supervisor's tools — list, export, verify, anomalies, public-key — and the
operator's ``recover``.

The supervisor's tools read the database directly (read-only) or an export file, so a supervisor can
check the log without the service running and without trusting it. They change nothing on disk but the
export they are asked to write: a missing key file is refused, never created (the service creates its
keys on first start), and a witness's directory is only read. ``recover`` is the operator's step after
the log stopped signing: it takes the signer's lease and may rewrite the signer's state file, nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from audit.anomalies import find_anomalies
from audit.checkpoint import Checkpoint, CheckpointError, NoteSigner, NoteVerifier
from audit.log import AuditLog, EntryFilter, EntryTampered, StoredEntry
from audit.note_sm2 import Sm2Continuity, Sm2NoteVerifier, note_verifier
from audit.recover import RecoveryRefused, recover
from audit.state import FileState, StateError
from audit.verify import (
    CheckResult,
    Failure,
    LogCheckFailed,
    check_export,
    check_stored_log,
    export_stored_log,
    witnessed_checkpoint,
)
from audit.witness import WitnessError
from consent.identity import CHINA_TIME
from verifier.cli._common import (
    UsageError,
    atomic_output,
    instant,
    log_signer,
    read_only_settings,
    require_database,
)
from verifier.cli.witness import monitored, stored_cosignatures_failure, witness_specs
from verifier.config import Settings
from verifier.storage.db import Database
from verifier.storage.sealing import Sealer, audit_opener, sealer_for, start_sealing

__all__ = ["add_audit_commands"]


def _settings(config: Path | None) -> Settings:
    """The configured settings, read-only: key files that do not exist stay missing (see :func:`_require`)."""
    return read_only_settings(config)


def _require(settings: Settings, setting: str) -> None:
    """Refuse when the key file of ``setting`` does not exist (it would hash or sign with no real key)."""
    missing = settings.missing_key_files.get(setting)
    if missing is not None:
        raise UsageError(
            f"{setting}: {missing} does not exist (the audit commands never create keys; hedui serve does)"
        )


def _subject_key(settings: Settings) -> bytes:
    """The service's subject key (to match a person), refused if its file does not exist."""
    _require(settings, "audit_subject_key_file")
    return settings.audit_subject_key


def _log_signer(settings: Settings) -> NoteSigner:
    """The log's signer from the configured key file, refused if it does not exist."""
    _require(settings, "audit_log_key_file")
    return log_signer(settings)


def _read_text(path: Path, what: str) -> str:
    """A UTF-8 text input file."""
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what} {path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def _key_file(path: Path) -> tuple[NoteVerifier, Sm2NoteVerifier | None]:
    """A ``--public-key`` file: the Ed25519 verifier key, and (issue 17) the SM2 one on a second line if given."""
    try:
        keys = [note_verifier(line.strip()) for line in _read_text(path, "--public-key").splitlines() if line.strip()]
    except CheckpointError as exc:
        raise UsageError(f"--public-key {path}: {exc}") from None
    ed25519 = [k for k in keys if isinstance(k, NoteVerifier)]
    sm2 = [k for k in keys if isinstance(k, Sm2NoteVerifier)]
    if len(ed25519) != 1 or len(sm2) > 1:
        raise UsageError(f"--public-key {path}: one Ed25519 note verifier key (and at most one SM2 one) expected")
    return ed25519[0], (sm2[0] if sm2 else None)


def _log_keys(args: argparse.Namespace) -> tuple[NoteVerifier, Sm2NoteVerifier | None]:
    """The log's public key: a file given by the supervisor, else the one the configured service signs with;
    and (issue 17) its SM2 key, the file's second line or, under the ``sm`` suite, the configured one."""
    if args.public_key is not None:
        return _key_file(args.public_key)
    settings = _settings(args.config)
    missing = settings.missing_key_files.get("audit_log_key_file")
    if missing is not None:
        raise UsageError(f"give --public-key: there is no log key at {missing} to take it from")
    return _log_signer(settings).verifier(), _sm2_verifier(settings)


def _sm2_verifier(settings: Settings) -> Sm2NoteVerifier | None:
    """Issue 17: under the ``sm`` suite, the public half of the log's SM2 key (refused if its file is missing)."""
    if settings.crypto_suite != "sm":
        return None
    _require(settings, "audit_log_sm2_key_file")
    return settings.log_cosigners()[0].verifier()


def _witnessed(directories: list[Path], verifier: NoteVerifier) -> list[Checkpoint]:
    """The newest checkpoint of each file witness directory that holds one, each verified."""
    seen = []
    for directory in directories:
        if not directory.is_dir():
            raise UsageError(f"--witness {directory}: not a directory")
        try:
            checkpoint = witnessed_checkpoint(directory, verifier)
        except CheckpointError as exc:
            raise UsageError(f"--witness {directory}: its checkpoint does not verify: {exc}") from None
        except (WitnessError, OSError, ValueError) as exc:
            raise UsageError(f"--witness {directory}: {getattr(exc, 'strerror', None) or exc}") from None
        if checkpoint is not None:
            seen.append(checkpoint)
    return seen


async def _open_db(url: str) -> Database:
    """The database holding the audit log, opened read-only in spirit: a missing one is refused, not created."""
    require_database(url)
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    except (DBAPIError, OSError) as exc:
        await db.close()
        raise UsageError(f"--db: cannot open the database: {type(exc).__name__}") from None
    if not {"audit_entries", "audit_leaves", "audit_tree_heads"} <= tables:
        await db.close()
        raise UsageError("--db: not a hedui database with an audit log (run hedui serve once to create it)")
    return db


def _db_url(args: argparse.Namespace) -> str:
    """``--db``, else the configured database."""
    return str(args.db or _settings(args.config).database_url)


# --- verify -----------------------------------------------------------------------------------------


def _signer_state(settings: Settings, verifier: NoteVerifier) -> Checkpoint | None:
    """The size and root the signer keeps beside its key, when the configured state file exists."""
    if settings.audit_log_state_file is None:
        return None
    try:
        state = FileState(settings.audit_log_state_file).load()
    except StateError as exc:
        raise UsageError(f"audit_log_state_file: {exc}") from None
    if state is None or not state.size:
        return None
    if state.origin != verifier.name:
        raise UsageError(f"audit_log_state_file: the state is of the log {state.origin!r}, not {verifier.name!r}")
    return Checkpoint(state.origin, state.size, state.root)


async def _verify(args: argparse.Namespace) -> CheckResult:
    """Check the export file or the database against the log's key, the witnesses and (``--config``) the
    witnesses configured and the signer's state."""
    verifier, sm2 = _log_keys(args)
    rule = Sm2Continuity(sm2) if sm2 is not None else None  # issue 17: the SM2 line under sm
    head_rule = rule.check if rule is not None else None
    directories = list(args.witness or [])
    signer_state = None
    settings = None
    if args.config is not None:
        settings = _settings(args.config)
        directories = [*settings.witness_dirs, *directories]
        signer_state = _signer_state(settings, verifier)
    specs = witness_specs(args.witness_url, settings)  # issue 12: network witnesses (verifier/cli/witness.py)
    witnessed = _witnessed(directories, verifier) + await monitored(specs, verifier)
    if args.export is not None:
        try:
            with args.export.open("rb") as handle:
                return _sm2_seen(
                    check_export(handle, verifier, witnessed=witnessed, signer_state=signer_state, head_rule=head_rule),
                    rule,
                )
        except OSError as exc:
            raise UsageError(f"--export {args.export}: cannot read: {exc.strerror}") from None
    db = await _open_db(_db_url(args))
    try:
        opener = await _opener(db, settings or _settings(args.config))
        async with db.sessions() as session:
            result = await check_stored_log(
                session,
                verifier,
                origin=verifier.name,
                witnessed=witnessed,
                signer_state=signer_state,
                bound_rows=True,
                head_rule=head_rule,
                opener=opener,
            )
            result = _sm2_seen(result, rule)
            cosigned = None if result.failure else await stored_cosignatures_failure(session, specs, verifier)
            return dataclasses.replace(result, failure=Failure(None, cosigned)) if cosigned else result
    finally:
        await db.close()


def _sm2_seen(result: CheckResult, rule: Sm2Continuity | None) -> CheckResult:
    """Issue 17: under the ``sm`` suite a log with signed heads must carry the SM2 line on its newest ones at least
    (the continuity rule has checked every head from the first that carries it)."""
    if rule is None or result.failure is not None or not result.heads or rule.seen:
        return result
    failure = Failure(None, f"no signed tree head carries the log's SM2 signature ({rule.verifier.name})")
    return dataclasses.replace(result, failure=failure)


async def _opener(db: Database, settings: Settings) -> Any:
    """Issue 17: what opens the sealed rows, from the configured key provider (nothing created; no data keys yet:
    the rows are read as stored)."""
    return audit_opener(await read_sealer(db, settings))


async def read_sealer(db: Database, settings: Settings) -> Sealer | None:
    """Issue 17: the sealer a read-only tool opens ``db``'s sealed cells with, its data keys loaded and nothing
    created (``None`` for a database from before sealing, whose rows are read as stored)."""
    has_keys = await db.engine.connect()
    try:
        tables = await has_keys.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await has_keys.close()
    sealer = sealer_for(settings, create=False) if "data_keys" in tables else None
    await start_sealing(db, sealer, create=False)
    return sealer


def cmd_verify(args: argparse.Namespace) -> int:
    """``hedui audit verify``: exit 0 when the log (database or export) is intact, 1 naming the first failure."""
    if args.export is not None and args.db is not None:
        raise UsageError("give --db or --export, not both")
    if args.export is not None and args.public_key is None:
        raise UsageError("--export needs --public-key: the log's key, from a source you trust")
    result = asyncio.run(_verify(args))
    source = str(args.export) if args.export is not None else "the database"
    if result.failure is not None:
        print(f"audit log NOT intact ({source}): {result.failure}")
        print(f"checked before the failure: {result.entries} entries, {result.heads} signed tree head(s)")
        return 1
    witnessed = f", consistent with {result.witnessed} witnessed heads" if result.witnessed else ""
    pending = (
        f"; {result.pending} newer entries not checked (awaiting integration, or integrated during the check)"
        if result.pending
        else ""
    )
    if result.unchecked_rows:
        pending += f"; {result.unchecked_rows} stored reports or answers with those newer entries not checked"
    if result.expired_answers:  # issue 17: crypto-shredded by retention, as DATA_KEY_DESTROYED entries record
        pending += f"; {result.expired_answers} department answers expired (data key destroyed by retention)"
    if result.unopened_rows:
        pending += f"; {result.unopened_rows} stored reports or answers not checked (their data key is not at hand)"
    print(
        f"audit log intact ({source}): {result.entries} entries, {result.heads} signed tree head(s){witnessed}{pending}"
    )
    return 0


# --- recover ----------------------------------------------------------------------------------------


async def _recover(args: argparse.Namespace) -> tuple[bool, str]:
    """Run the recovery step on the configured (or ``--db``) database; (done, one line)."""
    settings = _settings(args.config)
    verifier = _log_signer(settings).verifier()
    if settings.audit_log_state_file is None:  # pragma: no cover - load_settings always names one
        raise UsageError("audit_log_state_file: not configured")
    witnessed = _witnessed([*settings.witness_dirs, *(args.witness or [])], verifier)
    witnessed += await monitored(witness_specs(None, settings), verifier)  # issue 12: the policy's witnesses too
    db = await _open_db(_db_url(args))
    try:
        async with db.write() as session:
            done = await recover(
                session,
                FileState(settings.audit_log_state_file),
                verifier,
                origin=settings.audit_log_origin,
                witnessed=witnessed,
            )
    except RecoveryRefused as exc:
        return False, str(exc)
    except StateError as exc:
        raise UsageError(f"audit_log_state_file: {exc}") from None
    finally:
        await db.close()
    return True, done.message


def cmd_recover(args: argparse.Namespace) -> int:
    """``hedui audit recover``: make the signer's state agree with the stored log where that is safe (exit 0),
    or say why it is not (exit 1); the service signs again at its next integration."""
    done, message = asyncio.run(_recover(args))
    print(("" if done else "audit log NOT recovered: ") + message)
    return 0 if done else 1


# --- export -----------------------------------------------------------------------------------------


async def _export(url: str, handle: IO[bytes], log_key: str) -> int:
    """Write the stored log to ``handle``; the number of lines written."""
    db = await _open_db(url)
    lines = 0
    try:
        async for chunk in export_stored_log(db.sessions, log_key=log_key):
            handle.write(chunk)
            lines += chunk.count(b"\n")
    except LogCheckFailed as exc:
        raise UsageError(f"cannot export: {exc}") from None
    finally:
        await db.close()
    return lines


def cmd_export(args: argparse.Namespace) -> int:
    """``hedui audit export``: the log and its signed heads as JSON lines, written atomically."""
    if not args.out.parent.is_dir():
        raise UsageError(f"--out: {args.out.parent} is not a directory")
    # The header's log_key is a convenience for the reader (who must get the key elsewhere anyway).
    settings = _settings(args.config)
    log_key = "" if "audit_log_key_file" in settings.missing_key_files else _log_signer(settings).verifier_key()
    # Written beside the target and renamed into place: a failed export leaves no half file.
    with atomic_output(args.out) as handle:
        lines = asyncio.run(_export(_db_url(args), handle, log_key))
    print(f"wrote {args.out}: {lines} lines, {args.out.stat().st_size} bytes")
    return 0


# --- list and anomalies ------------------------------------------------------------------------------


async def _entries(args: argparse.Namespace, where: EntryFilter, limit: int | None) -> list[StoredEntry]:
    """The entries under the newest signed head whose signed values match ``where`` (and ``--person``, through
    the subject key): every row is read and decoded, so an edited column can neither hide nor misattribute one."""
    person = getattr(args, "person", None)
    # Reading needs no key; matching a person needs the service's own subject key, never a new one.
    log = AuditLog(_subject_key(_settings(args.config)) if person else b"")
    if person:
        where = dataclasses.replace(where, subject=log.subject(person.strip().upper()))
    db = await _open_db(_db_url(args))
    try:
        async with db.sessions() as session:
            return await log.entries(session, where=where, limit=limit)
    finally:
        await db.close()


def _read_entries(args: argparse.Namespace, where: EntryFilter, limit: int | None) -> list[StoredEntry] | None:
    """The entries (decoded from their signed bytes, filtered on them); ``None`` after printing the first row
    whose columns or leaf disagree with its bytes."""
    try:
        return asyncio.run(_entries(args, where, limit))
    except EntryTampered as exc:
        print(f"audit log NOT intact (the database): {exc}; run hedui audit verify")
        return None


def _filter(args: argparse.Namespace) -> EntryFilter:
    """The options of ``audit list`` as an entry filter."""
    return EntryFilter(
        verification=(args.verification or "").removeprefix("verifications/"),
        kind=args.kind or "",
        operator=args.operator or "",
        department=args.department or "",
        since=instant(args.since, "--since"),
        until=instant(args.until, "--until"),
    )


def _event_json(entry: StoredEntry) -> dict[str, Any]:
    """One entry as a JSON line: its index and its canonical body."""
    body: dict[str, Any] = json.loads(entry.entry)
    return {"index": entry.index, **body}


def cmd_list(args: argparse.Namespace) -> int:
    """``hedui audit list``: audit events by person, operator, case, department, kind and time."""
    entries = _read_entries(args, _filter(args), args.limit)
    if entries is None:
        return 1
    if args.format == "json":
        for entry in entries:
            print(json.dumps(_event_json(entry), ensure_ascii=False, sort_keys=True))
        return 0
    table = Table(title=f"audit events ({len(entries)})")
    for column in ("#", "time (China)", "kind", "operator", "client", "verification", "department"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            str(entry.index),
            entry.recorded_at.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S"),
            entry.kind,
            entry.operator,
            entry.client,
            entry.verification,
            entry.department,
        )
    Console(soft_wrap=True).print(table)
    return 0


def cmd_anomalies(args: argparse.Namespace) -> int:
    """``hedui audit anomalies``: the look-ups a supervisor should ask about, with evidence in the time range."""
    since, until = instant(args.since, "--since"), instant(args.until, "--until")
    # The rules look at the whole log (a case opened before --since is still a case), then keep the
    # findings with evidence inside the time range.
    entries = _read_entries(args, EntryFilter(), None)
    if entries is None:
        return 1
    times = {e.index: e.recorded_at for e in entries}
    anomalies = [
        a
        for a in find_anomalies(entries)
        if any((since is None or times[i] >= since) and (until is None or times[i] < until) for i in a.entries)
    ]
    if args.format == "json":
        for anomaly in anomalies:
            print(json.dumps(anomaly.to_plain(), ensure_ascii=False, sort_keys=True))
        return 0
    console = Console(soft_wrap=True)
    if not anomalies:
        console.print(f"no anomalies in {len(entries)} audit events")
        return 0
    table = Table(title=f"anomalies ({len(anomalies)} in {len(entries)} audit events)")
    for column in ("kind", "what", "entries"):
        table.add_column(column)
    for anomaly in anomalies:
        table.add_row(anomaly.kind, anomaly.description, ", ".join(str(i) for i in anomaly.entries[:10]))
    console.print(table)
    return 0


def cmd_public_key(args: argparse.Namespace) -> int:
    """``hedui audit public-key``: the log's note verifier key, to hand to supervisors (and witnesses, Go's note
    package); under the ``sm`` suite its SM2 verifier key on a second line, for hedui's own verifiers."""
    settings = _settings(args.config)
    print(_log_signer(settings).verifier_key())
    sm2 = _sm2_verifier(settings)
    if sm2 is not None:
        print(sm2.vkey)
    return 0


# --- parser ----------------------------------------------------------------------------------------


def add_audit_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui audit ...``; invalid input raises ``UsageError`` (exit 2)."""
    audit = sub.add_parser("audit", help="supervisor tools: list, export and verify the audit log")
    commands = audit.add_subparsers(dest="audit_command", required=True, parser_class=parser_class)

    def common(p: argparse.ArgumentParser, *, db: bool = True) -> None:
        """``--db`` (unless the command reads no database) and ``--config``."""
        if db:
            p.add_argument("--db", help="database URL (default: the configured one, sqlite:///.hedui/hedui.db)")
        p.add_argument("--config", type=Path, help="the service's TOML config (keys, database)")

    verify = commands.add_parser("verify", help="check every entry, signed head and witnessed head; exit 1 if not")
    common(verify)
    verify.add_argument("--export", type=Path, help="check an export file offline instead of a database")
    verify.add_argument(
        "--public-key", type=Path, help="the log's public key (note verifier key; a second line: its SM2 key)"
    )
    verify.add_argument("--witness", type=Path, action="append", help="a file witness directory (repeatable)")
    verify.add_argument(
        "--witness-url", nargs=2, action="append", metavar=("URL", "VKEY"), help="a tlog-witness and its key"
    )
    verify.set_defaults(func=cmd_verify)

    export = commands.add_parser("export", help="write the log and its signed heads to a file for offline checks")
    common(export)
    export.add_argument("--out", type=Path, required=True)
    export.set_defaults(func=cmd_export)

    listing = commands.add_parser("list", help="list audit events by person, operator, case, department, time")
    common(listing)
    listing.add_argument("--person", help="identity number (matched through its keyed hash)")
    listing.add_argument("--operator")
    listing.add_argument("--verification", help="the case: verifications/{id} or {id}")
    listing.add_argument("--department")
    listing.add_argument("--kind")
    listing.add_argument("--since", help="from this time (ISO 8601; China time if no offset)")
    listing.add_argument("--until", help="before this time")
    listing.add_argument("--limit", type=int, default=200)
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(func=cmd_list)

    anomalies = commands.add_parser("anomalies", help="report look-ups a supervisor should ask about")
    common(anomalies)
    anomalies.add_argument("--since")
    anomalies.add_argument("--until")
    anomalies.add_argument("--format", choices=("text", "json"), default="text")
    anomalies.set_defaults(func=cmd_anomalies)

    recovering = commands.add_parser(
        "recover",
        help="operator: after the log stopped signing, adopt the checked stored log as the signer's state if safe",
    )
    common(recovering)
    recovering.add_argument("--witness", type=Path, action="append", help="a file witness directory (repeatable)")
    recovering.set_defaults(func=cmd_recover)

    public_key = commands.add_parser("public-key", help="print the log's public key (to give to supervisors)")
    common(public_key, db=False)
    public_key.set_defaults(func=cmd_public_key)
