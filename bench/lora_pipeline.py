"""Uplink pipeline throughput and added latency on one core (goals ≥ 20,000 uplinks/s, p99 ≤ 1 ms).

Each event looks like a decoded Concentratord ``gw.UplinkFrame`` (nested dicts, context = 4-byte
big-endian count_us). Per event: map to :class:`UplinkFrame`, parse, extend the board counter,
deduplicate, and pop whatever the dedup window released. A third of the transmissions are heard
by a second board; board counters start just below the 32-bit wrap. Simulated host time moves
1 ms per event, so the dedup holds a realistic number of open groups. Latency is the wall time
spent in the pipeline for one event (including the emissions it triggers).

Run: .venv/bin/python bench/lora_pipeline.py [events]
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from wisgate.lora import crypto
from wisgate.lora.phy import MType
from wisgate.lora.pipeline import UplinkPipeline
from wisgate.lora.uplink import CrcStatus, LoraModulation, RxInfo, UplinkFrame

GOAL_RATE = 20_000
GOAL_P99_MS = 1.0
FREQS = [868_100_000, 868_300_000, 868_500_000, 867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000]


def make_events(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    key = bytes(range(16))
    events: list[dict[str, Any]] = []
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
            events.append(
                {
                    "phy_payload": frame.to_bytes(),
                    "tx_info": {
                        "frequency": freq,
                        "modulation": {"lora": {"bandwidth": 125_000, "spreading_factor": sf, "code_rate": "CR_4_5"}},
                    },
                    "rx_info": {
                        "board": board,
                        "antenna": 0,
                        "channel": FREQS.index(freq),
                        "rf_chain": 0,
                        "rssi": rng.randrange(-120, -40),
                        "snr": rng.uniform(-15, 10),
                        "context": count_us[board].to_bytes(4, "big"),
                        "crc_status": "CRC_OK",
                    },
                }
            )
    return events[:count]


CODE_RATES = {"CR_4_5": "4/5", "CR_4_6": "4/6", "CR_4_7": "4/7", "CR_4_8": "4/8"}


def to_frame(event: dict[str, Any]) -> UplinkFrame:
    tx, rx = event["tx_info"], event["rx_info"]
    lora = tx["modulation"]["lora"]
    return UplinkFrame(
        event["phy_payload"],
        tx["frequency"],
        LoraModulation(lora["spreading_factor"], lora["bandwidth"], CODE_RATES[lora["code_rate"]]),
        RxInfo(
            board=rx["board"],
            count_us=int.from_bytes(rx["context"], "big"),
            rssi=rx["rssi"],
            snr=rx["snr"],
            channel=rx["channel"],
            rf_chain=rx["rf_chain"],
            antenna=rx["antenna"],
            crc_status=CrcStatus.OK if rx["crc_status"] == "CRC_OK" else CrcStatus.BAD,
        ),
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    events = make_events(count)
    pipeline = UplinkPipeline()
    latencies = [0] * count
    emitted = 0
    clock = time.perf_counter_ns
    start = clock()
    for i, event in enumerate(events):
        t0 = clock()
        now = i * 0.001
        pipeline.push(to_frame(event), now)
        emitted += len(pipeline.pop_due(now))
        latencies[i] = clock() - t0
    emitted += len(pipeline.pop_due(float("inf")))
    elapsed = (clock() - start) / 1e9
    latencies.sort()
    rate = count / elapsed
    p50 = latencies[count // 2] / 1e6
    p99 = latencies[int(count * 0.99)] / 1e6
    worst = latencies[-1] / 1e6
    dedup = pipeline.dedup.stats
    print(f"events {count}, uplinks out {emitted}, duplicates merged {dedup.duplicates}")
    print(f"throughput {rate:,.0f} uplinks/s (goal ≥ {GOAL_RATE:,})")
    print(f"latency p50 {p50:.3f} ms, p99 {p99:.3f} ms (goal ≤ {GOAL_P99_MS} ms), max {worst:.3f} ms")
    ok = rate >= GOAL_RATE and p99 <= GOAL_P99_MS
    print("PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
