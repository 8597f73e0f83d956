"""``hedui keys ...`` (the trust store) and ``hedui consent ...`` (tools for case systems).

- ``keys generate`` makes a signing key pair; ``keys add|list|rotate|revoke`` manage the organisations'
  keys in the database, each change with its audit event. The entries are integrated into the signed
  log by the running service (an admin command never signs tree heads with a key of its own).
- ``consent sign`` signs an artefact file — an authorization or a member-key certificate — with a local
  key into a DSSE JSON envelope, over the file's exact bytes; given an envelope, it adds a signature.
- ``consent verify`` checks an envelope file as registration would: against public key files or the
  database's trust store. Exit 0 valid, 1 not valid (the reason on stdout), 2 invalid input.

Identity numbers are shown masked and names shortened to their first character.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from audit.checkpoint import CheckpointError, open_checkpoint
from consent import (
    AUTHORIZATION_PAYLOAD_TYPE,
    MEMBER_KEY_PAYLOAD_TYPE,
    AuthorizationError,
    CertificateError,
    Envelope,
    EnvelopeFormatError,
    SignatureError,
    SigningKey,
    TrustedKey,
    check_authorization,
    china_today,
    envelope_from_json,
    envelope_to_json,
    keyids_to_look_up,
    mask,
    parse_authorization_payload,
    parse_member_key_certificate,
    verify_envelope,
)
from consent.envelope import EnvelopeSignature, key_id_for, load_public_key, pae
from consent.identity import CHINA_TIME
from verifier.errors import ServiceError
from verifier.service import Caller, HeduiService
from verifier.settings import ConfigError, Settings, load_settings
from verifier.storage.db import Database
from verifier.storage.models import TrustedKeyRow
from verifier.trust_store import (
    KeyEntry,
    check_organisation,
    list_trusted_keys,
    revoke_trusted_key,
    rotate_trusted_key,
)
from verifier.usage import UsageError

__all__ = ["add_consent_commands"]

CALLER = Caller(operator="hedui-keys", client="cli")
PAYLOAD_TYPES = {"authorization": AUTHORIZATION_PAYLOAD_TYPE, "member-key": MEMBER_KEY_PAYLOAD_TYPE}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
DEFAULT_BASE = Path(".hedui")


# --- helpers --------------------------------------------------------------------------------------


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot read: {exc.strerror}") from None


def _read_json(path: Path, what: str) -> Any:
    data = _read_bytes(path, what)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{what} {path}: not UTF-8 JSON: {exc}") from None


def _read_envelope(path: Path, what: str) -> Envelope:
    try:
        return envelope_from_json(_read_json(path, what))
    except EnvelopeFormatError as exc:
        raise UsageError(f"{what} {path}: {exc}") from None


def _instant(value: str | None, option: str) -> dt.datetime | None:
    """An ISO 8601 date or time; China time when it names no offset."""
    if not value:
        return None
    try:
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not a date or time (e.g. 2026-11-23T09:00+08:00)") from None
    return instant if instant.tzinfo else instant.replace(tzinfo=CHINA_TIME)


def _shown(instant: dt.datetime | None) -> str:
    return "" if instant is None else instant.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def _short_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1)


def _check_db_url(url: str) -> str:
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise UsageError(f"--db {url!r} is not a database URL") from None
    if backend not in ("sqlite", "postgresql"):
        raise UsageError(f"--db: {backend} is not supported (use sqlite:/// or postgresql://)")
    return url


def _settings(args: argparse.Namespace, *, existing: bool = False) -> Settings:
    """The service's settings: from --config, else from ./.hedui if the service keeps its keys there.

    No key file is created. ``existing``: the database must exist already (only ``keys add`` creates one).
    """
    try:
        if args.config:
            settings = load_settings(args.config)
        elif (DEFAULT_BASE / "audit-log.key").exists() and (DEFAULT_BASE / "audit-subject.key").exists():
            settings = load_settings(None, DEFAULT_BASE)
        else:
            settings = Settings()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.db:
        settings = settings.with_overrides(database_url=_check_db_url(args.db))
    if existing:
        _check_exists(settings.database_url)
    return settings


def _write_atomically(path: Path, data: bytes) -> None:
    if not path.parent.is_dir():
        raise UsageError(f"--out: {path.parent} is not a directory")
    fd, tmp = tempfile.mkstemp(prefix=".hedui-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


async def _with_service(settings: Settings, work: Callable[[HeduiService], Any]) -> Any:
    """Run ``work`` on a service over the database (migrated first), without starting its background work.

    The audit entries it appends are integrated into the signed log here only when the log's newest
    head verifies with this service's log key (the same config as the server); otherwise the running
    service integrates them — an admin command never signs a tree head with a key of its own.
    """
    service = HeduiService(Database(settings.database_url), {}, settings)
    try:
        await service.db.migrate()
        result = await work(service)
        async with service.db.sessions() as session:
            head = await service.log.latest_head(session)
        if head is not None:
            try:
                open_checkpoint(head.checkpoint, service.log.verifier, service.log.origin)
            except CheckpointError:
                return result
            await service.log.integrate(service.db.write)
        return result
    finally:
        await service.db.close()


def _run_service(settings: Settings, work: Callable[[HeduiService], Any]) -> Any:
    try:
        return asyncio.run(_with_service(settings, work))
    except ServiceError as exc:
        raise UsageError(str(exc)) from None
    except (DBAPIError, OSError) as exc:
        raise UsageError(f"database: {type(exc).__name__}") from None


# --- keys -----------------------------------------------------------------------------------------


def cmd_keys_generate(args: argparse.Namespace) -> int:
    key = SigningKey.generate_p256() if args.algorithm == "ecdsa-p256" else SigningKey.generate_ed25519()
    private = args.out
    public = private.with_suffix(".pub.pem")
    if private.exists() or public.exists():
        raise UsageError(f"{private} or {public} exists; not overwriting a key")
    if not private.parent.is_dir():
        raise UsageError(f"--out: {private.parent} is not a directory")
    private.write_bytes(key.private_pem())
    private.chmod(0o600)
    public.write_bytes(key.public_pem())
    print(f"{key.keyid}  private {private}  public {public}")
    return 0


def _public_key(path: Path) -> bytes:
    pem = _read_bytes(path, "--public-key")
    try:
        load_public_key(pem)
    except ValueError as exc:
        raise UsageError(f"--public-key {path}: {exc}") from None
    return pem


def _organisation(value: str) -> str:
    try:
        return check_organisation(value)
    except ServiceError as exc:
        raise UsageError(f"--organisation: {exc}") from None


def cmd_keys_add(args: argparse.Namespace) -> int:
    pem = _public_key(args.public_key)
    settings = _settings(args)
    if args.valid_days is not None and args.valid_days <= 0:
        raise UsageError("--valid-days must be positive")
    organisation = _organisation(args.organisation)

    async def add(service: HeduiService) -> str:
        now = dt.datetime.now(dt.UTC)
        not_after = now + dt.timedelta(days=args.valid_days) if args.valid_days else None
        key = await service.add_trusted_key(organisation, pem, not_after=not_after, note=args.note, caller=CALLER)
        return key.keyid

    print(_run_service(settings, add))
    return 0


def _entry_plain(entry: KeyEntry, now: dt.datetime) -> dict[str, Any]:
    def iso(value: dt.datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "keyid": entry.keyid,
        "organisation": entry.organisation,
        "state": entry.state(now),
        "not_before": iso(entry.not_before),
        "not_after": iso(entry.not_after),
        "revoked_at": iso(entry.revoked_at),
        "revoke_reason": entry.revoke_reason,
        "replaces": entry.replaces,
        "note": entry.note,
    }


def cmd_keys_list(args: argparse.Namespace) -> int:
    settings = _settings(args, existing=True)

    async def listing(service: HeduiService) -> list[KeyEntry]:
        return await list_trusted_keys(service, args.organisation or "")

    entries: list[KeyEntry] = _run_service(settings, listing)
    now = dt.datetime.now(dt.UTC)
    if args.format == "json":
        for entry in entries:
            print(json.dumps(_entry_plain(entry, now), ensure_ascii=False, sort_keys=True))
        return 0
    table = Table(title=f"trusted keys ({len(entries)})")
    for column in ("key id", "organisation", "state", "from (China)", "until", "revoked at", "reason", "replaces"):
        table.add_column(column, no_wrap=column != "reason")
    for e in entries:
        table.add_row(
            e.keyid,
            e.organisation,
            e.state(now),
            _shown(e.not_before),
            _shown(e.not_after),
            _shown(e.revoked_at),
            e.revoke_reason or "",
            e.replaces or "",
        )
    (Console() if sys.stdout.isatty() else Console(width=180)).print(table)
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    _organisation(args.organisation)
    pem = _public_key(args.public_key)
    settings = _settings(args, existing=True)
    until = _instant(args.old_valid_until, "--old-valid-until")
    if until is None:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=args.overlap_days)

    async def rotate(service: HeduiService) -> tuple[TrustedKey, KeyEntry]:
        return await rotate_trusted_key(
            service, args.organisation, pem, old_valid_until=until, old_keyid=args.old or "", caller=CALLER
        )

    new, old = _run_service(settings, rotate)
    print(f"{new.keyid} trusted for {new.organisation} from now; {old.keyid} valid until {_shown(old.not_after)}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    settings = _settings(args, existing=True)
    at = _instant(args.at, "--at")

    async def revoke(service: HeduiService) -> tuple[KeyEntry, int]:
        return await revoke_trusted_key(service, args.keyid, reason=args.reason, at=at, caller=CALLER)

    entry, affected = _run_service(settings, revoke)
    print(
        f"{entry.keyid} of {entry.organisation} revoked from {_shown(entry.revoked_at)} (China time); "
        f"{affected} registered authorizations lose its signatures"
    )
    return 0


# --- consent sign -----------------------------------------------------------------------------------


def _is_envelope(data: Any) -> bool:
    return isinstance(data, dict) and {"payload", "payloadType", "signatures"} <= set(data)


def _check_artefact(payload: bytes, payload_type: str, what: str) -> None:
    try:
        if payload_type == AUTHORIZATION_PAYLOAD_TYPE:
            parse_authorization_payload(payload, china_today())
        else:
            parse_member_key_certificate(payload)
    except (AuthorizationError, CertificateError) as exc:
        raise UsageError(f"{what}: {exc}") from None


def cmd_consent_sign(args: argparse.Namespace) -> int:
    try:
        key = SigningKey.from_pem(_read_bytes(args.key, "--key"))
    except ValueError as exc:
        raise UsageError(f"--key {args.key}: {exc}") from None
    data = _read_bytes(args.artefact, "artefact")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{args.artefact}: not UTF-8 JSON: {exc}") from None
    if _is_envelope(parsed):
        try:
            envelope = envelope_from_json(parsed)
        except EnvelopeFormatError as exc:
            raise UsageError(f"{args.artefact}: {exc}") from None
        if envelope.payload_type not in PAYLOAD_TYPES.values():
            raise UsageError(f"{args.artefact}: payload type {envelope.payload_type!r} is not hedui's")
        if args.type and PAYLOAD_TYPES[args.type] != envelope.payload_type:
            raise UsageError(f"--type {args.type}: the envelope holds {envelope.payload_type!r}")
        if any(s.keyid == key.keyid for s in envelope.signatures):
            raise UsageError(f"{args.artefact}: already signed by key {key.keyid}")
    else:
        envelope = Envelope(data, PAYLOAD_TYPES[args.type or "authorization"], ())
    _check_artefact(envelope.payload, envelope.payload_type, str(args.artefact))
    signature = EnvelopeSignature(key.keyid, key.sign(pae(envelope.payload_type, envelope.payload)))
    signed = Envelope(envelope.payload, envelope.payload_type, (*envelope.signatures, signature))
    text = json.dumps(envelope_to_json(signed), indent=2) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        _write_atomically(args.out, text.encode("utf-8"))
        print(f"signed by {key.keyid} ({len(signed.signatures)} signatures): {args.out}")
    return 0


# --- consent verify ---------------------------------------------------------------------------------


def _claimed(payload: bytes, key: str) -> str:
    try:
        value = json.loads(payload.decode("utf-8")).get(key, "")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def _trust_from_files(args: argparse.Namespace, envelope: Envelope) -> dict[str, TrustedKey]:
    organisation = args.organisation or _claimed(
        envelope.payload, "commissioned_by" if envelope.payload_type == AUTHORIZATION_PAYLOAD_TYPE else "organisation"
    )
    trust = {}
    for path in args.public_key:
        pem = _public_key(path)
        keyid = key_id_for(load_public_key(pem))
        trust[keyid] = TrustedKey(keyid, organisation, pem, EPOCH)
    return trust


def _check_exists(url: str) -> str:
    """A SQLite URL must name an existing file: reading never creates a database."""
    if make_url(url).get_backend_name() == "sqlite":
        database = make_url(url).database
        if not database or not Path(database).exists():
            raise UsageError(f"--db: no database at {database}")
    return url


async def _trust_from_db(url: str, keyids: list[str]) -> dict[str, TrustedKey]:
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        if "trusted_keys" not in tables:
            raise UsageError("--db: not a hedui database (no trust store)")
        async with db.sessions() as session:
            rows = await session.scalars(select(TrustedKeyRow).where(TrustedKeyRow.keyid.in_(keyids)))
            return {
                r.keyid: TrustedKey(r.keyid, r.organisation, r.public_key_pem, r.not_before, r.not_after, r.revoked_at)
                for r in rows
            }
    except (DBAPIError, OSError) as exc:
        raise UsageError(f"--db: cannot read the trust store: {type(exc).__name__}") from None
    finally:
        await db.close()


def cmd_consent_verify(args: argparse.Namespace) -> int:
    envelope = _read_envelope(args.envelope, "envelope")
    certificates = [_read_envelope(path, "--certificate") for path in args.certificate or []]
    at = _instant(args.at, "--at") or dt.datetime.now(dt.UTC)
    if args.public_key and args.db:
        raise UsageError("give --public-key or --db, not both")
    if args.public_key:
        trust = _trust_from_files(args, envelope)
    else:
        url = _settings(args, existing=True).database_url
        trust = asyncio.run(_trust_from_db(url, keyids_to_look_up(envelope, certificates)))
    if envelope.payload_type == MEMBER_KEY_PAYLOAD_TYPE:
        return _verify_certificate(envelope, trust, at)
    try:
        checked = check_authorization(envelope, certificates, trust, at, china_today())
    except SignatureError as exc:
        print(f"NOT valid: {exc.field}: {exc.message}")
        return 1
    except AuthorizationError as exc:
        print(f"NOT valid: envelope.payload.{exc.field}: {exc.message}")
        return 1
    payload = checked.payload
    print(f"valid authorization for {payload.commissioned_by}, purpose {payload.purpose}")
    print(
        f"  valid {payload.valid_from.isoformat()} to {payload.valid_until.isoformat()}, "
        f"departments {', '.join(payload.departments)}"
    )
    for signer in checked.signers:
        whose = f"member {mask(signer.id_number)}" if signer.kind == "member" else f"organisation {signer.organisation}"
        print(f"  signed by {signer.kind} key {signer.keyid} ({whose})")
    for member in payload.members:
        state = "signed" if checked.signed_for(member.id_number) else "NOT signed (will not be queried)"
        print(f"  member {mask(member.id_number)} {_short_name(member.name)}: {state}")
    for problem in checked.problems:
        print(f"  ignored: {problem}")
    return 0


def _verify_certificate(envelope: Envelope, trust: dict[str, TrustedKey], at: dt.datetime) -> int:
    try:
        issuers = verify_envelope(envelope, MEMBER_KEY_PAYLOAD_TYPE, trust, at)
        certificate = parse_member_key_certificate(envelope.payload)
    except SignatureError as exc:
        print(f"NOT valid: {exc.field}: {exc.message}")
        return 1
    except CertificateError as exc:
        print(f"NOT valid: envelope.payload.{exc.field}: {exc.message}")
        return 1
    if not any(k.organisation == certificate.organisation for k in issuers):
        print(f"NOT valid: envelope.signatures: no signature by a key of {certificate.organisation}")
        return 1
    why = certificate.why_not_valid_at(at)
    if why is not None:
        print(f"NOT valid: {why}")
        return 1
    print(
        f"valid member-key certificate: key {certificate.keyid} of member {mask(certificate.id_number)} "
        f"{_short_name(certificate.name)}, certified by {certificate.organisation} "
        f"until {_shown(certificate.not_after)} (China time)"
    )
    return 0


# --- parser -----------------------------------------------------------------------------------------


def add_consent_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui keys ...`` and ``hedui consent ...``; invalid input raises ``UsageError`` (exit 2)."""

    def database(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="database URL (default: the config's, else sqlite:///.hedui/hedui.db)")
        p.add_argument("--config", type=Path, help="the service's TOML config")

    keys = sub.add_parser("keys", help="manage the trust store of organisations' keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, parser_class=parser_class)

    generate = keys_sub.add_parser("generate", help="generate a signing key pair for a case system or a member")
    generate.add_argument("--out", type=Path, required=True, help="private key file; the public key goes beside it")
    generate.add_argument("--algorithm", choices=("ed25519", "ecdsa-p256"), default="ed25519")
    generate.set_defaults(func=cmd_keys_generate)

    add = keys_sub.add_parser("add", help="trust an organisation's public key from now")
    add.add_argument("--organisation", required=True)
    add.add_argument("--public-key", type=Path, required=True, help="PEM file (Ed25519 or ECDSA P-256)")
    add.add_argument("--valid-days", type=int, help="expire the key after this many days")
    add.add_argument("--note", default="", help="a note kept with the key")
    database(add)
    add.set_defaults(func=cmd_keys_add)

    listing = keys_sub.add_parser("list", help="list the trusted keys with their validity and revocations")
    listing.add_argument("--organisation")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    database(listing)
    listing.set_defaults(func=cmd_keys_list)

    rotate = keys_sub.add_parser("rotate", help="trust a new key of an organisation; its old key ends at a given time")
    rotate.add_argument("--organisation", required=True)
    rotate.add_argument("--public-key", type=Path, required=True, help="the new key's PEM file")
    rotate.add_argument("--old", help="key id of the key being replaced (needed if the organisation has several)")
    rotate.add_argument("--old-valid-until", help="when the old key stops being trusted (ISO 8601; China time)")
    rotate.add_argument("--overlap-days", type=float, default=7.0, help="without --old-valid-until: now + this")
    database(rotate)
    rotate.set_defaults(func=cmd_keys_rotate)

    revoke = keys_sub.add_parser("revoke", help="stop trusting a key (from now, or from an earlier time)")
    revoke.add_argument("keyid")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--at", help="revoked from this time, e.g. when it was stolen (ISO 8601; default now)")
    database(revoke)
    revoke.set_defaults(func=cmd_keys_revoke)

    consent = sub.add_parser("consent", help="tools for case systems: sign and verify authorization envelopes")
    consent_sub = consent.add_subparsers(dest="consent_command", required=True, parser_class=parser_class)

    sign = consent_sub.add_parser("sign", help="sign an artefact (or add a signature to an envelope)")
    sign.add_argument("artefact", type=Path, help="authorization or member-key JSON, or a DSSE envelope JSON")
    sign.add_argument("--key", type=Path, required=True, help="private key PEM (hedui keys generate)")
    sign.add_argument("--type", choices=sorted(PAYLOAD_TYPES), help="the artefact's kind (default: authorization)")
    sign.add_argument("--out", type=Path, help="envelope file to write (default: standard output)")
    sign.set_defaults(func=cmd_consent_sign)

    verify = consent_sub.add_parser("verify", help="check an envelope as registration would; exit 1 if not valid")
    verify.add_argument("envelope", type=Path)
    verify.add_argument("--public-key", type=Path, action="append", help="trust this public key (repeatable)")
    verify.add_argument("--organisation", help="with --public-key: the organisation the keys speak for")
    verify.add_argument("--certificate", type=Path, action="append", help="a member-key certificate (repeatable)")
    verify.add_argument("--at", help="judge the keys at this time (default now)")
    database(verify)
    verify.set_defaults(func=cmd_consent_verify)
