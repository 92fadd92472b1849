"""What the gateway's two traffic outlets cost per uplink, with and without anyone reading them.

Uplinks come out of the gateway's own pipeline (bench/lora_pipeline.py's events: protobuf decode, filters,
dedup), then go, as in ``wisgate run``, to:

- the ``[lora] traffic_url`` feed (services/traffic_feed.py): described and JSON-encoded and sent only
  while a subscriber holds a subscription; with one, as it always was before;
- the traffic log (lora/core/traffic.py: dashboard counts, ``/api/lora/packets``, ``/api/lora/stream``):
  counted always, written as JSON only for a live listener (or when ``/api/lora/packets`` asks).

CPU time of this process (process_time), so load from other processes on the shared machine does not
inflate it; each figure is the best of ``ROUNDS``. Run: .venv/bin/python bench/traffic_feed.py [events]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zmq
import zmq.asyncio
from chirpstack_api import gw

sys.path.insert(0, str(Path(__file__).parent))
from lora_pipeline import make_events, make_gateway

from wisgate.lora.backends.concentratord.wire import uplink_from_proto
from wisgate.lora.core.describe import describe
from wisgate.lora.core.traffic import TrafficLog
from wisgate.lora.core.types import ReceivedUplink
from wisgate.services.traffic_feed import TrafficFeed

ROUNDS = 3
BATCH = 50  # uplinks per gateway batch (what one event-loop turn hands a reader at a busy site)


def pipeline(count: int) -> tuple[list[ReceivedUplink], float]:
    events = make_events(count)
    with tempfile.TemporaryDirectory() as directory:
        gateway = make_gateway(directory)
        out: list[ReceivedUplink] = []
        start = time.process_time()
        for i, (board, raw) in enumerate(events):
            event = gw.Event()
            event.ParseFromString(raw)
            gateway.handle(uplink_from_proto(event.uplink_frame, board), i * 0.001)
            out += gateway.emit_due(i * 0.001)
        out += gateway.emit_due(float("inf"))
        elapsed = time.process_time() - start
        for link in gateway.links.values():
            link.backend.close()
    return out, elapsed / len(out) * 1e6


def best_us(run: Callable[[], None], count: int) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times) / count * 1e6


async def feed_costs(uplinks: list[ReceivedUplink], directory: str) -> tuple[float, float, float]:
    """Per uplink: a PUB socket as before (no subscriber), the feed with no subscriber, then with one
    (drained between rounds, untimed: the reader is another process)."""
    context = zmq.asyncio.Context()
    url = f"ipc://{directory}/traffic"
    feed = TrafficFeed(url, context)
    following = asyncio.create_task(feed.follow_subscriptions())
    batches = [uplinks[i:i + BATCH] for i in range(0, len(uplinks), BATCH)]

    async def rounds() -> float:
        times = []
        for _ in range(ROUNDS):
            start = time.process_time()
            for batch in batches:
                await feed.publish(batch)
            times.append(time.process_time() - start)
            while await subscriber.poll(0) if subscribed else False:
                await subscriber.recv()
        return min(times) / len(uplinks) * 1e6

    publisher = context.socket(zmq.PUB)  # before: a PUB socket, every uplink described, encoded and sent
    publisher.setsockopt(zmq.LINGER, 0)
    publisher.bind(f"ipc://{directory}/before")
    times = []
    for _ in range(ROUNDS):
        start = time.process_time()
        for batch in batches:
            for received in batch:
                await publisher.send(json.dumps(describe(received)).encode())
        times.append(time.process_time() - start)
    publisher.close()
    before = min(times) / len(uplinks) * 1e6
    subscribed = False
    subscriber = context.socket(zmq.SUB)
    subscriber.setsockopt(zmq.LINGER, 0)
    subscriber.setsockopt(zmq.RCVHWM, 0)
    try:
        unheard = await rounds()
        subscriber.setsockopt(zmq.SUBSCRIBE, b"")
        subscriber.connect(url)
        while not feed.topics:
            await asyncio.sleep(0.01)
        subscribed = True
        heard = await rounds()
    finally:
        following.cancel()
        subscriber.close()
        feed.close()
        context.term()
    return before, unheard, heard


def log_costs(uplinks: list[ReceivedUplink]) -> tuple[float, float, float]:
    def eager() -> None:  # before: every record written as it came (as the listener's case still does)
        log = TrafficLog()
        for n, received in enumerate(uplinks):
            json.dumps(log.add(received, 1_800_000_000.0 + n * 0.01), separators=(",", ":"))

    def unheard() -> None:
        log = TrafficLog()
        for n, received in enumerate(uplinks):
            log.add(received, 1_800_000_000.0 + n * 0.01)

    def heard() -> None:
        log = TrafficLog()
        listener = log.listen(maxsize=len(uplinks))
        for n, received in enumerate(uplinks):
            log.add(received, 1_800_000_000.0 + n * 0.01)
        listener.close()

    return best_us(eager, len(uplinks)), best_us(unheard, len(uplinks)), best_us(heard, len(uplinks))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    uplinks, pipeline_us = pipeline(count)
    with tempfile.TemporaryDirectory() as directory:
        feed_before, feed_unheard, feed_heard = asyncio.run(feed_costs(uplinks, directory))
    log_before, log_unheard, log_heard = log_costs(uplinks)
    print(f"{len(uplinks)} uplinks; CPU µs per uplink (best of {ROUNDS}):")
    print(f"  gateway pipeline (decode, filters, dedup): {pipeline_us:.1f}")
    print(f"  traffic_url feed, nobody subscribed: before (PUB) {feed_before:.2f}, now {feed_unheard:.2f}; "
          f"with a subscriber {feed_heard:.2f}")
    print(f"  traffic log, nobody listening: before {log_before:.2f}, now {log_unheard:.2f}; "
          f"with a listener {log_heard:.2f}")
    before, after = pipeline_us + feed_before + log_before, pipeline_us + feed_unheard + log_unheard
    print(f"  pipeline + both, nobody reading: {after:.1f} µs per uplink, was {before:.1f} "
          f"({1 - after / before:.0%} less)")

if __name__ == "__main__":
    main()
