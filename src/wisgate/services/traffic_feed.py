"""The gateway's live uplink feed on ``[lora] traffic_url``: each merged uplink described as JSON, one
ZeroMQ message each, for ``wisgate lora traffic`` and anything else that subscribes.

The socket is an XPUB, which hears its subscribers' subscriptions: with nobody subscribed an uplink is
neither described nor encoded (a PUB socket would have dropped it unsent after we paid for both: 10 µs,
a fifth of what an uplink cost the daemon, bench/traffic_feed.py; most gateways have no subscriber).
XPUB passes up a topic's first subscription and its last unsubscription (also when a subscriber goes
away), so the topics it reported are exactly those someone holds.
"""

from __future__ import annotations

import json

import zmq
import zmq.asyncio

from wisgate.aio import TaskGroup
from wisgate.lora.core.describe import describe
from wisgate.lora.core.gateway import Gateway
from wisgate.lora.core.types import ReceivedUplink

SUBSCRIBE, UNSUBSCRIBE = 1, 0


class TrafficFeed:
    def __init__(self, url: str, context: zmq.asyncio.Context | None = None) -> None:
        self.socket = (context or zmq.asyncio.Context.instance()).socket(zmq.XPUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(url)
        #: the topic prefixes subscribed now (``wisgate lora traffic`` subscribes to everything: b"")
        self.topics: set[bytes] = set()
        #: uplinks sent, and those nobody wanted (neither described nor encoded)
        self.sent = 0
        self.skipped = 0

    async def follow_subscriptions(self) -> None:
        """Keep :attr:`topics` current; runs until cancelled."""
        while True:
            message = await self.socket.recv()
            if message[:1] == bytes([SUBSCRIBE]):
                self.topics.add(message[1:])
            elif message[:1] == bytes([UNSUBSCRIBE]):
                self.topics.discard(message[1:])

    async def publish(self, batch: list[ReceivedUplink]) -> None:
        if not self.topics:
            self.skipped += len(batch)
            return
        for received in batch:
            await self.socket.send(json.dumps(describe(received)).encode())
        self.sent += len(batch)

    async def run(self, gateway: Gateway) -> None:
        """Offer every merged uplink of ``gateway`` to the subscribers; runs until cancelled."""
        async with TaskGroup() as group:
            group.create_task(self.follow_subscriptions(), name="lora-traffic-subscriptions")
            async for batch in gateway.uplink_batches():
                await self.publish(batch)

    def close(self) -> None:
        self.socket.close(linger=0)
