"""``hedui consent ...``: tools for case systems — sign an artefact into an envelope, check an envelope.

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
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from connectors.departments import DepartmentCatalogue
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
from verifier.cli._common import (
    UsageError,
    add_database_options,
    atomic_output,
    instant,
    public_key,
    read_bytes,
    read_json,
    read_only_settings,
    shown,
    trust_store_settings,
)
from verifier.operations.trust_store import trusted_keys
from verifier.storage.db import Database

__all__ = ["add_consent_commands"]

PAYLOAD_TYPES = {"authorization": AUTHORIZATION_PAYLOAD_TYPE, "member-key": MEMBER_KEY_PAYLOAD_TYPE}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _read_envelope(path: Path, what: str) -> Envelope:
    """A DSSE JSON envelope file."""
    try:
        return envelope_from_json(read_json(path, what))
    except EnvelopeFormatError as exc:
        raise UsageError(f"{what} {path}: {exc}") from None


def _short_name(name: str) -> str:
    """A name shortened to its first character (张**)."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def _is_envelope(data: Any) -> bool:
    """Whether parsed JSON is a DSSE envelope (to add a signature) rather than an artefact (to sign)."""
    return isinstance(data, dict) and {"payload", "payloadType", "signatures"} <= set(data)


def _declared(config: Path | None) -> tuple[str, ...]:
    """The departments an authorization may name: those the centre's ``--config`` declares, else the six."""
    return tuple(read_only_settings(config).catalogue) if config is not None else tuple(DepartmentCatalogue())


def _check_artefact(payload: bytes, payload_type: str, what: str, declared: tuple[str, ...]) -> None:
    """Refuse to sign an artefact that registration would refuse."""
    try:
        if payload_type == AUTHORIZATION_PAYLOAD_TYPE:
            parse_authorization_payload(payload, china_today(), declared=declared)
        else:
            parse_member_key_certificate(payload)
    except (AuthorizationError, CertificateError) as exc:
        raise UsageError(f"{what}: {exc}") from None


def cmd_consent_sign(args: argparse.Namespace) -> int:
    """``hedui consent sign``: sign an artefact's exact bytes, or add a signature to an envelope."""
    try:
        key = SigningKey.from_pem(read_bytes(args.key, "--key"))
    except ValueError as exc:
        raise UsageError(f"--key {args.key}: {exc}") from None
    data = read_bytes(args.artefact, "artefact")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{args.artefact}: not UTF-8 JSON: {exc}") from None
    except RecursionError:  # issue 13
        raise UsageError(f"{args.artefact}: JSON nested too deeply") from None
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
    _check_artefact(envelope.payload, envelope.payload_type, str(args.artefact), _declared(args.config))
    signature = EnvelopeSignature(key.keyid, key.sign(pae(envelope.payload_type, envelope.payload)))
    signed = Envelope(envelope.payload, envelope.payload_type, (*envelope.signatures, signature))
    text = json.dumps(envelope_to_json(signed), indent=2) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        with atomic_output(args.out) as handle:
            handle.write(text.encode("utf-8"))
        print(f"signed by {key.keyid} ({len(signed.signatures)} signatures): {args.out}")
    return 0


# --- consent verify ---------------------------------------------------------------------------------


def _claimed(payload: bytes, key: str) -> str:
    """A string the payload claims (its organisation), or empty when it is not a JSON object holding one."""
    try:
        value = json.loads(payload.decode("utf-8")).get(key, "")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def _trust_from_files(args: argparse.Namespace, envelope: Envelope) -> dict[str, TrustedKey]:
    """A trust store of the ``--public-key`` files, speaking for ``--organisation`` (else the one claimed)."""
    organisation = args.organisation or _claimed(
        envelope.payload, "commissioned_by" if envelope.payload_type == AUTHORIZATION_PAYLOAD_TYPE else "organisation"
    )
    trust = {}
    for path in args.public_key:
        pem = public_key(path)
        keyid = key_id_for(load_public_key(pem))
        trust[keyid] = TrustedKey(keyid, organisation, pem, EPOCH)
    return trust


async def _trust_from_db(url: str, keyids: list[str]) -> dict[str, TrustedKey]:
    """The database's trusted keys of these key ids (read only)."""
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        if "trusted_keys" not in tables:
            raise UsageError("--db: not a hedui database (no trust store)")
        return await trusted_keys(db, keyids)
    except (DBAPIError, OSError) as exc:
        raise UsageError(f"--db: cannot read the trust store: {type(exc).__name__}") from None
    finally:
        await db.close()


def cmd_consent_verify(args: argparse.Namespace) -> int:
    """``hedui consent verify``: check an envelope as registration would; exit 1 when it is not valid."""
    envelope = _read_envelope(args.envelope, "envelope")
    certificates = [_read_envelope(path, "--certificate") for path in args.certificate or []]
    at = instant(args.at, "--at") or dt.datetime.now(dt.UTC)
    if args.public_key and args.db:
        raise UsageError("give --public-key or --db, not both")
    if args.public_key:
        trust = _trust_from_files(args, envelope)
    else:
        url = trust_store_settings(args, existing=True).database_url
        trust = asyncio.run(_trust_from_db(url, keyids_to_look_up(envelope, certificates)))
    if envelope.payload_type == MEMBER_KEY_PAYLOAD_TYPE:
        return _verify_certificate(envelope, trust, at)
    try:
        checked = check_authorization(envelope, certificates, trust, at, china_today(), declared=_declared(args.config))
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
    """Check a member-key certificate: signed by its organisation's key and valid at ``at``."""
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
        f"until {shown(certificate.not_after)} (China time)"
    )
    return 0


def add_consent_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui consent ...``; invalid input raises ``UsageError`` (exit 2)."""
    consent = sub.add_parser("consent", help="tools for case systems: sign and verify authorization envelopes")
    consent_sub = consent.add_subparsers(dest="consent_command", required=True, parser_class=parser_class)

    sign = consent_sub.add_parser("sign", help="sign an artefact (or add a signature to an envelope)")
    sign.add_argument("artefact", type=Path, help="authorization or member-key JSON, or a DSSE envelope JSON")
    sign.add_argument("--key", type=Path, required=True, help="private key PEM (hedui keys generate)")
    sign.add_argument("--type", choices=sorted(PAYLOAD_TYPES), help="the artefact's kind (default: authorization)")
    sign.add_argument("--out", type=Path, help="envelope file to write (default: standard output)")
    sign.add_argument("--config", type=Path, help="the centre's TOML config: the departments it declares")
    sign.set_defaults(func=cmd_consent_sign)

    verify = consent_sub.add_parser("verify", help="check an envelope as registration would; exit 1 if not valid")
    verify.add_argument("envelope", type=Path)
    verify.add_argument("--public-key", type=Path, action="append", help="trust this public key (repeatable)")
    verify.add_argument("--organisation", help="with --public-key: the organisation the keys speak for")
    verify.add_argument("--certificate", type=Path, action="append", help="a member-key certificate (repeatable)")
    verify.add_argument("--at", help="judge the keys at this time (default now)")
    add_database_options(verify)
    verify.set_defaults(func=cmd_consent_verify)
