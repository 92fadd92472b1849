"""The store's writer thread: the event loop never waits for a sync, nothing is offered before it is durable,
order holds through failures, a stop writes what was handed over, a power cut loses nothing reported."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pytest

from wisgate.lora.backhaul.store import StoredUplink, StoreFullError, UplinkStore
from wisgate.lora.backhaul.store_writer import ThreadWriter
from wisgate.lora.backhaul.uplink_queue import UplinkQueue


class SlowDisk(UplinkStore):
    """A real store whose puts wait until the test opens ``gate`` (a disk that has not synced yet), or with
    ``hold``, put number n (from 1) waits for ``release[n]`` and the others do not wait; the puts numbered in
    ``fail`` fail as on a full disk."""

    def __init__(self, path: Path, *, fail: Sequence[int] = (), hold: Sequence[int] = ()) -> None:
        super().__init__(path, server="q")
        self.gate = threading.Event()
        self.release = {n: threading.Event() for n in hold}
        self.fail = set(fail)
        self.entered = 0
        self.puts = 0
        self.threads: set[int] = set()
        self.deletes: list[list[int]] = []
        self.batches: list[int] = []

    def put_many(self, items: Sequence[tuple[bytes, float]]) -> list[int]:
        self.threads.add(threading.get_ident())
        self.entered += 1
        gate = self.release.get(self.entered) if self.release else self.gate
        if gate is not None:
            assert gate.wait(10), "the put ran on the thread that should open the gate"
        self.puts += 1
        self.batches.append(len(items))
        if self.puts in self.fail:
            raise StoreFullError("full (test)", path=self.path)
        return super().put_many(items)

    def ack(self, ids: Iterable[int]) -> None:
        wanted = list(ids)
        self.deletes.append(wanted)
        super().ack(wanted)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)


def batch(*payloads: bytes) -> list[tuple[bytes, float]]:
    return [(p, float(n)) for n, p in enumerate(payloads)]


def payloads(items: list[StoredUplink]) -> list[bytes]:
    return [u.payload for u in items]


def writer_threads(server: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"store-{server}")]


def test_the_loop_runs_while_the_disk_syncs_and_nothing_is_offered_before_it_is_durable(tmp_path: Path) -> None:
    store = SlowDisk(tmp_path / "q.db")
    queue = UplinkQueue(store, server="q")
    loop_thread = threading.get_ident()
    durable: list[tuple[list[bytes], int]] = []

    async def main() -> None:
        queue.submit(batch(b"a", b"b"), lambda accepted: durable.append((payloads(accepted), threading.get_ident())))
        queue.submit(batch(b"c"), lambda accepted: durable.append((payloads(accepted), threading.get_ident())))
        ticks = 0
        for _ in range(10):  # the loop keeps turning while the writer waits for the disk
            await asyncio.sleep(0.001)
            ticks += 1
        assert ticks == 10 and durable == []
        assert queue.peek(10) == [] and len(queue) == 3 and queue.writing == 3  # queued, not offered
        store.gate.set()
        await until(lambda: len(durable) == 2)
        assert durable == [([b"a", b"b"], loop_thread), ([b"c"], loop_thread)]  # in order, on the loop
        assert payloads(queue.peek(10)) == [b"a", b"b", b"c"] and queue.writing == 0
        first = queue.peek(1)[0].id
        queue.ack([first])  # hidden at once; the delete itself runs on the writer thread
        assert payloads(queue.peek(10)) == [b"b", b"c"]
        await until(lambda: len(queue) == 2)  # counted until the writer has deleted it
        assert len(store) == 2 and payloads(queue.peek(10, after=first + 1)) == [b"c"]

    asyncio.run(main())
    assert loop_thread not in store.threads and len(store.threads) == 1
    queue.close()


def wait_until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_a_failed_put_sends_what_was_queued_behind_it_to_memory_in_order_then_back(tmp_path: Path) -> None:
    clock = Clock()
    store = SlowDisk(tmp_path / "q.db", fail=[2], hold=[1, 2])
    queue = UplinkQueue(store, server="q", clock=clock)
    queue.submit(batch(b"1a", b"1b"))
    wait_until(lambda: store.entered == 1)
    queue.submit(batch(b"2a", b"2b"))
    store.release[1].set()
    wait_until(lambda: store.entered == 2)  # the second put is under way (and will fail)...
    queue.submit(batch(b"3a", b"3b"))  # ...when the third is handed over
    store.release[2].set()
    queue.drain()
    assert queue.problem is not None and "full (test)" in queue.problem and queue.store_errors == 1
    # the third batch would have fitted, but it is newer than the second: it waits behind it, in memory
    assert store.puts == 2 and len(store) == 2 and queue.in_memory == 4 and queue.unprotected == 4
    assert payloads(queue.peek(10)) == [b"1a", b"1b", b"2a", b"2b", b"3a", b"3b"]
    clock.now += queue.retry_s
    queue.submit(batch(b"4a"))  # the retry first moves memory into the store, oldest first
    queue.drain()
    assert queue.problem is None and queue.in_memory == 0
    rows = queue.peek(10)
    assert payloads(rows) == [b"1a", b"1b", b"2a", b"2b", b"3a", b"3b", b"4a"] and all(u.id > 0 for u in rows)
    assert [u.id for u in rows] == sorted(u.id for u in rows)
    queue.close()


def test_a_stop_writes_everything_handed_over_and_joins_the_thread(tmp_path: Path) -> None:
    store = SlowDisk(tmp_path / "q.db")
    queue = UplinkQueue(store, server="stop")
    for n in range(5):
        queue.submit(batch(*(f"{n}-{k}".encode() for k in range(3))))
    assert writer_threads("stop")
    threading.Timer(0.1, store.gate.set).start()  # the disk catches up while close() waits for it
    queue.close()
    assert writer_threads("stop") == []
    with UplinkStore(tmp_path / "q.db", server="q") as again:
        assert payloads(again.peek(100)) == [f"{n}-{k}".encode() for n in range(5) for k in range(3)]


def test_the_writer_runs_jobs_in_order_and_reports_a_failing_job_where_its_result_was_due() -> None:
    writer = ThreadWriter("store-test")
    seen: list[int] = []

    def boom() -> int:
        raise ValueError("bug")

    async def main() -> None:
        gate = threading.Event()
        writer.submit(lambda: gate.wait(5) and 1, seen.append)
        writer.submit(boom, seen.append)
        writer.submit(lambda: 3, seen.append)
        gate.set()
        with pytest.raises(ValueError, match="bug"):
            writer.drain()
        assert seen == [1, 3]  # the job after the failing one was not held up

    asyncio.run(main())
    assert seen == [1, 3] and writer.pending == 0
    assert writer.call(lambda: 4) == 4
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(lambda: 5, seen.append)


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from wisgate.lora.backhaul.store import UplinkStore
    from wisgate.lora.backhaul.uplink_queue import UplinkQueue

    def report(kind, ids):
        sys.stdout.write(kind + " " + " ".join(map(str, ids)) + "\\n")
        sys.stdout.flush()

    async def main():
        queue = UplinkQueue(UplinkStore(Path(sys.argv[1]), server="srv"), server="srv")
        n = newest = 0
        while True:
            items = [(f"{n + i}".encode(), float(n + i)) for i in range(1 + n % 7)]
            n += len(items)
            # reported when the queue says durable, and whatever a sender's peek offers: both must survive
            queue.submit(items, lambda accepted: report("D", [u.id for u in accepted]))
            offered = queue.peek(50, after=newest)
            if offered:
                newest = offered[-1].id
                report("P", [u.id for u in offered])
            await asyncio.sleep(0)

    asyncio.run(main())
    """
)


