"""``hedui keys ...``: signing key pairs for case systems, and the trust store of organisations' keys.

``keys generate`` makes a signing key pair; ``keys add|list|rotate|revoke`` manage the organisations'
keys in the database, each change with its audit event. The entries are integrated into the signed
log by the running service (an admin command never signs tree heads with a key of its own). Under
``crypto_suite = "sm"`` (issue 17) a new key is SM2 unless another algorithm is asked for, and the trust store
takes new SM2 keys only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from rich.table import Table
from sqlalchemy.exc import DBAPIError

from consent import SigningKey, TrustedKey
from consent.envelope import load_public_key
from consent.sm2 import Sm2PublicKey
from consent.suite import CryptoSuite
from verifier.cli._common import (
    UsageError,
    add_database_options,
    console,
    instant,
    public_key,
    read_only_settings,
    shown,
    trust_store_settings,
)
from verifier.cli._edges import CannotCreate, probe_database
from verifier.cli.data_keys import add_data_key_commands
from verifier.config import DEFAULT_BASE, Settings
from verifier.errors import ServiceError
from verifier.operations import Caller
from verifier.operations.trust_store import KeyEntry, check_organisation
from verifier.service import HeduiService

__all__ = ["add_keys_commands", "run_admin"]

CALLER = Caller(operator="hedui-keys", client="cli")
Result = TypeVar("Result")


def _organisation(value: str) -> str:
    """An organisation name as the trust store accepts it."""
    try:
        return check_organisation(value)
    except ServiceError as exc:
        raise UsageError(f"--organisation: {exc}") from None


async def _administer(settings: Settings, work: Callable[[HeduiService], Awaitable[Result]]) -> Result:
    """``work`` on a service opened for an admin command (:meth:`HeduiService.administering`)."""
    async with HeduiService.administering(settings) as service:
        return await work(service)


def _run_service(settings: Settings, work: Callable[[HeduiService], Awaitable[Result]]) -> Result:
    """``work`` on an admin service from a command: service and database failures are invalid input."""
    try:
        return asyncio.run(_administer(settings, work))
    except ServiceError as exc:
        raise UsageError(str(exc)) from None
    except (DBAPIError, OSError) as exc:
        raise UsageError(f"database: {type(exc).__name__}") from None


run_admin = _run_service  # issue 13: `hedui clients` runs its work the same way


_GENERATORS: Final = {
    "ed25519": SigningKey.generate_ed25519,
    "ecdsa-p256": SigningKey.generate_p256,
    "sm2": SigningKey.generate_sm2,
}


def _suite(config: Path | None) -> CryptoSuite:
    """Issue 17: the configured crypto suite (the file's or ``HEDUI_CRYPTO_SUITE``), read without creating keys."""
    return read_only_settings(config, DEFAULT_BASE).crypto_suite


def _suite_allows(pem: bytes, settings: Settings) -> bytes:
    """Issue 17: under the ``sm`` suite only SM2 keys are added to the trust store (exit 2 otherwise)."""
    if settings.crypto_suite is CryptoSuite.SM and not isinstance(load_public_key(pem), Sm2PublicKey):
        raise UsageError('--public-key: crypto_suite is "sm": the trust store takes SM2 keys only')
    return pem


def cmd_keys_generate(args: argparse.Namespace) -> int:
    """``hedui keys generate``: a new key pair, the private key readable by its owner only; the algorithm asked
    for, else the suite's (Ed25519, or SM2 under ``sm``)."""
    algorithm = args.algorithm or ("sm2" if _suite(args.config) is CryptoSuite.SM else "ed25519")
    key = _GENERATORS[algorithm]()
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


def cmd_keys_add(args: argparse.Namespace) -> int:
    """``hedui keys add``: trust an organisation's public key from now."""
    pem = public_key(args.public_key)
    if args.valid_days is not None and args.valid_days <= 0:
        raise UsageError("--valid-days must be positive")
    organisation = _organisation(args.organisation)
    settings = trust_store_settings(args)
    _suite_allows(pem, settings)
    try:  # the database can be opened (or created) before anything is written
        probe_database(settings.database_url)
    except CannotCreate as exc:
        raise UsageError(str(exc)) from None

    async def add(service: HeduiService) -> str:
        """Add the key; its key id."""
        now = dt.datetime.now(dt.UTC)
        not_after = now + dt.timedelta(days=args.valid_days) if args.valid_days else None
        key = await service.trust_store.add(organisation, pem, not_after=not_after, note=args.note, caller=CALLER)
        return key.keyid

    print(_run_service(settings, add))
    return 0


def _entry_plain(entry: KeyEntry, now: dt.datetime) -> dict[str, Any]:
    """One trusted key as a JSON line."""

    def iso(value: dt.datetime | None) -> str | None:
        """An instant as ISO 8601, or null."""
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
    """``hedui keys list``: every trusted key with its validity and revocation, as a table or JSON lines."""
    settings = trust_store_settings(args, existing=True)

    async def listing(service: HeduiService) -> list[KeyEntry]:
        """The trusted keys, of one organisation if asked."""
        return await service.trust_store.list(args.organisation or "")

    entries = _run_service(settings, listing)
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
            shown(e.not_before),
            shown(e.not_after),
            shown(e.revoked_at),
            e.revoke_reason or "",
            e.replaces or "",
        )
    console(180).print(table)
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """``hedui keys rotate``: trust a new key of an organisation; the old one ends at a given time."""
    _organisation(args.organisation)
    pem = public_key(args.public_key)
    settings = trust_store_settings(args, existing=True)
    _suite_allows(pem, settings)
    until = instant(args.old_valid_until, "--old-valid-until")
    if until is None:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=args.overlap_days)

    async def rotate(service: HeduiService) -> tuple[TrustedKey, KeyEntry]:
        """Trust the new key and end the old one."""
        return await service.trust_store.rotate(
            args.organisation, pem, old_valid_until=until, old_keyid=args.old or "", caller=CALLER
        )

    new, old = _run_service(settings, rotate)
    print(f"{new.keyid} trusted for {new.organisation} from now; {old.keyid} valid until {shown(old.not_after)}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    """``hedui keys revoke``: stop trusting a key from now or from an earlier time."""
    settings = trust_store_settings(args, existing=True)
    at = instant(args.at, "--at")

    async def revoke(service: HeduiService) -> tuple[KeyEntry, int]:
        """Revoke the key; with how many authorizations lose its signatures."""
        return await service.trust_store.revoke(args.keyid, reason=args.reason, at=at, caller=CALLER)

    entry, affected = _run_service(settings, revoke)
    print(
        f"{entry.keyid} of {entry.organisation} revoked from {shown(entry.revoked_at)} (China time); "
        f"{affected} registered authorizations lose its signatures"
    )
    return 0


def add_keys_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui keys ...``; invalid input raises ``UsageError`` (exit 2)."""
    keys = sub.add_parser("keys", help="manage the trust store of organisations' keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, parser_class=parser_class)

    generate = keys_sub.add_parser("generate", help="generate a signing key pair for a case system or a member")
    generate.add_argument("--out", type=Path, required=True, help="private key file; the public key goes beside it")
    generate.add_argument(
        "--algorithm", choices=tuple(_GENERATORS), help="default: the suite's (ed25519; sm2 under crypto_suite sm)"
    )
    generate.add_argument("--config", type=Path, help="the centre's TOML config: its crypto_suite")
    generate.set_defaults(func=cmd_keys_generate)

    add = keys_sub.add_parser("add", help="trust an organisation's public key from now")
    add.add_argument("--organisation", required=True)
    add.add_argument("--public-key", type=Path, required=True, help="PEM file (Ed25519, ECDSA P-256 or SM2)")
    add.add_argument("--valid-days", type=int, help="expire the key after this many days")
    add.add_argument("--note", default="", help="a note kept with the key")
    add_database_options(add)
    add.set_defaults(func=cmd_keys_add)

    listing = keys_sub.add_parser("list", help="list the trusted keys with their validity and revocations")
    listing.add_argument("--organisation")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    add_database_options(listing)
    listing.set_defaults(func=cmd_keys_list)

    rotate = keys_sub.add_parser("rotate", help="trust a new key of an organisation; its old key ends at a given time")
    rotate.add_argument("--organisation", required=True)
    rotate.add_argument("--public-key", type=Path, required=True, help="the new key's PEM file")
    rotate.add_argument("--old", help="key id of the key being replaced (needed if the organisation has several)")
    rotate.add_argument("--old-valid-until", help="when the old key stops being trusted (ISO 8601; China time)")
    rotate.add_argument("--overlap-days", type=float, default=7.0, help="without --old-valid-until: now + this")
    add_database_options(rotate)
    rotate.set_defaults(func=cmd_keys_rotate)

    revoke = keys_sub.add_parser("revoke", help="stop trusting a key (from now, or from an earlier time)")
    revoke.add_argument("keyid")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--at", help="revoked from this time, e.g. when it was stolen (ISO 8601; default now)")
    add_database_options(revoke)
    revoke.set_defaults(func=cmd_keys_revoke)
    add_data_key_commands(keys_sub, add_database_options)  # issue 17: hedui keys rotate-data-key
