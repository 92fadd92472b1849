"""The bus worker: one thread for every bus job and for the simulated board's tick, never two at once."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest

from wisgate.aio import BusWorker


def test_jobs_and_the_tick_share_one_thread_and_never_overlap() -> None:
    worker = BusWorker()
    threads: set[int] = set()
    busy = threading.Lock()
    overlaps: list[str] = []
    ticks: list[float] = []
    during: list[float] = []

    def work(name: str) -> None:
        if not busy.acquire(blocking=False):
            overlaps.append(name)
            return
        try:
            threads.add(threading.get_ident())
            time.sleep(0.003)
        finally:
            busy.release()

    def tick() -> None:
        ticks.append(time.monotonic())
        work("tick")

    async def main() -> None:
        worker.tick(tick, 0.01)
        started = time.monotonic()
        await asyncio.gather(*(worker.run(lambda: work("job")) for _ in range(100)))
        during.extend(t for t in ticks if started <= t <= time.monotonic())
        await asyncio.sleep(0.2)
        worker.tick(None)
        stopped = len(ticks)
        await asyncio.sleep(0.05)
        assert len(ticks) == stopped  # no tick once stopped

    try:
        asyncio.run(main())
    finally:
        worker.close()
    assert overlaps == []
    assert len(threads) == 1 and threading.get_ident() not in threads
    # ticked between the jobs, which were queued all at once and took 300 ms (about 30 ticks; the bounds leave
    # room for a loaded machine's scheduling), and while idle
    assert len(during) >= 5
    assert max(b - a for a, b in itertools.pairwise(during)) < 0.25
    assert len(ticks) >= len(during) + 5


def test_a_job_returns_its_value_raises_its_error_and_is_skipped_when_cancelled_before_it_starts() -> None:
    worker = BusWorker()
    ran: list[str] = []
    gate = threading.Event()

    async def main() -> None:
        assert await worker.run(lambda: 42) == 42
        with pytest.raises(ZeroDivisionError):
            await worker.run(lambda: 1 // 0)
        blocker = asyncio.ensure_future(worker.run(gate.wait))
        queued = asyncio.ensure_future(worker.run(lambda: ran.append("queued")))
        await asyncio.sleep(0.05)
        queued.cancel()
        await asyncio.sleep(0.01)  # the cancellation reaches the job's future on the loop's next turns
        gate.set()
        await blocker
        assert await worker.run(lambda: "after") == "after"

    try:
        asyncio.run(main())
    finally:
        worker.close()
    assert ran == []


def test_close_finishes_the_jobs_handed_over_then_refuses_new_ones() -> None:
    worker = BusWorker()
    done: list[int] = []

    async def main() -> None:
        jobs = [asyncio.ensure_future(worker.run(lambda n=n: (time.sleep(0.01), done.append(n)))) for n in range(5)]
        await asyncio.sleep(0)
        await asyncio.get_running_loop().run_in_executor(None, worker.close)
        await asyncio.gather(*jobs)
        with pytest.raises(RuntimeError, match="closed"):
            await worker.run(lambda: None)

    asyncio.run(main())
    assert done == [0, 1, 2, 3, 4]


def test_a_failing_tick_is_logged_and_the_worker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    worker = BusWorker()
    calls: list[int] = []

    def tick() -> None:
        calls.append(1)
        raise OSError("simulated bus fault")

    async def main() -> None:
        worker.tick(tick, 0.005)
        await asyncio.sleep(0.05)
        worker.tick(None)
        assert await worker.run(lambda: "alive") == "alive"

    try:
        asyncio.run(main())
    finally:
        worker.close()
    assert len(calls) >= 3
    assert "the bus worker's tick failed" in caplog.text
