"""Runs the board services side by side; one failing service never stops the others.

Drivers are synchronous (they wait on the bus and on conversion times), so every bus access goes
through one worker thread: the bus is used by one caller at a time and the event loop stays free.
A service that raises is logged once per distinct error and restarted with capped back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from wisgate.runtime import Target

log = logging.getLogger("wisgate.supervisor")

T = TypeVar("T")

MAX_BACKOFF = 60.0


class BusWorker:
    """Serialises blocking bus work onto one thread."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wisgate-bus")

    async def run(self, func: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


@dataclass
class Context:
    """What every service gets: the target, the bus worker, and the shared board state."""

    target: Target
    bus: BusWorker
    state: dict[str, object] = field(default_factory=dict)


ServiceFn = Callable[[Context], Awaitable[None]]


@dataclass
class Service:
    name: str
    run: ServiceFn
    restarts: int = 0
    last_error: str = ""


def describe_failure(exc: BaseException) -> str:
    """``Type: message`` of what went wrong; a task group's failure is told by its sub-exceptions."""
    if isinstance(exc, BaseExceptionGroup):
        parts = [describe_failure(sub) for sub in exc.exceptions]
        return "; ".join(dict.fromkeys(parts))  # the same failure in several tasks is told once
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Supervisor:
    def __init__(self, target: Target) -> None:
        self.context = Context(target=target, bus=BusWorker())
        self.services: list[Service] = []

    def add(self, name: str, run: ServiceFn) -> None:
        self.services.append(Service(name, run))

    async def _keep_running(self, service: Service) -> None:
        backoff = 1.0
        while True:
            try:
                await service.run(self.context)
                log.info("service %s finished", service.name)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a service's bug must not take the daemon down
                message = describe_failure(exc)
                if message != service.last_error:
                    log.error("service %s failed: %s (restarting)", service.name, message)
                service.last_error = message
                service.restarts += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._keep_running(s), name=s.name) for s in self.services]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.context.bus.close()
