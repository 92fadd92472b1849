"""GWMP forwarder bench: end-to-end uplink throughput and PULL_RESP → module-queue latency.

Uplinks (goal ≥ 20,000 uplinks/s on one core): serialized Concentratord ``gw.Event`` bytes (as in
bench/lora_pipeline.py) → protobuf decode → Gateway.handle → dedup → Gateway.emit_due → the forwarder's
subscription → rxpk records → the server's SQLite store (one transaction per event-loop turn) → PUSH_DATA
datagrams on loopback → a sink process that counts the rxpk and sends PUSH_ACK → acknowledged uplinks
deleted from the store. The rate is uplinks out of dedup divided by the wall time until the last one is
acknowledged. The gateway side runs on CPU 0, the sink on CPU 1 (when there are two).

Replay: a store already holding 30,000 rxpk records (a restart after an outage) drained to the sink, with
the default pacing and with none.

Downlinks (goal p99 ≤ 2 ms): the sink process sends PULL_RESP (class A, tmst = an uplink's counter + 1 s)
every 5 ms; latency is from its sendto to the return of the gateway's JIT enqueue (scheduler.schedule, the
first thing Gateway.send_downlink does), both on CLOCK_MONOTONIC. The module behind is a simulated
Concentratord; both JIT queues are emptied after each enqueue, standing in for the module's TX thread.

Run: .venv/bin/python bench/gwmp_throughput.py [events] [downlinks] [--no-replay]
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path

from chirpstack_api import gw

sys.path.insert(0, str(Path(__file__).parent))
from lora_pipeline import make_events

from wisgate.clock import SimClock
from wisgate.lora.backends.concentratord.client import ConcentratordBackend
from wisgate.lora.backends.concentratord.wire import uplink_from_proto
from wisgate.lora.backhaul import gwmp
from wisgate.lora.backhaul.store import UplinkStore
from wisgate.lora.backhaul.udp_forwarder import UdpForwarder, UdpServerConfig
from wisgate.lora.core.gateway import Gateway, ModuleLink
from wisgate.lora.core.jit import JitQueue
from wisgate.lora.core.types import LoraModulation, RxInfo, TxRequest, TxResult, Uplink, UplinkFrame
from wisgate.sim.concentratord import SimConcentratord, SimModule

GOAL_RATE = 20_000
GOAL_P99_MS = 2.0
CHUNK = 250  # events handled between event-loop turns (one module poll's worth at this rate)
FAR_US = 1 << 30


def cpu_line(out: int, cpu: float, core_cpu: float, elapsed: float) -> str:
    """CPU time of the gateway process, which load from other processes on the machine does not inflate
    (wall time does: the core is shared). Waits (fsync, scheduling) are in the wall time only."""
    backhaul = cpu - core_cpu
    return (f"gateway process CPU {cpu:.2f} s for {elapsed:.2f} s wall ({out / cpu:,.0f} uplinks per CPU-second): "
            f"core {core_cpu / out * 1e6:.1f} µs + backhaul {backhaul / out * 1e6:.1f} µs per uplink; "
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


def waited_ns() -> int:
    """Nanoseconds this thread has spent ready to run but waiting for a CPU (Linux schedstat; 0 elsewhere)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def tail_line(sent: list[int], enqueued: list[tuple[int, int]], start_wait_ns: int) -> str:
    """Where the slowest 1 % of downlinks spent their time: how long the event loop thread waited for a CPU
    (the machine's other processes) between the previous downlink and each of them."""
    rows = []
    previous = start_wait_ns
    for s, (e, waited) in zip(sent, enqueued, strict=False):
        rows.append(((e - s) / 1e6, (waited - previous) / 1e6))
        previous = waited
    rows.sort()
    worst, best = rows[-max(1, len(rows) // 100) :], rows[: max(1, len(rows) // 2)]
    return (f"slowest 1 %: {sum(r[0] for r in worst) / len(worst):.3f} ms on average; the event loop thread was "
            f"ready but waiting for a CPU {sum(r[1] for r in worst) / len(worst):.3f} ms since the downlink before "
            f"(schedstat; the fastest half: {sum(r[1] for r in best) / len(best):.3f} ms)")


def pin(cpu: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        if cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})


# ------------------------------------------------------------------------------------------- sink process


def sink(conn: Connection) -> None:
    """A network server: counts rxpk, ACKs PUSH_DATA/PULL_DATA, sends timed PULL_RESP on request."""
    pin(1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    conn.send(sock.getsockname()[1])
    rxpk = datagrams = 0
    gateway: tuple[str, int] | None = None
    plan: list[bytes] = []
    sent: list[int] = []
    tx_acks = 0
    next_at = done_by = 0.0
    interval = 0.005
    sock.settimeout(0.002)
    while True:
        if conn.poll():
            command = conn.recv()
            if command[0] == "count":
                conn.send((rxpk, datagrams))
            elif command[0] == "downlinks":
                _, plan, interval = command
                plan, sent, tx_acks, next_at = list(plan), [], 0, time.monotonic()
            elif command[0] == "stop":
                return
        if plan and gateway is not None and time.monotonic() >= next_at:
            datagram = plan.pop(0)
            sent.append(time.monotonic_ns())
            sock.sendto(datagram, gateway)
            next_at += interval
            if not plan:
                done_by = time.monotonic() + 2.0
        try:
            data, addr = sock.recvfrom(65_535)
        except TimeoutError:
            if sent and not plan and time.monotonic() > done_by:
                conn.send((sent, tx_acks))
                sent = []
            continue
        kind = data[3] if len(data) > 3 else -1
        if kind == gwmp.PacketType.PUSH_DATA:
            rxpk += data.count(b'"tmst"')
            datagrams += 1
            gateway = addr
            sock.sendto(data[:3] + b"\x01", addr)
        elif kind == gwmp.PacketType.PULL_DATA:
            gateway = addr
            sock.sendto(data[:3] + b"\x04", addr)
        elif kind == gwmp.PacketType.TX_ACK:
            tx_acks += 1
            if sent and not plan and tx_acks == len(sent):
                conn.send((sent, tx_acks))
                sent = []


# ------------------------------------------------------------------------------------------- gateway side


def make_gateway(directory: str, clock: SimClock) -> tuple[Gateway, SimConcentratord]:
    daemon = SimConcentratord(
        SimModule("0016c001ff1a7391", board=0, counter_offset_us=0, tx_powers=(14,)),
        clock=clock, event_url=f"ipc://{directory}/e0", command_url=f"ipc://{directory}/c0",
        tx_check=lambda item, now: (gw.OK, now),  # the module accepts; the gateway's own JIT decides
    ).start()
    links = [
        ModuleLink(
            board,
            ConcentratordBackend(board=board, event_url=f"ipc://{directory}/e{board}",
                                 command_url=f"ipc://{directory}/c{board}"),
            JitQueue(board=board, tx_freq_min_hz=863_000_000, tx_freq_max_hz=870_000_000, power_lut=(14,)),
        )
        for board in (0, 1)
    ]
    return Gateway("0016c001ff1a7391", links, clock=clock), daemon


async def feed(gateway: Gateway, clock: SimClock, events: list[tuple[int, bytes]]) -> tuple[int, float]:
    """Hand the serialized events to the gateway core, CHUNK per event-loop turn (one ms apart on ``clock``);
    the uplinks it emitted, and the CPU time spent in the core (decode, handle, dedup, emit): the rest of the
    process's CPU time is the backhaul's. The event loop thread's own time (``thread_time``): the store's writer
    thread runs meanwhile, and its time is the backhaul's."""
    out = 0
    core_cpu = 0.0
    for base in range(0, len(events), CHUNK):
        chunk_cpu = time.thread_time()
        for i in range(base, min(base + CHUNK, len(events))):
            board, raw = events[i]
            now = i * 0.001
            clock.advance(now - clock.monotonic())
            event = gw.Event()
            event.ParseFromString(raw)
            gateway.handle(uplink_from_proto(event.uplink_frame, board), now)
            out += len(gateway.emit_due(now))
        core_cpu += time.thread_time() - chunk_cpu
        await asyncio.sleep(0)
    return out + len(gateway.emit_due(float("inf"))), core_cpu


async def uplinks(gateway: Gateway, clock: SimClock, events: list[tuple[int, bytes]], port: int,
                  conn: Connection, store: Path) -> None:
    config = UdpServerConfig(name="sink", host="127.0.0.1", port_up=port, port_down=port, stat_interval_s=0,
                             store_path=store)
    async with UdpForwarder(gateway, [config]) as forwarder:
        link = forwarder.links["sink"]
        start = time.perf_counter()
        cpu_start = time.process_time()
        out, core_cpu = await feed(gateway, clock, events)
        while link.stats.uplinks_acked < out or len(link.store):
            await asyncio.sleep(0.0005)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        conn.send(("count",))
        rxpk, datagrams = conn.recv()
        stats = link.stats
    rate = out / elapsed
    print(f"uplinks: {len(events)} events → {out} uplinks, {rxpk} rxpk received by the sink in {datagrams} "
          f"datagrams ({stats.pushes} PUSH_DATA, {stats.acks} acked, {stats.push_timeouts} timeouts)")
    print(f"uplink throughput {rate:,.0f} uplinks/s end to end (goal ≥ {GOAL_RATE:,}) "
          f"{'PASS' if rate >= GOAL_RATE and rxpk >= out else 'FAIL'}")
    print(cpu_line(out, cpu, core_cpu, elapsed))


async def downlinks(gateway: Gateway, clock: SimClock, port: int, conn: Connection, count: int) -> None:
    config = UdpServerConfig(name="sink", host="127.0.0.1", port_up=port, port_down=port, stat_interval_s=0,
                             keepalive_s=0.05)
    enqueued: list[tuple[int, int]] = []
    schedule = gateway.scheduler.schedule

    def timed(request: TxRequest, now_us: Mapping[int, int]) -> TxResult:
        result = schedule(request, now_us)
        enqueued.append((time.monotonic_ns(), waited_ns()))
        for queue in gateway.scheduler.queues.values():  # the module's TX thread would have sent them
            queue.pop_due((now_us.get(queue.board, 0) + FAR_US) & 0xFFFFFFFF)
        return result

    gateway.scheduler.schedule = timed  # type: ignore[method-assign]
    async with UdpForwarder(gateway, [config]) as forwarder:
        clock.advance(1.0)
        count0 = 5_000_000
        event = gw.UplinkFrame(phy_payload=b"\x40\x01\x02\x03\x04\x00\x01\x00\x01hello")
        event.tx_info.frequency = 868_100_000
        event.tx_info.modulation.lora.spreading_factor = 7
        event.tx_info.modulation.lora.bandwidth = 125_000
        event.tx_info.modulation.lora.code_rate = gw.CR_4_5
        event.rx_info.context = count0.to_bytes(4, "big")
        event.rx_info.crc_status = gw.CRC_OK
        gateway.handle(uplink_from_proto(event, 0), clock.monotonic())
        gateway.emit_due(float("inf"))
        while forwarder.links["sink"].stats.pull_acks == 0:
            await asyncio.sleep(0.01)
        txpk = gwmp.Txpk(freq_hz=869_525_000, modu="LORA", datr="SF9BW125", codr="4/5", data=bytes(13), powe=14,
                         tmst=count0 + 1_000_000, ipol=True)
        plan = [gwmp.encode(gwmp.PullResp(k & 0xFFFF, txpk)) for k in range(count)]
        start_wait = waited_ns()
        conn.send(("downlinks", plan, 0.005))
        loop = asyncio.get_running_loop()
        sent, tx_acks = await loop.run_in_executor(None, conn.recv)
        stats = forwarder.links["sink"].stats
    latencies = sorted((e - s) / 1e6 for s, (e, _) in zip(sent, enqueued, strict=False))
    n = len(latencies)
    p50, p99 = latencies[n // 2], latencies[min(n - 1, int(n * 0.99))]
    print(f"downlinks: {len(sent)} PULL_RESP, {len(enqueued)} enqueued, {tx_acks} TX_ACK, "
          f"{stats.downlinks_sent} sent, refused {dict(stats.downlinks_refused)}")
    print(f"PULL_RESP → JIT enqueue p50 {p50:.3f} ms, p99 {p99:.3f} ms (goal ≤ {GOAL_P99_MS} ms), "
          f"max {latencies[-1]:.3f} ms {'PASS' if p99 <= GOAL_P99_MS and n == count else 'FAIL'}")
    print(tail_line(sent, enqueued, start_wait))


async def replay(gateway: Gateway, port: int, conn: Connection, store_path: Path, count: int,
                 interval: float) -> None:
    """A restart after an outage: ``count`` records already queued, replayed with the default window."""
    frame = UplinkFrame(bytes(30), 868_100_000, LoraModulation(7, 125_000), RxInfo(board=0, count_us=0, rssi=-80,
                                                                                  snr=4.0))
    records = [(gwmp.encode_uplink(Uplink((frame,), 0.0), rx_time=gwmp.utc_time(1.7e9 + n)), 1.7e9 + n)
               for n in range(count)]
    with UplinkStore(store_path, server="sink") as store:
        store.put_many(records)
    conn.send(("count",))
    before, _ = conn.recv()
    config = UdpServerConfig(name="sink", host="127.0.0.1", port_up=port, port_down=port, stat_interval_s=0,
                             store_path=store_path, replay_interval_s=interval)
    start = time.perf_counter()
    async with UdpForwarder(gateway, [config], subscribe=False) as forwarder:
        link = forwarder.links["sink"]
        while len(link.store) or link.backlog:
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
        conn.send(("count",))
        after, _ = conn.recv()
    print(f"replay of {count:,} queued uplinks (replay_interval_s={interval}, window {config.replay_window}): "
          f"{elapsed:.2f} s, {count / elapsed:,.0f} uplinks/s, {after - before:,} rxpk at the sink, "
          f"{link.stats.replayed:,} replayed")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(args[0]) if args else 100_000
    downlink_count = int(args[1]) if len(args) > 1 else 2_000
    events = make_events(count)
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=sink, args=(child,), daemon=True)
    process.start()
    port = parent.recv()
    pin(0)
    try:
        with tempfile.TemporaryDirectory() as directory:
            clock = SimClock()
            gateway, daemon = make_gateway(directory, clock)
            try:
                asyncio.run(uplinks(gateway, clock, events, port, parent, Path(directory) / "sink.db"))
            finally:
                for link in gateway.links.values():
                    link.backend.close()
                daemon.stop()
        for interval in () if "--no-replay" in sys.argv else (0.02, 0.0):
            with tempfile.TemporaryDirectory() as directory:
                gateway, daemon = make_gateway(directory, SimClock())
                try:
                    asyncio.run(replay(gateway, port, parent, Path(directory) / "replay.db", 30_000, interval))
                finally:
                    for link in gateway.links.values():
                        link.backend.close()
                    daemon.stop()
        if downlink_count:  # 0: uplinks and replay only
            with tempfile.TemporaryDirectory() as directory:
                clock = SimClock(100.0)
                gateway, daemon = make_gateway(directory, clock)
                try:
                    asyncio.run(downlinks(gateway, clock, port, parent, downlink_count))
                finally:
                    for link in gateway.links.values():
                        link.backend.close()
                    daemon.stop()
    finally:
        parent.send(("stop",))
        process.join(timeout=5)


if __name__ == "__main__":
    main()
