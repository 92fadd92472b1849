"""Runs the board services side by side; one failing service never stops the others.

Every bus access goes through the target's one bus worker thread (:class:`wisgate.aio.BusWorker`).
A service that raises is reported (health and a ``service.failed`` event) and restarted with capped
back-off; its health shows the current state, with the last failure kept as history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from wisgate.aio import BusWorker, cancel_and_wait
from wisgate.services.events import Event, EventKind, Severity
from wisgate.services.state import BoardState, ServiceHealth
from wisgate.target import Target

log = logging.getLogger("wisgate.supervisor")

MAX_BACKOFF = 60.0
#: a service that ran this long before failing starts again without waiting
STABLE_S = 60.0


@dataclass
class Context:
    """What every service gets: the target, its bus worker, and the shared typed board state."""

    target: Target
    state: BoardState = field(default_factory=BoardState)

    @property
    def bus(self) -> BusWorker:
        return self.target.worker

    def publish(self, kind: EventKind, source: str, message: str, severity: Severity = Severity.INFO,
                **data: float | int | str | bool | None) -> Event:
        return self.state.events.publish(Event(kind, source, message, severity, data=data))


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
    def __init__(self, target: Target, state: BoardState | None = None) -> None:
        self.context = Context(target=target, state=state or BoardState())
        self.services: list[Service] = []

    @property
    def state(self) -> BoardState:
        return self.context.state

    def add(self, name: str, run: ServiceFn) -> None:
        self.services.append(Service(name, run))
        self._health(name, "starting", restarts=0, error=None)

    def _health(self, name: str, state: str, *, restarts: int, error: str | None) -> None:
        previous = self.state.services.get(name)
        now = time.time()
        last_error = error or (previous.last_error if previous else None)
        last_at = now if error else (previous.last_error_at if previous else None)
        health = ServiceHealth(name, state, restarts, error, last_error, last_at, now)  # type: ignore[arg-type]
        self.state.services = {**self.state.services, name: health}

    async def _keep_running(self, service: Service) -> None:
        backoff = 1.0
        while True:
            started = time.monotonic()
            self._health(service.name, "running", restarts=service.restarts, error=None)
            try:
                await service.run(self.context)
                log.info("service %s finished", service.name)
                self._health(service.name, "finished", restarts=service.restarts, error=None)
                return
            except asyncio.CancelledError:
                self._health(service.name, "stopped", restarts=service.restarts, error=None)
                raise
            except Exception as exc:  # a service's bug must not take the daemon down
                message = describe_failure(exc)
                if message != service.last_error:
                    log.error("service %s failed: %s (restarting)", service.name, message)
                service.last_error = message
                service.restarts += 1
                if time.monotonic() - started > STABLE_S:
                    backoff = 1.0
                self._health(service.name, "failed", restarts=service.restarts, error=message)
                self.context.publish(EventKind.SERVICE_FAILED, service.name,
                                     f"{service.name} failed: {message}; restarting in {backoff:g} s",
                                     Severity.WARNING, error=message, restarts=service.restarts)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                self.context.publish(EventKind.SERVICE_RESTARTED, service.name, f"{service.name} restarted",
                                     restarts=service.restarts)

    async def run(self, stop: asyncio.Event) -> None:
        self.state.events.attach(asyncio.get_running_loop())
        background = asyncio.create_task(self.context.target.run_background(), name="target")
        tasks = [asyncio.create_task(self._keep_running(s), name=s.name) for s in self.services]
        try:
            await stop.wait()
        finally:
            # cancelled until ended: a service whose library swallowed one cancellation must not hang the stop
            await cancel_and_wait(tasks)
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await background
            if self.state.history is not None:
                self.state.history.close()
            self.context.bus.close()


