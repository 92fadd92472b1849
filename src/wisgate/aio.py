"""asyncio helpers every service uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

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
