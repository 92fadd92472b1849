"""Where a store's writes run: on a thread of their own, so that the event loop never waits for a sync.

A store put commits with ``synchronous=FULL``: the WAL is fsynced before the commit returns, about a
millisecond on the development VM and several on eMMC or an SD card. Run on the event loop, that wait
stopped everything else the loop does (the gateway core, the other backhauls, downlinks) once per batch.
:class:`ThreadWriter` runs a store's jobs (puts, deletes, recovery) one at a time, in the order they were
handed over, on one thread per store; SQLite releases the GIL while it writes and syncs, so the loop keeps
working meanwhile. Each job's ``then`` runs back on the event loop, in the same order, once the job is
done: that is where a put becomes *durable* for the queue, and only then may an uplink be sent.

:class:`InlineWriter` has the same interface and runs each job at once on the caller's thread (a memory
store: nothing to wait for).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

log = logging.getLogger("wisgate.lora.store")


class Writer(Protocol):
    """Runs store jobs in order; ``then`` callbacks run on the caller's (event-loop) thread, in the same order."""

    @property
    def pending(self) -> int: ...
    def submit(self, job: Callable[[], T], then: Callable[[T], None]) -> None: ...
    def call(self, job: Callable[[], T]) -> T: ...
    def drain(self) -> None: ...
    def close(self) -> None: ...


class InlineWriter:
    """Each job runs when it is submitted, and its ``then`` right after."""

    pending = 0

    def submit(self, job: Callable[[], T], then: Callable[[T], None]) -> None:
        then(job())

    def call(self, job: Callable[[], T]) -> T:
        return job()

    def drain(self) -> None:
        pass

    def close(self) -> None:
        pass


class ThreadWriter:
    """One thread that runs a store's jobs in order, off the event loop (see the module doc).

    ``submit`` never blocks. ``call`` and ``drain`` do (until the writer has caught up): for what is rare
    and must be in step with the queue's state (recovery from a failed disk, a stop, a synchronous put).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._jobs: deque[tuple[Future[Any], Callable[[Any], None]]] = deque()
        self._closed = False

    @property
    def pending(self) -> int:
        """Jobs handed over whose ``then`` has not run yet."""
        return len(self._jobs)

    def submit(self, job: Callable[[], T], then: Callable[[T], None]) -> None:
        """Run ``job`` on the writer thread after those before it; ``then(result)`` on the loop afterwards.

        ``job`` must not raise (a store job turns a failure into its result); if it does anyway, the
        exception is logged and raised on the loop where ``then`` would have run (see ``collect``).
        """
        if self._closed:
            raise RuntimeError(f"{self.name}: the store writer is closed")
        future: Future[T] = self._executor.submit(job)
        self._jobs.append((future, then))
        with contextlib.suppress(RuntimeError):  # no running loop: drain() collects the results
            loop = asyncio.get_running_loop()
            future.add_done_callback(lambda _: _wake(loop, self.collect))

    def call(self, job: Callable[[], T]) -> T:
        """Run ``job`` after everything submitted so far and wait for its result (the caller's thread blocks)."""
        self.drain()
        return self._executor.submit(job).result()

    def collect(self) -> None:
        """Run the ``then`` of every finished job at the head of the line, in order.

        A job or ``then`` that raised (a bug) does not hold up the rest: each is logged, and the first is
        raised once the others have run.
        """
        jobs = self._jobs
        first: Exception | None = None
        while jobs and jobs[0][0].done():
            future, then = jobs.popleft()  # popped first: a then that drains again does not see it twice
            try:
                then(future.result())
            except Exception as exc:
                log.error("%s: a store job failed", self.name, exc_info=exc)
                first = first or exc
        if first is not None:
            raise first

    def drain(self) -> None:
        """Wait until every submitted job has run, and run their ``then`` callbacks."""
        jobs = self._jobs
        while jobs:
            _wait(jobs[0][0])
            self.collect()

    def close(self) -> None:
        """Write everything submitted, then stop the thread (joined before this returns)."""
        if self._closed:
            return
        try:
            self.drain()
        finally:
            self._closed = True
            self._executor.shutdown(wait=True)


def _wait(future: Future[Any]) -> None:
    """Wait for a job without raising its exception here: ``collect`` raises it, in order."""
    with contextlib.suppress(Exception):
        future.result()


def _wake(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: whoever stopped it drained the writer
        loop.call_soon_threadsafe(callback)
