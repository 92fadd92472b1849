"""Fuzz the GWMP decoder: every input either decodes (and re-encodes) or raises GwmpError, nothing else.

Cases (default 120,000, seeded): random bytes behind a plausible header; valid datagrams of every type
with random byte flips, truncations and insertions; and JSON-level mutations of rxpk / stat / txpk /
txpk_ack objects (a field deleted, or replaced by a random JSON value: wrong types, huge numbers, NaN,
deep nesting, non-ASCII strings). Prints the count, the reasons seen, and any failure with its input.

Run: .venv/bin/python bench/gwmp_fuzz.py [cases] [seed]
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from collections import Counter
from typing import Any

from wisgate.lora.backhaul import gwmp

EUI = bytes.fromhex("0016c001ff1a7391")
RXPK: dict[str, Any] = {"time": "2013-03-31T16:21:17.528002Z", "tmst": 3512348611, "chan": 2, "rfch": 0,
                        "freq": 866.349812, "stat": 1, "modu": "LORA", "datr": "SF7BW125", "codr": "4/6",
                        "rssi": -35, "lsnr": 5.1, "size": 4, "data": "AQIDBA==", "brd": 1, "ant": 0,
                        "rsig": [{"ant": 0, "chan": 2, "rssic": -35, "lsnr": 5.1}]}
FSK_RXPK: dict[str, Any] = {"tmst": 1, "chan": 9, "rfch": 1, "freq": 869.1, "stat": 1, "modu": "FSK", "datr": 50000,
                            "rssi": -75, "size": 2, "data": "AQI="}
STAT: dict[str, Any] = {"time": "2014-01-12 08:59:28 GMT", "lati": 46.24, "long": 3.2523, "alti": 145, "rxnb": 2,
                        "rxok": 2, "rxfw": 2, "ackr": 100.0, "dwnb": 2, "txnb": 2, "temp": 23.2}
TXPK: dict[str, Any] = {"imme": False, "tmst": 1_000_000, "freq": 869.525, "rfch": 0, "powe": 14, "modu": "LORA",
                        "datr": "SF9BW125", "codr": "4/5", "ipol": True, "prea": 8, "size": 2, "data": "AQI",
                        "ncrc": True, "brd": 0}
FSK_TXPK: dict[str, Any] = {"imme": True, "freq": 868.8, "powe": 27, "modu": "FSK", "datr": 50000, "fdev": 25000,
                            "size": 2, "data": "AQI="}
TXPK_ACK: dict[str, Any] = {"warn": "TX_POWER", "value": 20}


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(12 if depth < 3 else 9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randrange(-(2**40), 2**40)
    if kind == 3:
        return rng.choice([0, -1, 255, 256, 2**32 - 1, 2**32, 2**64, -(2**63), 10**30])
    if kind == 4:
        return rng.uniform(-1e6, 1e6)
    if kind == 5:
        return rng.choice([0.5, 1e308, -0.0, 868.1, 2500.0, 1e-9, 14.7])
    if kind == 6:
        return "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(8)))
    if kind == 7:
        return rng.choice(["SF7BW125", "SF5BW1625", "SF13BW125", "SF7BW", "4/5", "4/8LI", "LORA", "FSK", "AQI=", "A",
                           "=", "2014-01-12 08:59:28 GMT", "", "NONE"])
    if kind == 8:
        return "x" * rng.randrange(1000)
    if kind == 9:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 10:
        return {str(random_value(rng, 3)): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return json.loads("[" * 50 + "]" * 50)


def mutate_object(rng: random.Random, obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    for _ in range(rng.randrange(1, 4)):
        key = rng.choice([*sorted(out), "extra"])
        if rng.random() < 0.3:
            out.pop(key, None)
        else:
            out[key] = random_value(rng)
    return out


def dumps(value: Any, rng: random.Random) -> bytes:
    text = json.dumps(value)  # allow_nan: NaN/Infinity must be refused by the decoder
    if rng.random() < 0.05:
        text = text.replace("1", "NaN", 1)
    return text.encode()


def json_case(rng: random.Random) -> bytes:
    version = rng.choice([2, 2, 2, 1])
    token = bytes((rng.randrange(256), rng.randrange(256)))
    pick = rng.randrange(4)
    if pick == 0:
        items = [mutate_object(rng, rng.choice([RXPK, FSK_RXPK])) for _ in range(rng.randrange(1, 4))]
        body: dict[str, Any] = {"rxpk": items}
        if rng.random() < 0.3:
            body["stat"] = STAT
        return bytes((version,)) + token + b"\x00" + EUI + dumps(body, rng)
    if pick == 1:
        return bytes((version,)) + token + b"\x00" + EUI + dumps({"stat": mutate_object(rng, STAT)}, rng)
    if pick == 2:
        txpk = mutate_object(rng, rng.choice([TXPK, FSK_TXPK]))
        return bytes((version,)) + token + b"\x03" + dumps({"txpk": txpk}, rng)
    return b"\x02" + token + b"\x05" + EUI + dumps({"txpk_ack": mutate_object(rng, TXPK_ACK)}, rng)


def valid_datagrams() -> list[bytes]:
    rx = gwmp.decode_rxpk(RXPK)
    stat = gwmp.decode_stat(STAT)
    tx = gwmp.decode_txpk(TXPK)
    packets: list[gwmp.Packet] = [
        gwmp.PushData(1, EUI.hex(), (rx, rx), stat), gwmp.PushData(2, EUI.hex(), (), stat, version=1),
        gwmp.PushAck(3), gwmp.PullData(4, EUI.hex()), gwmp.PullAck(5, version=1), gwmp.PullResp(6, tx),
        gwmp.PullResp(7, gwmp.decode_txpk(FSK_TXPK)), gwmp.TxAck(8, EUI.hex()),
        gwmp.TxAck(9, EUI.hex(), gwmp.TxpkAck(error="TOO_LATE")),
    ]
    return [gwmp.encode(p) for p in packets]


def byte_case(rng: random.Random, valid: list[bytes]) -> bytes:
    if rng.random() < 0.3:
        head = bytes((rng.choice([1, 2, 0, 3, 255]), rng.randrange(256), rng.randrange(256), rng.randrange(8)))
        return head + rng.randbytes(rng.randrange(0, 300))
    data = bytearray(rng.choice(valid))
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(4)
        where = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(where, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            del data[where:]
        elif op == 2:
            data[where:where] = rng.randbytes(rng.randrange(1, 8))
        else:
            data[where:where] = rng.choice([b"{", b"}", b"[", b'"', b"\\", b",", b":", b"\x00", b"NaN", b"1e999"])
    return bytes(data)


def check(datagram: bytes, reasons: Counter[str]) -> None:
    try:
        packet = gwmp.decode(datagram)
    except gwmp.GwmpError as exc:
        reasons[exc.reason] += 1
        return
    reasons["decoded"] += 1
    gwmp.decode(gwmp.encode(packet))  # what is accepted can be written and read again


def main() -> None:
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 120_000
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 6)
    valid = valid_datagrams()
    reasons: Counter[str] = Counter()
    failures: list[tuple[bytes, str]] = []
    start = time.perf_counter()
    for n in range(cases):
        datagram = json_case(rng) if n % 2 else byte_case(rng, valid)
        try:
            check(datagram, reasons)
        except Exception:  # the point of the fuzz: anything but GwmpError is a failure
            failures.append((datagram, traceback.format_exc(limit=3)))
    elapsed = time.perf_counter() - start
    print(f"{cases:,} fuzz cases in {elapsed:.1f} s; outcomes: {dict(sorted(reasons.items()))}")
    print(f"failures: {len(failures)}")
    for datagram, trace in failures[:10]:
        print(repr(datagram[:200]))
        print(trace)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