def test_power_cut_keeps_every_uplink_reported_durable_or_offered(tmp_path: Path) -> None:
    path = tmp_path / "cut.db"
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ})
    assert child.stdout is not None
    reported: dict[str, list[int]] = {"D": [], "P": []}
    try:
        deadline = time.monotonic() + 30
        while min(len(ids) for ids in reported.values()) < 300 and time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, "writer died early"
            kind, *ids = line.split()
            reported[kind].extend(int(x) for x in ids)
    finally:
        child.send_signal(signal.SIGKILL)  # no close, no checkpoint, writes in flight on the writer thread
        child.wait()
    assert min(len(ids) for ids in reported.values()) >= 300
    with UplinkStore(path, server="srv") as store:
        by_id = {u.id: u.payload for u in store.peek(1_000_000)}
    for kind, ids in reported.items():
        assert all(by_id.get(i) == str(i - 1).encode() for i in ids), kind  # id k holds payload "k-1"
    assert reported["P"] == sorted(reported["P"])  # offered oldest first, never twice


def test_acknowledgements_that_come_while_the_disk_is_busy_are_deleted_in_one_go(tmp_path: Path) -> None:
    store = SlowDisk(tmp_path / "q.db")
    store.gate.set()
    queue = UplinkQueue(store, server="q")
    ids = [u.id for u in queue.put(batch(*(bytes([n]) for n in range(9))))]
    store.gate.clear()
    queue.submit(batch(b"later"))  # the writer is busy with this put (the disk has not synced it yet)
    for start in (0, 3, 6):  # three windows acknowledged meanwhile
        queue.ack(ids[start : start + 3])
        assert len(queue.peek(20)) == 9 - start - 3  # hidden at once all the same
    store.gate.set()
    queue.drain()
    assert store.deletes == [ids] and len(store) == 1 and len(queue) == 1
    assert payloads(queue.peek(20)) == [b"later"]
    queue.close()


