"""LoRa Basics Station backhaul bench: uplinks/s to an LNS and dnmsg → JIT enqueue latency.

Uplinks (goal ≥ 20,000 uplinks/s on one core): serialized Concentratord events (as in
bench/lora_pipeline.py) → protobuf decode → Gateway.handle → dedup → emit → the Station forwarder's
subscription → uplink records in its SQLite store (one transaction per event-loop turn) → ``updf``
messages on a WebSocket (TLS unless ``--ws``) → an LNS sink process that counts them; a ping per
window confirms them and deletes them from the store. The rate is uplinks out of dedup divided by the
wall time until the last one is confirmed. The gateway side runs on CPU 0, the sink on CPU 1.

Downlinks (goal p99 ≤ 2 ms): the sink sends ``dnmsg`` (class A, RX1 = an uplink's xtime + 1 s) every
5 ms; latency is from its send to the return of the gateway's JIT enqueue (scheduler.schedule), both on
CLOCK_MONOTONIC. The JIT queues are emptied after each enqueue, standing in for the module's TX thread.

Run: .venv/bin/python bench/station_throughput.py [events] [downlinks] [--ws]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from gwmp_throughput import FAR_US, cpu_line, feed, make_gateway, pin, tail_line, waited_ns
from lns_peer import EU868_DRS, Certificates
from lora_pipeline import make_events

from wisgate.clock import SimClock
from wisgate.lora.backhaul.station import StationForwarder, StationSettings
from wisgate.lora.backhaul.store import UplinkStore
from wisgate.lora.backhaul.uplink_queue import UplinkQueue
from wisgate.lora.core.types import LoraModulation, RxInfo, TxRequest, TxResult, UplinkFrame
from wisgate.lora.plans.allocation import Module
from wisgate.sim.concentratord import SimConcentratord, SimModule

GOAL_RATE = 20_000
GOAL_P99_MS = 2.0
ROUTER_CONFIG = {"msgtype": "router_config", "region": "EU868", "DRs": EU868_DRS, "MuxTime": 1.0,
                 "upchannels": [[868_100_000 + 200_000 * n, 0, 5] for n in range(3)]}


# ------------------------------------------------------------------------------------------- LNS sink


def sink(conn: Connection, certs_dir: str | None) -> None:
    pin(1)
    asyncio.run(_sink(conn, certs_dir))


async def _sink(conn: Connection, certs_dir: str | None) -> None:
    updf = 0
    traffic: ServerConnection | None = None
    xtimes: list[int] = []
    fresh_xtime = False
    loop = asyncio.get_running_loop()
    ssl_context = None
    if certs_dir is not None:
        certs = Certificates(Path(certs_dir))
        ssl_context = certs.server_context(client_auth=False)
        conn.send(str(certs.ca_file))

    async def handle(ws: ServerConnection) -> None:
        nonlocal updf, traffic, fresh_xtime
        if ws.request is not None and ws.request.path == "/router-info":
            request = json.loads(await ws.recv())
            scheme = "wss" if ssl_context else "ws"
            await ws.send(json.dumps({"router": request["router"], "muxs": "::0",
                                      "uri": f"{scheme}://127.0.0.1:{port}/traffic"}))
            return
        traffic = ws
        with contextlib.suppress(ConnectionClosed):  # the gateway going away at the end of the run
            async for raw in ws:
                text = raw if isinstance(raw, str) else raw.decode()
                if '"updf"' in text[:20]:
                    updf += 1
                    if fresh_xtime:
                        xtimes.append(json.loads(text)["upinfo"]["xtime"])
                elif '"version"' in text[:30]:
                    await ws.send(json.dumps(ROUTER_CONFIG))

    server = await serve(handle, "127.0.0.1", 0, ssl=ssl_context, max_queue=None)
    port = int(next(iter(server.sockets)).getsockname()[1])
    conn.send(port)
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command[0] == "count":
            conn.send(updf)
        elif command[0] == "xtime":
            fresh_xtime = True  # the next updf's xtime is the one downlinks answer
        elif command[0] == "downlinks":
            _, count, interval = command
            sent = []
            while not xtimes:
                await asyncio.sleep(0.01)
            assert traffic is not None
            for n in range(count):
                message = {"msgtype": "dnmsg", "DevEui": "00-00-00-00-00-00-00-01", "dC": 0, "diid": n,
                           "pdu": "60" + "00" * 12, "RxDelay": 1, "RX1DR": 5, "RX1Freq": 868_100_000,
                           "RX2DR": 0, "RX2Freq": 869_525_000, "xtime": xtimes[-1], "rctx": 0, "priority": 0}
                sent.append(time.monotonic_ns())
                await traffic.send(json.dumps(message))
                await asyncio.sleep(interval)
            conn.send(sent)
        elif command[0] == "stop":
            server.close()
            return


# ------------------------------------------------------------------------------------------- gateway side


async def uplinks(forwarder: StationForwarder, clock: SimClock, events: list[tuple[int, bytes]],
                  conn: Connection) -> float:
    gateway = forwarder.gateway
    await forwarder.configured.wait()
    start = time.perf_counter()
    cpu_start = time.process_time()
    out, core_cpu = await feed(gateway, clock, events)  # type: ignore[arg-type]
    fed = time.perf_counter() - start
    while forwarder.stats.confirmed < out or forwarder.backlog:
        await asyncio.sleep(0.0005)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    conn.send(("count",))
    received = conn.recv()
    rate = out / elapsed
    print(f"uplinks: {len(events)} events → {out} uplinks, {received} updf received by the LNS; "
          f"events fed in {fed:.2f} s, all confirmed after {elapsed:.2f} s "
          f"({forwarder.stats.sent} sent, {forwarder.stats.confirmed} confirmed by ping)")
    print(f"uplink throughput {rate:,.0f} uplinks/s end to end (goal ≥ {GOAL_RATE:,}) "
          f"{'PASS' if rate >= GOAL_RATE and received >= out else 'FAIL'}")
    print(cpu_line(out, cpu, core_cpu, elapsed))
    return rate


async def downlinks(forwarder: StationForwarder, conn: Connection, count: int) -> None:
    gateway: Any = forwarder.gateway
    enqueued: list[tuple[int, int]] = []
    schedule = gateway.scheduler.schedule

    def timed(request: TxRequest, now_us: Mapping[int, int]) -> TxResult:
        result = schedule(request, now_us)
        enqueued.append((time.monotonic_ns(), waited_ns()))
        for queue in gateway.scheduler.queues.values():  # the module's TX thread would have sent them
            queue.pop_due((now_us.get(queue.board, 0) + FAR_US) & 0xFFFFFFFF)
        return result

    gateway.scheduler.schedule = timed
    # a fresh uplink: downlinks answer it one second after, on its board's counter (the simulated clock
    # stands still meanwhile, as if each dnmsg came right after its uplink)
    conn.send(("xtime",))
    clock = gateway.clock
    count0 = 5_000_000
    frame = UplinkFrame(bytes([0x40, 1, 2, 3, 4, 0, 1, 0, 1]) + b"hello" + bytes(4), 868_100_000,
                        LoraModulation(7, 125_000), RxInfo(board=0, count_us=count0, rssi=-80, snr=5))
    gateway.handle(frame, clock.monotonic())
    gateway.emit_due(float("inf"))
    start_wait = waited_ns()
    conn.send(("downlinks", count, 0.005))
    sent: list[int] = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    await asyncio.sleep(0.2)
    latencies = sorted((e - s) / 1e6 for s, (e, _) in zip(sent, enqueued, strict=False))
    if not latencies:
        print("downlinks: none enqueued FAIL")
        return
    p50, p99 = latencies[len(latencies) // 2], latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"dnmsg → JIT enqueue over {len(latencies)} downlinks: p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
          f"max {latencies[-1]:.3f} ms (goal p99 ≤ {GOAL_P99_MS} ms) {'PASS' if p99 <= GOAL_P99_MS else 'FAIL'}; "
          f"{forwarder.stats.downlinks.get('OK', 0)} sent OK")
    print(tail_line(sent, enqueued, start_wait))


async def main_async(events: list[tuple[int, bytes]], downlink_count: int, tls: bool) -> None:
    pin(0)
    parent, child = multiprocessing.Pipe()
    with tempfile.TemporaryDirectory() as directory:
        process = multiprocessing.Process(target=sink, args=(child, directory if tls else None), daemon=True)
        process.start()
        ca_file = parent.recv() if tls else None
        port = parent.recv()
        clock = SimClock()
        gateway, daemon = make_gateway(directory, clock)
        second = SimConcentratord(SimModule("0016c001ff1a7392", board=1), clock=clock,
                                  event_url=f"ipc://{directory}/e1", command_url=f"ipc://{directory}/c1").start()
        for board, link in gateway.links.items():
            link.module = Module.for_region(board, "EU868")
        scheme = "wss" if tls else "ws"
        settings = StationSettings(uri=f"{scheme}://127.0.0.1:{port}", ca_file=ca_file, timesync_interval_s=3600)
        store = UplinkQueue(UplinkStore(Path(directory) / "station.db", server="station"), server="station")
        forwarder = StationForwarder(gateway, settings, store)
        task = asyncio.create_task(forwarder.run())
        try:
            print(f"LNS over {scheme}:// on loopback")
            await uplinks(forwarder, clock, events, parent)
            if downlink_count:
                await downlinks(forwarder, parent, downlink_count)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            parent.send(("stop",))
            process.join(timeout=5)
            store.close()
            for link in gateway.links.values():
                link.backend.close()
            daemon.stop()
            second.stop()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(args[0]) if args else 100_000
    downlink_count = int(args[1]) if len(args) > 1 else 500
    asyncio.run(main_async(make_events(count), downlink_count, tls="--ws" not in sys.argv))


if __name__ == "__main__":
    main()
