"""A cancellation is never lost: why hedui bounds waits with ``asyncio.timeout`` and never ``asyncio.wait_for``.

On Python 3.11, ``wait_for`` returns the awaited result instead of raising when the cancellation of its caller
arrives in the same loop iteration as that result (cpython gh-86296, fixed in 3.12). A background loop
(the audit integrator) whose cancellation was lost that way went on for ever, and the service's close, which
cancels it and waits, never ended: the rare hang of the suite on a busy machine (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("verifier", "connectors", "consent", "audit")


async def test_a_cancellation_arriving_with_the_result_still_cancels_a_wait_bounded_by_timeout() -> None:
    inner: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def bounded() -> int:
        async with asyncio.timeout(30):
            return await inner

    task = asyncio.create_task(bounded())
    await asyncio.sleep(0)  # the task now waits for ``inner``
    inner.set_result(1)  # the result and the cancellation arrive together
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled(), "the cancellation was lost: the task returned its result instead"


def test_no_module_waits_with_asyncio_wait_for() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if re.search(r"\bwait_for\(", code):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == [], "use `async with asyncio.timeout(...)` (see this module's docstring): " + ", ".join(
        offenders
    )
