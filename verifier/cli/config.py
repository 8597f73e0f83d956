"""``hedui config ...``: the effective configuration and where each value came from; check a file.

- ``hedui config show [--config FILE] [--format text|json]`` prints every value a service with this
  configuration runs with, as TOML annotated with its source (``default``, ``file`` or
  ``env HEDUI_...``). Key files are shown as paths, never their keys; connector options named like
  secrets (``ticket_key``, ``password``, ``token``) and database passwords are redacted.
- ``hedui config check FILE`` validates the file alone (the shell's ``HEDUI_*`` variables do not count):
  exit 0 and one line, or exit 2 and one line naming the key.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from verifier.cli._common import DEFAULT_BASE, UsageError
from verifier.config import ConfigError, LoadedConfig, Value, effective_config, read_config, settings_of

__all__ = ["add_config_commands", "render_text"]

_DEPARTMENTS = "departments."


def _loaded(path: Path | None, *, environ: bool) -> LoadedConfig:
    """The validated configuration, or the first problem as invalid input."""
    try:
        return read_config(path, environ=environ)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _line(value: Value, key: str) -> str:
    """``key = value  # source; note``."""
    comment = value.origin() + (f"; {value.note}" if value.note else "")
    return f"{key} = {value.shown}  # {comment}"


def render_text(values: list[Value], config: Path | None) -> str:
    """The effective configuration as TOML, each value followed by where it came from."""
    lines = [
        f"# hedui's effective configuration: {f'file {config}' if config else 'no config file'}, "
        "overridden by HEDUI_* variables; after each value, where it came from"
    ]
    table = ""
    for value in values:
        if not value.key.startswith(_DEPARTMENTS):
            lines.append(_line(value, value.key))
            continue
        department, _, key = value.key.removeprefix(_DEPARTMENTS).partition(".")
        if department != table:
            table = department
            lines += ["", f"[departments.{department}]"]
        lines.append(_line(value, key))
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    """``hedui config show``: every effective value with its source, secrets redacted."""
    values = effective_config(_loaded(args.config, environ=True), DEFAULT_BASE)
    if args.format == "json":
        for value in values:
            plain: dict[str, Any] = {"key": value.key, "value": json.loads(value.shown), "source": value.source.value}
            if value.note:
                plain["note"] = value.note
            print(json.dumps(plain, ensure_ascii=False))
    else:
        print(render_text(values, args.config))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``hedui config check FILE``: exit 0 with a summary, or 2 naming the bad key; creates nothing."""
    loaded = _loaded(args.file, environ=False)
    try:
        settings = settings_of(loaded, DEFAULT_BASE, create_keys=False)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    missing = "".join(
        f"; {setting} {path} does not exist yet (hedui serve creates it)"
        for setting, path in settings.missing_key_files.items()
    )
    departments = ", ".join(loaded.catalogue)
    print(f"{args.file}: valid: {len(loaded.catalogue)} departments ({departments}){missing}")
    return 0


def add_config_commands(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``hedui config ...``."""
    config = sub.add_parser("config", help="the effective configuration, and checking a config file")
    commands = config.add_subparsers(dest="config_command", required=True, parser_class=parser_class)

    show = commands.add_parser("show", help="print the effective configuration with each value's source")
    show.add_argument("--config", type=Path, help="TOML config file (default: none; HEDUI_* variables still apply)")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(func=cmd_show)

    check = commands.add_parser("check", help="validate a config file (exit 2 naming a bad key)")
    check.add_argument("file", type=Path, help="TOML config file")
    check.set_defaults(func=cmd_check)
