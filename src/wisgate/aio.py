"""asyncio helpers every service uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
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

    aiomqtt (and other libraries) wait with ``asyncio.wait_for``, which on Python 3.11 can swallow a
    cancellation that races what it waits for: a task that swallowed one gets another, so a stop never hangs.
    """
    pending = [t for t in tasks if not t.done()]
    while pending:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=every_s)
        pending = [t for t in pending if not t.done()]


async def run_child(coro: Coroutine[Any, Any, T], name: str | None = None) -> T:
    """Run ``coro`` as a task of its own and return its result; cancelling the caller cancels it until it ends
    (see :func:`cancel_and_wait`), so a cancellation swallowed inside cannot keep it running."""
    task = asyncio.create_task(coro, name=name)
    try:
        await asyncio.wait([task])
    finally:
        await cancel_and_wait([task])
    return task.result()
