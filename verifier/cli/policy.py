"""``hedui policy ...``: check a locality policy file before it is deployed; see which policy applies.

``hedui policy check FILE`` exits 0 with a one-line summary, or 2 with one line on stderr naming
the key that is wrong. ``hedui policy list`` shows the policies a service would load (the built-in
default and its config's ``policy_files``) and, with ``--commissioned-by``, which one a
verification commissioned by that organisation gets.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from connectors.departments import DepartmentCatalogue
from consent.identity import china_today
from verifier.assessment.flags import yuan
from verifier.cli._common import UsageError, read_only_settings
from verifier.policy import Policy, PolicyBook, PolicyError, load_policy

__all__ = ["add_policy_commands", "summary"]


def summary(policy: Policy) -> str:
    """One line: what the policy is and its main numbers."""
    areas = ", ".join(policy.area_codes) if policy.area_codes else "none (chosen by name or as the default)"
    return (
        f"locality {policy.locality} version {policy.version_label} effective {policy.effective_from.isoformat()}; "
        f"area codes {areas}; standard urban {yuan(policy.standard_urban_fen)} / rural "
        f"{yuan(policy.standard_rural_fen)} yuan per person per month; sha256 {policy.sha256()[:16]}"
    )


def cmd_check(args: argparse.Namespace) -> int:
    """``hedui policy check FILE``: exit 0 with the policy's summary, or 2 naming the bad key."""
    try:
        policy = load_policy(args.file)
    except PolicyError as exc:
        message = str(exc)
        raise UsageError(message if message.startswith(str(args.file)) else f"{args.file}: {message}") from None
    print(f"{args.file}: valid: {summary(policy)}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``hedui policy list``: the policies a service loads, and which one an organisation's verification gets."""
    settings = read_only_settings(args.config) if args.config is not None else None
    files = [*(settings.policy_files if settings else ()), *(args.policy or [])]
    try:
        book = PolicyBook.load(files, departments=settings.catalogue if settings else DepartmentCatalogue())
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    for locality in book.localities():
        for policy in book.versions(locality):
            marker = " (default)" if locality == book.default_locality else ""
            print(f"{summary(policy)}{marker}")
    if args.commissioned_by is not None:
        try:
            day = dt.date.fromisoformat(args.date) if args.date else china_today()
        except ValueError:
            raise UsageError(f"--date {args.date!r} is not a date YYYY-MM-DD") from None
        chosen = book.choose(args.commissioned_by, day)
        print(
            f"{args.commissioned_by} on {day.isoformat()} → locality {chosen.locality} version {chosen.version_label}"
        )
    return 0


def add_policy_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui policy ...``; invalid input raises ``UsageError`` (exit 2)."""
    policy = sub.add_parser("policy", help="locality policies: check a file, list what a service would use")
    commands = policy.add_subparsers(dest="policy_command", required=True, parser_class=parser_class)

    check = commands.add_parser("check", help="validate a locality policy TOML file (exit 2 naming a bad key)")
    check.add_argument("file", type=Path, help="policy TOML file")
    check.set_defaults(func=cmd_check)

    listing = commands.add_parser("list", help="the policies a service loads, and which one an organisation gets")
    listing.add_argument("--config", type=Path, help="the service's TOML config (its policy_files)")
    listing.add_argument("--policy", type=Path, action="append", help="a further policy file (repeatable)")
    listing.add_argument("--commissioned-by", help="show the policy a verification by this organisation gets")
    listing.add_argument("--date", help="application date for --commissioned-by (default: today in China)")
    listing.set_defaults(func=cmd_list)
