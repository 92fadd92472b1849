"""Uplinks are described and written as JSON only for someone who reads them: the traffic_url feed while a
subscriber holds a subscription, the traffic log's records when a live listener or /api/lora/packets asks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio
from lora_rig import data, event

from wisgate.clock import SimClock
from wisgate.lora.core import traffic
from wisgate.lora.core.describe import describe
from wisgate.lora.core.gateway import Gateway
from wisgate.lora.core.traffic import TrafficLog
from wisgate.lora.core.types import ReceivedUplink
from wisgate.services.traffic_feed import TrafficFeed


def uplinks(count: int) -> list[ReceivedUplink]:
    gateway = Gateway("aa555a0000000000", [], clock=SimClock())
    gateway.pipeline.timebase(0)
    for n in range(count):
        gateway.handle(event(0, data(0x26011234, n), 1_000_000 + n * 1000), 10.0 + n)
    return gateway.emit_due(1000.0)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def test_the_feed_writes_uplinks_only_while_someone_subscribes(tmp_path: Path) -> None:
    url = f"ipc://{tmp_path}/traffic"
    batch = uplinks(3)

    async def main() -> list[bytes]:
        context = zmq.asyncio.Context()
        feed = TrafficFeed(url, context)
        following = asyncio.create_task(feed.follow_subscriptions())
        try:
            await feed.publish(batch)  # nobody listens: not even described
            assert (feed.sent, feed.skipped) == (0, 3)
            subscriber = context.socket(zmq.SUB)
            subscriber.setsockopt(zmq.LINGER, 0)
            subscriber.setsockopt(zmq.SUBSCRIBE, b"")
            subscriber.connect(url)
            await until(lambda: feed.topics == {b""})
            await feed.publish(batch)
            got = [await asyncio.wait_for(subscriber.recv(), 5) for _ in batch]
            assert feed.sent == 3
            subscriber.close()  # a subscriber that goes away takes its subscription with it
            await until(lambda: not feed.topics)
            await feed.publish(batch)
            assert (feed.sent, feed.skipped) == (3, 6)
            return got
        finally:
            following.cancel()
            feed.close()
            context.term()

    got = asyncio.run(main())
    assert [json.loads(m) for m in got] == [json.loads(json.dumps(describe(r))) for r in batch]


@pytest.fixture
def dumps_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = json.dumps

    def counting(value: Any, **options: Any) -> str:
        calls[0] += 1
        return real(value, **options)

    monkeypatch.setattr(traffic.json, "dumps", counting)
    return calls


def test_the_traffic_log_writes_a_record_once_and_only_when_asked(dumps_count: list[int]) -> None:
    log = TrafficLog(recent=4)
    records = [log.add(r, 1_800_000_000.0 + n) for n, r in enumerate(uplinks(6))]
    assert dumps_count[0] == 0  # no listener, no /api/lora/packets: nothing written
    texts = log.recent(2)
    assert [json.loads(t) for t in texts] == records[-2:] and dumps_count[0] == 2
    assert log.recent(3)[1:] == texts and dumps_count[0] == 3  # each written once
    assert [json.loads(t) for t in log.recent()] == records[-4:]  # the last `recent` kept, oldest first
    listener = log.listen()
    [received] = uplinks(1)
    record = log.add(received, 1_800_000_100.0)
    assert listener.queue.get_nowait() == ("uplink", log.recent(1)[0]) and json.loads(log.recent(1)[0]) == record
    listener.close()
