"""Cancellation always ends a service loop, even when it races the event the loop waits for.

Python 3.11's ``asyncio.wait_for`` swallows such a cancellation; a daemon built on it hung at shutdown
(seen twice in the end-to-end tests). These tests fire the event and cancel in the same turn.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from lora_rig import Rig, data, event

from wisgate.aio import wait_event


async def cancel_while_event_fires(task: asyncio.Task[None], event: asyncio.Event) -> bool:
    """True if the task ended after a cancel that raced ``event``."""
    await asyncio.sleep(0)
    event.set()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=0.5)
    if not done:
        task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait([task], timeout=0.5)
    return bool(done)


def test_wait_event_reports_set_and_timeout() -> None:
    async def main() -> tuple[bool, bool]:
        event = asyncio.Event()
        asyncio.get_running_loop().call_later(0.01, event.set)
        return await wait_event(event, 1.0), await wait_event(asyncio.Event(), 0.01)

    assert asyncio.run(main()) == (True, False)


def test_a_loop_on_wait_event_always_ends_when_cancelled() -> None:
    async def loop(event: asyncio.Event) -> None:
        while True:
            event.clear()
            await wait_event(event, 0.5)

    async def main() -> int:
        ended = 0
        for _ in range(100):
            event = asyncio.Event()
            ended += await cancel_while_event_fires(asyncio.create_task(loop(event)), event)
        return ended

    assert asyncio.run(main()) == 100


def test_gateway_flush_loop_ends_when_cancelled_as_an_uplink_arrives(tmp_path: Path) -> None:
    rig = Rig(tmp_path, modules=False)
    try:
        gateway = rig.gateway

        async def main() -> int:
            ended = 0
            for n in range(50):
                # an open dedup window makes the loop wait with a timeout, the case that swallowed cancels
                gateway.handle(event(0, data(0x26000001, n), 1000 * n), now=rig.clock.monotonic())
                ended += await cancel_while_event_fires(asyncio.create_task(gateway._flush()), gateway._wake)
            return ended

        assert asyncio.run(main()) == 50
    finally:
        rig.close()


def test_a_task_that_swallows_one_cancellation_is_still_stopped() -> None:
    from wisgate.aio import cancel_and_wait, run_child

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # as asyncio.wait_for can on Python 3.11
            await asyncio.Event().wait()
        await asyncio.Event().wait()  # would run on forever after one cancel

    async def main() -> None:
        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        async with asyncio.timeout(3):
            await cancel_and_wait([task])
        assert task.cancelled()
        parent = asyncio.create_task(run_child(stubborn()))
        await asyncio.sleep(0.01)
        parent.cancel()
        async with asyncio.timeout(3):
            with contextlib.suppress(asyncio.CancelledError):
                await parent

    asyncio.run(main())
