"""verifier.pipeline.signals: watchers wake on a change, and never miss one made while they were busy."""

from __future__ import annotations

import asyncio

from verifier.pipeline.signals import VerificationSignals


async def test_a_watcher_wakes_when_the_verification_changes() -> None:
    signals = VerificationSignals()
    seen = signals.version("v1")
    waiting = asyncio.create_task(signals.wait_past("v1", seen, timeout=60))
    await asyncio.sleep(0)
    assert not waiting.done()
    signals.notify("v2")  # another verification's change wakes nobody here
    await asyncio.sleep(0)
    assert not waiting.done()
    signals.notify("v1")
    await asyncio.wait_for(waiting, 10)
    assert signals.version("v1") == seen + 1 and signals.version("v2") == 1


async def test_a_change_made_before_waiting_is_not_lost() -> None:
    signals = VerificationSignals()
    seen = signals.version("v1")
    signals.notify("v1")  # while the watcher was busy reading
    await asyncio.wait_for(signals.wait_past("v1", seen, timeout=60), 1)


async def test_without_a_change_the_wait_ends_at_its_timeout() -> None:
    signals = VerificationSignals()
    await asyncio.wait_for(signals.wait_past("v1", 0, timeout=0.01), 10)
    assert signals.version("v1") == 0
