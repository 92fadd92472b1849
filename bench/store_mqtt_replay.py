"""Replay of a stored backlog through the MQTT forwarder to a local Mosquitto, in uplinks/s; and the live path.

Queues N uplink records (the protobuf ``gw.UplinkFrame`` the forwarder publishes, ~60 bytes) in an
UplinkStore, starts Mosquitto on a free loopback port, runs the forwarder and times how long the
backlog takes to drain (publish with QoS 1, PUBACK, delete from the store), for several windows.
Needs the Debian package ``mosquitto``. Usage: ``python bench/store_mqtt_replay.py [--count N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
from chirpstack_api import gw

from wisgate.clock import SimClock
from wisgate.lora.backhaul.mqtt_forwarder import MqttForwarder, MqttSettings, decode, encode, uplink_message
from wisgate.lora.backhaul.store import UplinkStore
from wisgate.lora.core.stats import GatewayStats
from wisgate.lora.core.types import (
    LoraModulation,
    ReceivedUplink,
    RxInfo,
    TxOutcome,
    TxRequest,
    TxResult,
    Uplink,
    UplinkFrame,
)
from wisgate.lora.plans.channels import ChannelPlan


class IdleGateway:
    gateway_id = "0016c001ff10a235"

    clock = SimClock()
    boards = (0,)

    plans: list[tuple[str, ChannelPlan]]

    def __init__(self) -> None:
        self.stats = GatewayStats()
        self.plans = []

    async def uplinks(self) -> AsyncIterator[ReceivedUplink]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]

    async def uplink_batches(self) -> AsyncIterator[list[ReceivedUplink]]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]

    async def apply_plan(self, plan: ChannelPlan, *, version: str) -> None:
        self.plans.append((version, plan))

    async def send_downlink(self, request: TxRequest) -> TxResult:
        return TxResult(TxOutcome.OK)


def start_broker(workdir: Path, *, nodelay: bool) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = workdir / "mosquitto.conf"
    # max_queued_messages 0: the bench's own subscriber may lag; the default (1000) would drop for it
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
        f"set_tcp_nodelay {str(nodelay).lower()}\n"
    )
    process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit(f"mosquitto ({binary}) did not start")


async def drain(store: UplinkStore, port: int, window: int) -> float:
    forwarder = MqttForwarder(IdleGateway(), MqttSettings(port=port, window=window), store)
    count = len(store)
    task = asyncio.create_task(forwarder.run())
    await forwarder.connected.wait()
    start = time.perf_counter()
    while len(store):
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return count / elapsed


async def live(store: UplinkStore, port: int, count: int, burst: int, pace_s: float = 0.0) -> tuple[float, float]:
    """Uplinks submitted ``burst`` per loop turn (``pace_s`` apart) while connected.

    Returns (uplinks/s to PUBACK, p99 latency ms); latency is submit → arrival at a subscriber on the
    same broker, so it includes the store transaction (one sync) and both MQTT hops.
    """
    forwarder = MqttForwarder(IdleGateway(), MqttSettings(port=port), store)
    task = asyncio.create_task(forwarder.run())
    await forwarder.connected.wait()
    sent_at: dict[bytes, float] = {}
    latencies: list[float] = []
    async with aiomqtt.Client("127.0.0.1", port) as sub:
        await sub.subscribe(f"gateway/{IdleGateway.gateway_id}/event/up", qos=1)

        async def receive() -> None:
            async for message in sub.messages:
                payload = decode(bytes(message.payload), gw.UplinkFrame(), "protobuf").phy_payload
                latencies.append(time.perf_counter() - sent_at[payload])
                if len(latencies) == count:
                    return

        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        for first in range(0, count, burst):
            for n in range(first, min(first + burst, count)):
                payload = n.to_bytes(4, "big")
                sent_at[payload] = time.perf_counter()
                forwarder.submit(received(payload))
            await asyncio.sleep(pace_s)
        while forwarder.stats.acked < count:
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
        await receiver
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    latencies.sort()
    return count / elapsed, latencies[int(0.99 * (len(latencies) - 1))] * 1000


def received(payload: bytes) -> ReceivedUplink:
    frame = UplinkFrame(payload, 868_100_000, LoraModulation(7, 125_000), RxInfo(0, count_us=1, rssi=-80, snr=7))
    return ReceivedUplink(Uplink((frame,), 0.0), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--broker-nodelay", action="store_true", help="Mosquitto's set_tcp_nodelay (off by default)")
    args = parser.parse_args()
    frame = UplinkFrame(bytes(23), 868_100_000, LoraModulation(7, 125_000), RxInfo(0, count_us=1, rssi=-80, snr=7))
    record = encode(uplink_message(frame, gateway_id=IdleGateway.gateway_id, uplink_id=1, gw_time=time.time()),
                    "protobuf")
    with tempfile.TemporaryDirectory() as tmp:
        process, port = start_broker(Path(tmp), nodelay=args.broker_nodelay)
        try:
            for window in (1, 10, 100, 500):
                store = UplinkStore(Path(tmp) / f"w{window}.db", server="bench", max_items=10_000_000)
                store.put_many([(record, time.time())] * args.count)
                rate = asyncio.run(drain(store, port, window))
                store.close()
                print(f"replay {args.count} uplinks ({len(record)} B) window {window:3}: {rate:9,.0f} uplinks/s")
            for burst in (1, 50):
                store = UplinkStore(Path(tmp) / f"live{burst}.db", server="bench")
                rate, p99 = asyncio.run(live(store, port, args.count // 4, burst))
                store.close()
                print(f"live {args.count // 4} uplinks, {burst:2} per loop turn: {rate:9,.0f} uplinks/s, "
                      f"submit→subscriber p99 {p99:.1f} ms")
            store = UplinkStore(Path(tmp) / "paced.db", server="bench")
            _, p99 = asyncio.run(live(store, port, 250, 1, pace_s=0.02))
            store.close()
            print(f"live 250 uplinks at 50/s: submit→subscriber p99 {p99:.2f} ms")
        finally:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    main()
