"""``hedui keys rotate-data-key``: a new data key for new writes, and every data key re-wrapped under the current
master key (issue 17, docs/sealing.md). A running service reads on: cells keep naming the key that sealed them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from verifier.cli._common import UsageError, trust_store_settings
from verifier.service import HeduiService
from verifier.storage.sealing import FileKeyProvider, Rotation, rotate_data_keys

__all__ = ["add_data_key_commands", "cmd_rotate_data_key"]


def cmd_rotate_data_key(args: argparse.Namespace) -> int:
    """Rotate the data keys (``--new-master-key``: the file provider makes a new master key first)."""
    from verifier.cli.keys import run_admin

    settings = trust_store_settings(args, existing=True)

    async def work(service: HeduiService) -> Rotation:
        """The rotation, with its audit entry."""
        if service.sealer is None:
            raise UsageError("sealing is off")
        if args.new_master_key:
            provider = service.sealer.provider
            if not isinstance(provider, FileKeyProvider):
                raise UsageError("--new-master-key: only the file provider makes master keys (a KMS makes its own)")
            provider.new_master_key()
        return await rotate_data_keys(
            service.db.write, service.sealer, service.audit, operator="hedui-keys", client="cli"
        )

    done = run_admin(settings, work)
    print(
        f"new data keys {', '.join(done.new_keys)} seal new writes; {len(done.rewrapped)} data keys re-wrapped "
        f"under master key {done.kek_id}"
    )
    return 0


def add_data_key_commands(keys_sub: Any, add_database_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``hedui keys rotate-data-key`` on ``hedui keys``."""
    rotate = keys_sub.add_parser(
        "rotate-data-key", help="new data keys for new writes; every data key re-wrapped under the current master key"
    )
    rotate.add_argument(
        "--new-master-key", action="store_true", help="file provider: make a new master key first (then re-wrap)"
    )
    add_database_options(rotate)
    rotate.set_defaults(func=cmd_rotate_data_key)
