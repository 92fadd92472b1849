"""UplinkQueue: the store with memory as the fallback, on a real store on a 1 MB tmpfs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from small_fs import fill, small_filesystem

from wisgate.lora.backhaul.store import UplinkStore
from wisgate.lora.backhaul.uplink_queue import MemoryStore, UplinkIntake, UplinkQueue
from wisgate.lora.core.types import LoraModulation, ReceivedUplink, RxInfo, Uplink, UplinkFrame


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def payloads(queue: UplinkQueue) -> list[bytes]:
    return [u.payload for u in queue.peek(10_000)]


def test_memory_while_the_disk_is_full_then_back_into_the_store_in_order(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs", 1 << 20) as fs:
        clock = Clock()
        queue = UplinkQueue(UplinkStore(fs / "q.db", server="q", policy="drop-newest"), server="q", clock=clock)
        first = queue.put([(b"a", 1.0), (b"b", 2.0)])
        assert all(u.id > 0 for u in first) and queue.problem is None
        filler = fill(fs)
        held = queue.put([(b"c", 3.0), (b"d", 4.0)])
        assert [u.payload for u in held] == [b"c", b"d"] and all(u.id < 0 for u in held)
        assert queue.problem is not None and "full" in queue.problem
        assert (queue.unprotected, queue.in_memory, queue.store_errors) == (2, 2, 1)
        queue.put([(b"e", 5.0)])  # behind what waits in memory, not into the store ahead of it
        assert payloads(queue) == [b"a", b"b", b"c", b"d", b"e"] and len(queue) == 5
        filler.unlink()
        clock.now += queue.retry_s
        queue.put([(b"f", 6.0)])  # the retry moves memory into the store first
        assert queue.problem is None and queue.in_memory == 0
        assert payloads(queue) == [b"a", b"b", b"c", b"d", b"e", b"f"]
        assert all(u.id > 0 for u in queue.peek(10))
        queue.ack([held[0].id])  # an ack for what was sent while it waited in memory finds its new id
        assert payloads(queue) == [b"a", b"b", b"d", b"e", b"f"]
        assert queue.alias(held[1].id) == queue.peek(3)[2].id
        queue.close()


def test_deletes_that_fail_are_hidden_and_written_later(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs", 1 << 20) as fs:
        clock = Clock()
        store = UplinkStore(fs / "q.db", server="q", reserve_bytes=0)
        queue = UplinkQueue(store, server="q", clock=clock)
        sent = queue.put([(n.to_bytes(2, "big") * 150, float(n)) for n in range(300)])
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL gives its space back...
        filler = fill(fs)  # ...and another process takes it
        queue.ack(u.id for u in sent[:200])
        assert queue.peek(1)[0].id == sent[200].id  # hidden at once, while the deletes are under way
        queue.drain()  # the deletes run on the writer thread
        assert queue.store_errors >= 1 and len(store) > 100  # the deletes could not all be written
        assert len(queue) == 100 and queue.peek(1)[0].id == sent[200].id  # but nothing acked is offered again
        filler.unlink()
        clock.now += queue.retry_s
        queue.peek(1)
        assert queue.problem is None and len(store) == 100
        queue.close()


@pytest.mark.parametrize(("policy", "kept"), [("drop-oldest", [b"3", b"4"]), ("drop-newest", [b"1", b"2"])])
def test_memory_is_bounded_by_the_cap_policy(tmp_path: Path, policy: str, kept: list[bytes]) -> None:
    (tmp_path / "dir").write_text("a file where the store's directory should be")
    queue = UplinkQueue(opener=lambda: UplinkStore(tmp_path / "dir" / "q.db", server="q"), server="q",
                        memory_max=2, policy=policy)
    assert queue.store is None and queue.problem is not None and "q.db" in queue.problem
    queue.put([(b"1", 1.0), (b"2", 2.0)])
    queue.put([(b"3", 3.0), (b"4", 4.0)])
    assert payloads(queue) == kept and queue.dropped == 2
    accepted = queue.put([(b"5", 5.0), (b"6", 6.0), (b"7", 7.0)])  # more than the memory holds at once
    expected = [b"6", b"7"] if policy == "drop-oldest" else []
    assert [u.payload for u in accepted] == expected and payloads(queue) == (expected or kept)
    assert queue.unprotected == (4 if policy == "drop-oldest" else 2) + len(expected)
    queue.close()
    assert queue.lost_at_close == 2


def test_a_store_that_cannot_be_opened_is_opened_later(tmp_path: Path) -> None:
    clock = Clock()
    blocker = tmp_path / "store"
    blocker.write_text("not a directory")
    queue = UplinkQueue(opener=lambda: UplinkStore(blocker / "q.db", server="q"), server="q", clock=clock)
    assert queue.store is None
    queue.put([(b"a", 1.0)])
    blocker.unlink()
    clock.now += queue.retry_s
    queue.put([(b"b", 2.0)])
    assert isinstance(queue.store, UplinkStore) and queue.problem is None
    assert payloads(queue) == [b"a", b"b"] and len(queue.store) == 2
    queue.close()


def test_memory_store_never_degrades() -> None:
    queue = UplinkQueue(MemoryStore(max_items=3), server="m")
    queue.put([(bytes([n]), 0.0) for n in range(5)])
    assert len(queue) == 3 and queue.dropped == 2 and queue.problem is None


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.transactions: list[int] = []

    def put_many(self, items: Sequence[tuple[bytes, float]]) -> list[int]:
        self.transactions.append(len(items))
        return super().put_many(items)


class BatchGateway:
    """The gateway's side of UplinkIntake: lists of merged uplinks, as Gateway.uplink_batches gives them."""

    def __init__(self) -> None:
        self.batches: asyncio.Queue[list[ReceivedUplink]] = asyncio.Queue()

    async def uplink_batches(self) -> AsyncIterator[list[ReceivedUplink]]:
        while True:
            yield await self.batches.get()


def uplink(n: int) -> ReceivedUplink:
    frame = UplinkFrame(bytes([0x40, n]), 868_100_000, LoraModulation(7, 125_000), RxInfo(board=0, count_us=n,
                                                                                          rssi=-80, snr=5))
    return ReceivedUplink(Uplink((frame,), 0.0), None)


def test_intake_writes_each_batch_in_one_transaction_and_skips_what_the_server_does_not_take() -> None:
    store = CountingStore()
    queue = UplinkQueue(store, server="t")
    woken: list[int] = []

    def encode(received: ReceivedUplink) -> tuple[bytes, float] | None:
        n = received.uplink.phy_payload[1]
        return None if n % 5 == 0 else (bytes([n]), float(n))

    intake = UplinkIntake(queue, encode, lambda: woken.append(len(queue)))

    async def main() -> None:
        gateway = BatchGateway()
        task = asyncio.create_task(intake.run(gateway))  # type: ignore[arg-type]
        gateway.batches.put_nowait([uplink(n) for n in range(1, 8)])
        gateway.batches.put_nowait([uplink(n) for n in range(8, 11)])
        for _ in range(5):
            await asyncio.sleep(0)
        intake.submit(uplink(11))  # a direct submit: written at the end of the loop turn
        intake.submit(uplink(12))
        assert intake.pending == 2
        for _ in range(3):
            await asyncio.sleep(0)
        assert intake.pending == 0
        intake.submit(uplink(13))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert store.transactions == [6, 2, 2, 1]  # 1-7 less 5; 8-10 less 10; 11+12 in one turn; 13 written at stop
    assert payloads(queue) == [bytes([n]) for n in range(1, 14) if n % 5]
    assert woken == [6, 8, 10, 11]
