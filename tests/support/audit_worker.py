"""A process that appends to and integrates the audit log of a configured hedui, for the signer's crash drills.

``python audit_worker.py CONFIG append N ROUNDS``: ROUNDS times, append N entries and integrate (as a replica
does), then exit. ``python audit_worker.py CONFIG crash N``: append N entries, then integrate and be killed
(SIGKILL) right after the signer's state is saved, before the transaction that stores the batch commits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from audit import AuditEvent
from audit.state import FileState, SignerState
from verifier.config import load_settings
from verifier.service import HeduiService
from verifier.storage.db import Database

_SAVE = FileState.save


def _save_then_die(self: FileState, state: SignerState) -> None:
    """Save the signer's state, then be killed before the batch's transaction commits."""
    _SAVE(self, state)
    os.kill(os.getpid(), signal.SIGKILL)


async def main(config: Path, mode: str, count: int, rounds: int) -> None:
    """Run the drill."""
    settings = load_settings(config, config.parent / "base", environ=False)
    service = HeduiService(Database(settings.database_url), {}, settings)
    await service.db.migrate()
    try:
        for round_ in range(rounds):
            events = [
                (AuditEvent(kind="REPORT_READ", operator=f"{os.getpid()}-{round_}-{i}"), ()) for i in range(count)
            ]
            async with service.db.write() as session:
                await service.audit.append_many(session, events)
            if mode == "crash":
                FileState.save = _save_then_die  # type: ignore[assignment]
            await service.log.integrate(service.db.write)
    finally:
        await service.db.close()


if __name__ == "__main__":
    path, drill, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    asyncio.run(main(path, drill, n, int(sys.argv[4]) if len(sys.argv) > 4 else 1))
