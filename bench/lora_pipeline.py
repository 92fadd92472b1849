"""Uplink pipeline throughput and added latency on one core (goals ≥ 20,000 uplinks/s, p99 ≤ 1 ms).

Each event is a serialized Concentratord ``gw.Event`` (context = 4-byte big-endian count_us), as a
module's PUB socket delivers it. Per event: decode the protobuf, convert, filter, parse, extend the
board counter, count, deduplicate, and pop whatever the dedup window released (Gateway.handle and
Gateway.emit_due: the gateway's whole uplink path but the socket read). A third of the transmissions are heard
by a second board; board counters start just below the 32-bit wrap. Simulated host time moves
1 ms per event, so the dedup holds a realistic number of open groups. Latency is the wall time
spent in the pipeline for one event (including the emissions it triggers).

Run: .venv/bin/python bench/lora_pipeline.py [events]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time

from chirpstack_api import gw

from wisgate.clock import SimClock
from wisgate.lora.backends.concentratord.client import ConcentratordBackend
from wisgate.lora.backends.concentratord.wire import uplink_from_proto
from wisgate.lora.core.gateway import Gateway, ModuleLink
from wisgate.lora.core.jit import JitQueue
from wisgate.lora.frames import crypto
from wisgate.lora.frames.phy import MType

GOAL_RATE = 20_000
GOAL_P99_MS = 1.0
FREQS = [868_100_000, 868_300_000, 868_500_000, 867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000]


def make_events(count: int, seed: int = 7) -> list[tuple[int, bytes]]:
    """(board, serialized gw.Event) pairs, as the modules' PUB sockets deliver them."""
    rng = random.Random(seed)
    key = bytes(range(16))
    events: list[tuple[int, bytes]] = []
    count_us = {0: (1 << 32) - 2_000_000, 1: (1 << 32) - 9_000_000}
    fcnt = 0
    while len(events) < count:
        fcnt += 1
        sf = rng.choice([7, 7, 7, 8, 9, 10])
        frame = crypto.build_data_frame(
            mtype=MType.UNCONFIRMED_DATA_UP,
            dev_addr=0x26000000 | rng.randrange(1 << 16),
            fcnt32=fcnt,
            nwk_skey=key,
            app_skey=key,
            payload=rng.randbytes(rng.randrange(4, 40)),
            fport=rng.randrange(1, 224),
        )
        boards = [0, 1] if rng.random() < 1 / 3 else [rng.randrange(2)]
        freq = rng.choice(FREQS)
        for board in boards:
            count_us[board] = (count_us[board] + 1000) & 0xFFFFFFFF
            up = gw.UplinkFrame(phy_payload=frame.to_bytes())
            up.tx_info.frequency = freq
            up.tx_info.modulation.lora.bandwidth = 125_000
            up.tx_info.modulation.lora.spreading_factor = sf
            up.tx_info.modulation.lora.code_rate = gw.CR_4_5
            rx = up.rx_info
            rx.board, rx.channel, rx.rssi = board, FREQS.index(freq), rng.randrange(-120, -40)
            rx.snr = rng.uniform(-15, 10)
            rx.context = count_us[board].to_bytes(4, "big")
            rx.crc_status = gw.CRC_OK
            events.append((board, gw.Event(uplink_frame=up).SerializeToString()))
    return events[:count]


def make_gateway(directory: str) -> Gateway:
    """A gateway on two modules; their sockets are never used (events are fed in directly)."""
    links = [
        ModuleLink(
            board,
            ConcentratordBackend(board=board, event_url=f"ipc://{directory}/e{board}", command_url=f"ipc://{directory}/c{board}"),
            JitQueue(board=board, tx_freq_min_hz=863_000_000, tx_freq_max_hz=870_000_000),
        )
        for board in (0, 1)
    ]
    return Gateway("0016c001ff1a7391", links, clock=SimClock())


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    events = make_events(count)
    with tempfile.TemporaryDirectory() as directory:
        gateway = make_gateway(directory)
        latencies = [0] * count
        emitted = 0
        clock = time.perf_counter_ns
        start = clock()
        for i, (board, raw) in enumerate(events):
            t0 = clock()
            now = i * 0.001
            event = gw.Event()
            event.ParseFromString(raw)
            gateway.handle(uplink_from_proto(event.uplink_frame, board), now)
            emitted += len(gateway.emit_due(now))
            latencies[i] = clock() - t0
        emitted += len(gateway.emit_due(float("inf")))
        elapsed = (clock() - start) / 1e9
        for link in gateway.links.values():
            link.backend.close()
    latencies.sort()
    rate = count / elapsed
    p50 = latencies[count // 2] / 1e6
    p99 = latencies[int(count * 0.99)] / 1e6
    worst = latencies[-1] / 1e6
    dedup = gateway.dedup.stats
    print(f"events {count}, uplinks out {emitted}, duplicates merged {dedup.duplicates}")
    # events are receptions; a third of the transmissions come twice, so uplinks out are fewer
    print(f"throughput {rate:,.0f} events/s = {emitted / elapsed:,.0f} uplinks out/s (goal ≥ {GOAL_RATE:,} events/s)")
    print(f"latency p50 {p50:.3f} ms, p99 {p99:.3f} ms (goal ≤ {GOAL_P99_MS} ms), max {worst:.3f} ms")
    ok = rate >= GOAL_RATE and p99 <= GOAL_P99_MS
    print("PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
