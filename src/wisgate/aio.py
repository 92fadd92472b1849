"""asyncio helpers every service uses."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("wisgate.aio")

#: Python 3.11's TaskGroup cancels its owner when a task fails and, if its body has already ended, swallows
#: that cancellation without ``uncancel()`` (3.12 takes it back after waiting for its tasks).
_GROUP_KEEPS_ITS_CANCEL = sys.version_info < (3, 12)


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
    board the simulation also advances here, so the models have one thread too: :meth:`tick` runs a function
    on this thread every few milliseconds, timed by the thread itself, not by an event-loop round trip (at
    50 a second those were about a third of an idle daemon's CPU).
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._tick: Callable[[], None] | None = None
        self._every_s = 0.0
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="wisgate-bus", daemon=True)
        self._thread.start()

    async def run(self, func: Callable[[], T]) -> T:
        if self._closed:
            raise RuntimeError("the bus worker is closed")
        future: Future[T] = Future()
        self._jobs.put((func, future))
        return await asyncio.wrap_future(future)

    def tick(self, func: Callable[[], None] | None, every_s: float = 0.02) -> None:
        """Run ``func`` on the worker's thread every ``every_s`` (between jobs, never during one); None stops it."""
        self._every_s = every_s
        self._tick = func
        self._jobs.put(None)  # wakes the thread, which then waits with the new period

    def close(self) -> None:
        self._closed = True
        self._tick = None
        self._jobs.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _serve(self) -> None:
        due = time.monotonic()
        while True:
            try:
                job = self._jobs.get(timeout=max(0.0, due - time.monotonic()) if self._tick is not None else None)
            except queue.Empty:
                job = None
            tick = self._tick  # read after the wait: a tick just set runs at once
            if tick is not None and time.monotonic() >= due:
                due = time.monotonic() + self._every_s
                try:
                    tick()
                except Exception:
                    log.exception("the bus worker's tick failed")
            elif tick is None:
                due = time.monotonic()
            if job is None:
                if self._closed and self._jobs.empty():
                    return
                continue
            func, future = job
            if not future.set_running_or_notify_cancel():
                continue  # its caller was cancelled before the job started
            try:
                result = func()
            except BaseException as exc:  # handed to the caller, as an executor does
                future.set_exception(exc)
            else:
                future.set_result(result)


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


class TaskGroup(asyncio.TaskGroup):
    """``asyncio.TaskGroup`` whose stop cancels each task until it has ended.

    The standard group cancels its tasks once when it stops early (its body failed or was cancelled, a task
    failed, or its own task was cancelled); a task that swallowed that cancellation (see
    :func:`cancel_and_wait`) kept the group, its service and the daemon's stop waiting for ever.

    Whether its own task is being cancelled is judged against the owner's count of cancellation requests when
    the group was entered: on Python 3.11 that count stays raised by a cancellation something swallowed earlier
    (``asyncio.wait_for``; the standard group itself, which cancels its owner when a task fails and, once its
    body has ended, swallows that cancellation without taking it back). Read as "being cancelled", such a
    leftover stopped the next group of the same task after ``RECANCEL_S``: the MQTT forwarder's next broker
    session was cut half a second in, and its window of uplinks sent again.
    """

    RECANCEL_S = 0.5

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[asyncio.Task[Any]] = []
        self._cancelling_at_entry = 0

    async def __aenter__(self) -> TaskGroup:
        await super().__aenter__()
        owner = asyncio.current_task()
        self._cancelling_at_entry = owner.cancelling() if owner is not None else 0
        return self

    def create_task(self, coro: Coroutine[Any, Any, T], *, name: str | None = None,  # type: ignore[override]
                    context: contextvars.Context | None = None) -> asyncio.Task[T]:
        task = super().create_task(coro, name=name, context=context)
        self._parts.append(task)
        return task

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        owner = asyncio.current_task()
        recancel = asyncio.create_task(self._recancel(owner, stopping=et is not None))
        try:
            await super().__aexit__(et, exc, tb)
        finally:
            recancel.cancel()
            if _GROUP_KEEPS_ITS_CANCEL and owner is not None and et is not asyncio.CancelledError \
                    and getattr(self, "_parent_cancel_requested", False) and owner.cancelling():
                owner.uncancel()  # what Python 3.12's group does: the cancellation it swallowed is taken back

    async def _recancel(self, owner: asyncio.Task[Any] | None, *, stopping: bool) -> None:
        while True:
            await asyncio.sleep(self.RECANCEL_S)
            failed = any(t.done() and not t.cancelled() and t.exception() is not None for t in self._parts)
            if stopping or failed or (owner is not None and owner.cancelling() > self._cancelling_at_entry):
                for task in self._parts:
                    if not task.done():
                        task.cancel()


async def run_child(coro: Coroutine[Any, Any, T], name: str | None = None) -> T:
    """Run ``coro`` as a task of its own and return its result; cancelling the caller cancels it until it ends
    (see :func:`cancel_and_wait`), so a cancellation swallowed inside cannot keep it running."""
    task = asyncio.create_task(coro, name=name)
    try:
        await asyncio.wait([task])
    finally:
        await cancel_and_wait([task])
    return task.result()
