"""Cancellation always ends a service loop, even when it races the event the loop waits for.

Python 3.11's ``asyncio.wait_for`` swallows such a cancellation; a daemon built on it hung at shutdown
(seen twice in the end-to-end tests). These tests fire the event and cancel in the same turn.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
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


def test_run_all_stops_a_part_that_swallows_its_cancellation() -> None:
    """asyncio.TaskGroup cancels its children once: a part that swallowed that kept the daemon from stopping."""
    from wisgate.aio import run_all

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # as asyncio.wait_for can on Python 3.11
            await asyncio.Event().wait()
        await asyncio.Event().wait()

    async def main() -> None:
        parts = asyncio.create_task(run_all({"a": stubborn(), "b": stubborn()}))
        await asyncio.sleep(0.01)
        parts.cancel()
        async with asyncio.timeout(3):
            with contextlib.suppress(asyncio.CancelledError):
                await parts
        assert parts.cancelled()

    asyncio.run(main())


def test_run_all_raises_the_first_failure_and_stops_the_other_parts() -> None:
    from wisgate.aio import run_all

    stopped: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append("forever")

    async def failing() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("part failed")

    async def main() -> None:
        async with asyncio.timeout(3):
            await run_all({"forever": forever(), "failing": failing()})

    with pytest.raises(ValueError, match="part failed"):
        asyncio.run(main())
    assert stopped == ["forever"]


def test_cancel_and_wait_still_ends_the_tasks_when_its_caller_is_cancelled() -> None:
    from wisgate.aio import cancel_and_wait

    async def stubborn() -> None:
        for _ in range(3):  # swallows three cancellations, then ends
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    async def main() -> None:
        child = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        caller = asyncio.create_task(cancel_and_wait([child], every_s=0.05))
        await asyncio.sleep(0.01)
        caller.cancel()  # the supervisor cancels again while a service is stopping its parts
        async with asyncio.timeout(3):
            with contextlib.suppress(asyncio.CancelledError):
                await caller
        assert caller.cancelled() and child.done()

    asyncio.run(main())


def test_a_slow_stop_names_the_tasks_it_waits_for(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from wisgate.commands import run as run_command

    monkeypatch.setattr(run_command, "SLOW_STOP_S", 0.05)

    async def stuck_service() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        stop = asyncio.Event()
        supervising = asyncio.create_task(stuck_service(), name="supervisor")
        stop.set()
        await run_command.report_a_slow_stop(stop, supervising)
        supervising.cancel()

    asyncio.run(main())
    assert "still stopping after 0.05 s: task supervisor waits at" in caplog.text
    assert "test_aio.py" in caplog.text  # where it waits


@pytest.mark.parametrize("how", ["owner cancelled", "sibling failed", "body failed"])
def test_a_task_group_stops_a_task_that_swallows_its_cancellation(how: str) -> None:
    from wisgate.aio import TaskGroup

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # as asyncio.wait_for can on Python 3.11
            await asyncio.Event().wait()
        await asyncio.Event().wait()

    async def failing() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("sibling failed")

    async def owner() -> None:
        async with TaskGroup() as group:
            group.create_task(stubborn())
            if how == "sibling failed":
                group.create_task(failing())
            if how == "body failed":
                await asyncio.sleep(0.01)
                raise ValueError("body failed")

    async def main() -> None:
        task = asyncio.create_task(owner())
        await asyncio.sleep(0.02)
        if how == "owner cancelled":
            task.cancel()
        async with asyncio.timeout(3):
            with contextlib.suppress(asyncio.CancelledError, ExceptionGroup):
                await task
        assert task.done()
        if how != "owner cancelled":
            error = task.exception()
            assert isinstance(error, ExceptionGroup) and str(error.exceptions[0]) == how

    asyncio.run(main())


@pytest.mark.parametrize("leftover", ["a failed group", "a swallowed cancellation"])
def test_a_task_group_is_not_stopped_by_a_cancellation_its_task_had_before(
        leftover: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MQTT forwarder's reconnect loop: after a session whose group failed, the next session was cut at
    ``RECANCEL_S`` (Python 3.11 left the failed group's cancellation of its owner counted), again and again."""
    from wisgate.aio import TaskGroup

    monkeypatch.setattr(TaskGroup, "RECANCEL_S", 0.02)

    async def failing() -> None:
        await asyncio.sleep(0.01)
        raise ConnectionError("broker gone")

    async def swallowed() -> None:
        me = asyncio.current_task()
        assert me is not None
        me.cancel()
        with contextlib.suppress(asyncio.CancelledError):  # as asyncio.wait_for can on Python 3.11
            await asyncio.sleep(1)

    async def reconnecting() -> bool:
        if leftover == "a failed group":
            with pytest.raises(ExceptionGroup):
                async with TaskGroup() as session:
                    session.create_task(failing())  # the body has ended: the group waits, then cancels its owner
            assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
        else:
            await swallowed()
        async with TaskGroup() as session:
            work = session.create_task(asyncio.sleep(0.2))  # ten re-cancel periods
        return work.cancelled()

    assert asyncio.run(reconnecting()) is False
