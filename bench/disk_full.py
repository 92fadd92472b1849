"""Disk full under both backhauls: lost, duplicated and unprotected uplinks on a 1 MB filesystem.

Mounts a size-limited tmpfs for the store (needs root or CAP_SYS_ADMIN), and drives a forwarder at a
steady rate through phases: server up; an outage longer than the store holds; up; another process
fills the filesystem; an outage with the disk full; up, still full; space returns; a second outage;
up. Every uplink carries its number; the server side (a GWMP peer acknowledging PUSH_DATA, or a
subscriber on a local Mosquitto with a persistent session) records what arrives. Printed: per phase
what was sent and lost, and in all lost / duplicated / unprotected, the store's errors and drops.

Usage: ``python bench/disk_full.py [udp|mqtt|both] [--rate 200] [--outage 3000] [--fs-bytes 1048576]``.
Needs the Debian package ``mosquitto`` for the MQTT run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiomqtt
from chirpstack_api import gw

from wisgate.clock import SimClock
from wisgate.lora.backhaul import gwmp
from wisgate.lora.backhaul.mqtt_forwarder import MqttForwarder, MqttSettings, decode
from wisgate.lora.backhaul.store import UplinkStore
from wisgate.lora.backhaul.udp_forwarder import UdpForwarder, UdpServerConfig
from wisgate.lora.backhaul.uplink_queue import UplinkQueue
from wisgate.lora.core.gateway import Gateway
from wisgate.lora.core.types import LoraModulation, ReceivedUplink, RxInfo, Uplink, UplinkFrame

GATEWAY_ID = "aa555a0000000000"


# -- the small filesystem ------------------------------------------------------------------------


@contextlib.contextmanager
def small_filesystem(size: int) -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="wisgate-disk-full-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"cannot mount a {size}-byte tmpfs (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def fill(where: Path) -> Path:
    path = where / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            try:
                os.write(fd, b"\0" * 4096)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return path
    finally:
        os.close(fd)


def free_bytes(where: Path) -> int:
    fs = os.statvfs(where)
    return fs.f_bavail * fs.f_frsize


# -- the scenario ----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    count: int
    up: bool
    before: Callable[[], None] = lambda: None
    disk_taken: bool = False  # another process holds the rest of the filesystem
    numbers: range = range(0)


@dataclass
class Result:
    phases: list[Phase] = field(default_factory=list)
    received: Counter[int] = field(default_factory=Counter)
    unprotected: int = 0
    store_errors: int = 0
    dropped: int = 0
    lowest_free: int = 1 << 62
    problem_seen: str | None = None
    recovered: bool = False


def uplink(n: int, clock: SimClock) -> ReceivedUplink:
    frame = UplinkFrame(n.to_bytes(4, "big") + bytes(20), 868_100_000, LoraModulation(7, 125_000),
                        RxInfo(board=0, count_us=(n * 5_000) & 0xFFFFFFFF, rssi=-80, snr=4.0))
    return ReceivedUplink(Uplink((frame,), clock.monotonic()), None)


def phases(outage: int, fs: Path, filler: list[Path]) -> list[Phase]:
    def take() -> None:
        filler.append(fill(fs))

    def give_back() -> None:
        filler.pop().unlink()

    return [
        Phase("server up", 500, True),
        Phase(f"outage of {outage} uplinks (more than the store holds)", outage, False),
        Phase("server up, backlog replayed", 500, True),
        Phase("another process fills the filesystem", 500, True, take, True),
        Phase("outage, disk full", 500, False, disk_taken=True),
        Phase("server up, disk still full", 500, True, disk_taken=True),
        Phase("space returns", 500, True, give_back),
        Phase("second outage", 1000, False),
        Phase("server up", 500, True),
    ]


async def drive(result: Result, plan: list[Phase], *, rate: int, submit: Callable[[int], None],
                set_up: Callable[[bool], None], queue: Callable[[], UplinkQueue], fs: Path,
                drained: Callable[[], bool]) -> None:
    batch = max(1, rate // 20)
    n = 0
    for phase in plan:
        phase.before()
        set_up(phase.up)
        first = n
        for _ in range(0, phase.count, batch):
            for _ in range(batch):
                submit(n)
                n += 1
            await asyncio.sleep(batch / rate)
            q = queue()
            if not phase.disk_taken:
                result.lowest_free = min(result.lowest_free, free_bytes(fs))
            if q.problem and result.problem_seen is None:
                result.problem_seen = q.problem
        phase.numbers = range(first, n)
        if phase.up:
            deadline = time.monotonic() + 30
            while not drained() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    q = queue()
    result.unprotected, result.store_errors, result.dropped = q.unprotected, q.store_errors, q.dropped
    result.recovered = q.problem is None
    result.phases = plan


# -- UDP -------------------------------------------------------------------------------------------


class Server(asyncio.DatagramProtocol):
    def __init__(self, received: Counter[int]) -> None:
        self.received = received
        self.up = True
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.up or self.transport is None:
            return
        packet = gwmp.decode(data)
        if isinstance(packet, gwmp.PushData):
            self.received.update(int.from_bytes(rx.data[:4], "big") for rx in packet.rxpk)
            self.transport.sendto(gwmp.encode(gwmp.PushAck(packet.token, packet.version)), addr)
        elif isinstance(packet, gwmp.PullData):
            self.transport.sendto(gwmp.encode(gwmp.PullAck(packet.token, packet.version)), addr)


async def run_udp(args: argparse.Namespace) -> Result:
    result = Result()
    clock = SimClock(0.0)
    with small_filesystem(args.fs_bytes) as fs:
        loop = asyncio.get_running_loop()
        _, peer = await loop.create_datagram_endpoint(lambda: Server(result.received), local_addr=("127.0.0.1", 0))
        assert peer.transport is not None
        port = int(peer.transport.get_extra_info("sockname")[1])
        config = UdpServerConfig(name="ns", host="127.0.0.1", port_up=port, port_down=port, keepalive_s=0.5,
                                 push_timeout_s=0.1, retry_interval_s=0.2, stat_interval_s=0,
                                 store_path=fs / "udp-ns.sqlite")
        gateway = Gateway(GATEWAY_ID, [], clock=clock)
        filler: list[Path] = []
        async with UdpForwarder(gateway, [config], clock=clock, subscribe=False) as forwarder:
            link = forwarder.links["ns"]

            def submit(n: int) -> None:
                forwarder.submit(uplink(n, clock))
                clock.advance(1 / args.rate)

            def set_up(up: bool) -> None:
                peer.up = up

            await drive(result, phases(args.outage, fs, filler), rate=args.rate, submit=submit, set_up=set_up,
                        queue=lambda: link.store, fs=fs, drained=lambda: len(link.store) == 0 and not link.backlog)
        peer.transport.close()
    return result


# -- MQTT ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(binary, os.X_OK):
        sys.exit("the MQTT run needs the Debian package mosquitto")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = workdir / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                      f"persistence true\npersistence_location {workdir}/\n"
                      + ("user root\n" if os.geteuid() == 0 else ""))
    process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        time.sleep(0.02)
    try:
        yield process, port, config
    finally:
        process.terminate()
        process.wait(5)


@contextlib.asynccontextmanager
async def subscriber(port: int, received: Counter[int]) -> AsyncIterator[None]:
    async with aiomqtt.Client("127.0.0.1", port, identifier="disk-full-ns", clean_session=False) as client:
        await client.subscribe(f"gateway/{GATEWAY_ID}/event/up", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                frame = decode(bytes(cast(bytes, message.payload)), gw.UplinkFrame(), "protobuf")
                received[int.from_bytes(frame.phy_payload[:4], "big")] += 1

        task = asyncio.create_task(collect())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


async def run_mqtt(args: argparse.Namespace) -> Result:
    result = Result()
    clock = SimClock(0.0)
    workdir = Path(tempfile.mkdtemp(prefix="wisgate-disk-full-broker-"))
    with small_filesystem(args.fs_bytes) as fs, broker(workdir) as (process, port, config):
        state = {"process": process}
        path = fs / "mqtt.sqlite"
        queue = UplinkQueue(opener=lambda: UplinkStore.recover(path, server="mqtt"), server="mqtt", retry_s=1.0)
        forwarder = MqttForwarder(Gateway(GATEWAY_ID, [], clock=clock),
                                  MqttSettings(port=port, reconnect_min_s=0.1, reconnect_max_s=0.5), queue)
        filler: list[Path] = []
        up = [True]

        def set_up(want: bool) -> None:
            if want == up[0]:
                return
            up[0] = want
            if want:
                state["process"] = subprocess.Popen(["mosquitto", "-c", str(config)], stderr=subprocess.DEVNULL)
            else:
                state["process"].terminate()
                state["process"].wait(5)

        def submit(n: int) -> None:
            forwarder.submit(uplink(n, clock))

        async with subscriber(port, result.received):
            pass  # the persistent session: the broker keeps what comes while the subscriber is away
        running = asyncio.create_task(forwarder.run())
        try:
            await drive(result, phases(args.outage, fs, filler), rate=args.rate, submit=submit, set_up=set_up,
                        queue=lambda: queue, fs=fs, drained=lambda: forwarder.backlog == 0)
            crashed = running.done()
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            queue.close()
        deadline = time.monotonic() + 30
        async with subscriber(port, result.received):
            total = sum(p.count for p in result.phases)
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                if len(result.received) >= total - result.dropped:
                    await asyncio.sleep(0.5)
                    break
        state["process"].terminate()
        if crashed:
            print("  the MQTT forwarder stopped during the run")
    shutil.rmtree(workdir, ignore_errors=True)
    return result


# -- report ----------------------------------------------------------------------------------------


def report(name: str, result: Result, window: int) -> None:
    got = result.received
    print(f"\n{name}")
    print(f"  {'phase':<52} {'sent':>6} {'lost':>6}")
    lost_up = 0
    for phase in result.phases:
        lost = sum(1 for n in phase.numbers if n not in got)
        lost_up += lost if phase.up else 0
        print(f"  {phase.name:<52} {len(phase.numbers):>6} {lost:>6}")
    total = sum(len(p.numbers) for p in result.phases)
    lost = total - len(set(got) & set(range(total)))
    duplicates = sum(got.values()) - len(got)
    print(f"  lost {lost} (while the server was up: {lost_up}; dropped by the cap policy in outages: "
          f"{result.dropped}); duplicated {duplicates} (most copies of one uplink: "
          f"{max(got.values(), default=0)}; one replay window: {window}); unprotected {result.unprotected}")
    print(f"  store errors {result.store_errors}; lowest free space while the store had the filesystem to itself "
          f"{result.lowest_free} bytes; link "
          f"{'recovered' if result.recovered else 'still degraded'} without a restart")
    if result.problem_seen:
        print(f"  the link said: {result.problem_seen}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("backhaul", nargs="?", choices=["udp", "mqtt", "both"], default="both")
    parser.add_argument("--rate", type=int, default=200, help="uplinks per second")
    parser.add_argument("--outage", type=int, default=3000, help="uplinks in the first outage")
    parser.add_argument("--fs-bytes", type=int, default=1 << 20, help="size of the store's filesystem")
    args = parser.parse_args()
    if args.backhaul in ("udp", "both"):
        report("UDP (GWMP), replay window 4 datagrams", asyncio.run(run_udp(args)), window=4 * 15)
    if args.backhaul in ("mqtt", "both"):
        report("MQTT (QoS 1), window 100", asyncio.run(run_mqtt(args)), window=100)


if __name__ == "__main__":
    main()