def test_batches_handed_over_while_the_writer_is_busy_share_one_transaction(tmp_path: Path) -> None:
    store = SlowDisk(tmp_path / "q.db", hold=[1])
    queue = UplinkQueue(store, server="q")
    accepted: list[list[bytes]] = []
    queue.submit(batch(b"a"), lambda got: accepted.append(payloads(got)))
    wait_until(lambda: store.entered == 1)  # the disk is busy with the first...
    for name in (b"b", b"c", b"d"):  # ...while three more come
        queue.submit(batch(name + b"1", name + b"2"), lambda got: accepted.append(payloads(got)))
    assert len(queue) == 7 and queue.writing == 7
    store.release[1].set()
    queue.drain()
    assert store.batches == [1, 6]  # one transaction for the three
    assert accepted == [[b"a"], [b"b1", b"b2"], [b"c1", b"c2"], [b"d1", b"d2"]]  # each told of its own, in order
    rows = queue.peek(10)
    assert payloads(rows) == [b"a", b"b1", b"b2", b"c1", b"c2", b"d1", b"d2"]
    assert [u.id for u in rows] == list(range(rows[0].id, rows[0].id + 7))
    queue.close()


@pytest.mark.parametrize(("policy", "kept"), [("drop-oldest", [[], [b"b2"], [b"c1", b"c2"]]),
                                                ("drop-newest", [[b"a"], [b"b1", b"b2"], []])])
def test_a_group_at_the_cap_tells_each_batch_which_of_its_uplinks_were_kept(
    tmp_path: Path, policy: str, kept: list[list[bytes]]
) -> None:
    queue = UplinkQueue(UplinkStore(tmp_path / "q.db", server="q", max_items=3, policy=policy), server="q")
    accepted: list[list[bytes]] = []
    gate = threading.Event()
    queue._writer.submit(lambda: gate.wait(5), lambda _: None)  # the writer busy: the three form one group
    for names in ((b"a",), (b"b1", b"b2"), (b"c1", b"c2")):
        queue.submit(batch(*names), lambda got: accepted.append(payloads(got)))
    gate.set()
    queue.drain()
    assert accepted == kept
    assert payloads(queue.peek(10)) == [p for group in kept for p in group]
    queue.close()
