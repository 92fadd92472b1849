"""asyncio helpers every service uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds (None: forever); True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives in the same turn as
    the event, so a ``while True`` loop around it never ends and the daemon hangs at shutdown.
    ``asyncio.timeout`` lets a cancellation through.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


class BusWorker:
    """Serialises blocking bus work onto one thread.

    Drivers are synchronous (they wait on the bus and on conversion times): every bus access goes through
    this one thread, so the bus has one caller at a time and the event loop stays free. On the simulated
    board the simulation also advances here, so the models have one thread too.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wisgate-bus")

    async def run(self, func: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


async def cancel_and_wait(tasks: list[asyncio.Task[Any]], *, every_s: float = 0.5) -> None:
    """Cancel ``tasks`` until every one has ended.

    aiomqtt and pymodbus (and other libraries) wait with ``asyncio.wait_for``, which on Python 3.11 can
    swallow a cancellation that races what it waits for: a task that swallowed one gets another, so a stop
    never hangs. Cancelling the caller meanwhile does not abandon them: they still end first, then the
    caller's cancellation goes on.
    """
    pending = [t for t in tasks if not t.done()]
    cancelled = False
    while pending:
        for task in pending:
            task.cancel()
        try:
            await asyncio.wait(pending, timeout=every_s)
        except asyncio.CancelledError:
            cancelled = True
        pending = [t for t in pending if not t.done()]
    if cancelled:
        raise asyncio.CancelledError


async def run_all(coros: Mapping[str, Coroutine[Any, Any, Any]]) -> None:
    """Run the named coroutines together until every one has ended; the first failure stops the others
    and is raised.

    Not ``asyncio.TaskGroup``: it cancels its children once, so a child that swallowed that cancellation
    (see :func:`cancel_and_wait`) kept the group, its service and the daemon's stop waiting for ever.
    """
    tasks = [asyncio.create_task(coro, name=name) for name, coro in coros.items()]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        await cancel_and_wait(tasks)


async def run_child(coro: Coroutine[Any, Any, T], name: str | None = None) -> T:
    """Run ``coro`` as a task of its own and return its result; cancelling the caller cancels it until it ends
    (see :func:`cancel_and_wait`), so a cancellation swallowed inside cannot keep it running."""
    task = asyncio.create_task(coro, name=name)
    try:
        await asyncio.wait([task])
    finally:
        await cancel_and_wait([task])
    return task.result()
