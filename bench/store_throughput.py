"""Uplink store throughput: puts/s at batch sizes 1, 10, 100, and the replay (peek + ack) rate.

Runs on the store's real setting (WAL, synchronous=FULL: one fsync per transaction) and, for
comparison, on synchronous=NORMAL (no fsync per commit: survives a crash of the process, not a
power cut), so the cost of durability is visible. Payloads are 250 bytes, a typical rxpk/protobuf
record. Usage: ``python bench/store_throughput.py [--dir DIR] [--seconds S]`` (DIR should be on
the disk the gateway will use: a tmpfs makes fsync free).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from wisgate.lora.backhaul.store import UplinkStore

PAYLOAD = bytes(range(250))


def bench_puts(path: Path, batch: int, seconds: float, synchronous: str) -> float:
    store = UplinkStore(path, server="bench", max_items=10_000_000)
    store._db.execute(f"PRAGMA synchronous={synchronous}")
    items = [(PAYLOAD, time.time())] * batch
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        store.put_many(items)
        done += batch
    rate = done / (time.perf_counter() - start)
    store.close()
    return rate


def bench_replay(path: Path, count: int, chunk: int, synchronous: str) -> float:
    store = UplinkStore(path, server="bench", max_items=10_000_000)
    store._db.execute(f"PRAGMA synchronous={synchronous}")
    for _ in range(count // 1000):
        store.put_many([(PAYLOAD, 0.0)] * 1000)
    start = time.perf_counter()
    replayed = 0
    while batch := store.peek(chunk):
        store.ack(u.id for u in batch)
        replayed += len(batch)
    rate = replayed / (time.perf_counter() - start)
    store.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="directory for the database (default: a temp dir)")
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of each put measurement")
    parser.add_argument("--replay", type=int, default=20_000, help="uplinks queued for the replay measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        where = Path(tmp)
        print(f"database directory: {where}")
        for synchronous in ("FULL", "NORMAL"):
            for batch in (1, 10, 100):
                path = where / f"put-{synchronous}-{batch}.db"
                rate = bench_puts(path, batch, args.seconds, synchronous)
                print(f"synchronous={synchronous:6} put_many batch {batch:3}: {rate:10,.0f} uplinks/s")
            for chunk in (100,):
                path = where / f"replay-{synchronous}.db"
                rate = bench_replay(path, args.replay, chunk, synchronous)
                print(f"synchronous={synchronous:6} replay peek({chunk})+ack:   {rate:10,.0f} uplinks/s")


if __name__ == "__main__":
    main()
