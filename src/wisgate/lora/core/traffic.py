"""The gateway's recent traffic as the dashboard draws it: per-minute counts by module and data rate,
airtime, a channel heatmap, RSSI/SNR histograms, downlink outcomes, each module's duty-cycle load per
sub-band (lora/core/dutyload.py), active devices, and the latest packets.

Every merged uplink (all modules, sub-GHz and 2.4 GHz alike) is described once (:func:`describe`),
serialised at most once, and offered to every live listener's bounded queue: fifty dashboards cost one
``json.dumps`` per uplink, and a slow listener loses its oldest packets, never the gateway. With no
listener a record is serialised only if ``/api/lora/packets`` asks for it: most never are.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from wisgate.lora.core.describe import describe, describe_downlink
from wisgate.lora.core.dutyload import DutyLoad
from wisgate.lora.core.types import ReceivedUplink, TxRequest, TxResult, datarate

MINUTE_S = 60
#: the dashboard's LoRa charts cover the last hour
WINDOW_MINUTES = 60
#: a device that sent within this long is active (WisGateOS: "sent in the last hour")
ACTIVE_S = 3600.0
RECENT_PACKETS = 500
#: histogram bins: RSSI in dBm, SNR in dB
RSSI_BINS = (-140.0, -20.0, 5.0)
SNR_BINS = (-25.0, 15.0, 2.5)
LISTENER_QUEUE = 2000


@dataclass
class _Minute:
    t: int
    #: receptions per (board, data rate)
    receptions: Counter[tuple[int, str]] = field(default_factory=Counter)
    #: receptions per (board, frequency)
    channels: Counter[tuple[int, int]] = field(default_factory=Counter)
    airtime_s: dict[int, float] = field(default_factory=dict)
    rssi: Counter[int] = field(default_factory=Counter)
    snr: Counter[int] = field(default_factory=Counter)
    uplinks: int = 0
    #: downlink requests per outcome (``OK``, ``TOO_LATE``...)
    downlinks: Counter[str] = field(default_factory=Counter)


def _bin(value: float, bins: tuple[float, float, float]) -> int:
    low, high, width = bins
    count = round((high - low) / width)
    return min(count - 1, max(0, math.floor((value - low) / width)))


def _edges(bins: tuple[float, float, float]) -> list[float]:
    low, high, width = bins
    return [low + i * width for i in range(round((high - low) / width) + 1)]


#: a record's kind (``uplink`` or ``downlink``) and its JSON text
Packet = tuple[str, str]


class _Logged:
    """One packet record, written as JSON when first asked for (then only the text is kept)."""

    __slots__ = ("_record", "_text")

    def __init__(self, record: dict[str, Any]) -> None:
        self._record: dict[str, Any] | None = record
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = json.dumps(self._record, separators=(",", ":"))
            self._record = None
        return self._text


class TrafficListener:
    """One live reader's queue of serialised packet records."""

    def __init__(self, log: TrafficLog, maxsize: int) -> None:
        self._log = log
        self.queue: asyncio.Queue[Packet] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, packet: Packet) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(packet)

    def close(self) -> None:
        self._log._listeners.discard(self)


class TrafficLog:
    def __init__(self, *, recent: int = RECENT_PACKETS) -> None:
        self._minutes: deque[_Minute] = deque(maxlen=WINDOW_MINUTES)
        self._devices: dict[str, tuple[float, int]] = {}
        self._listeners: set[TrafficListener] = set()
        self._recent: deque[_Logged] = deque(maxlen=recent)
        self.uplinks = 0
        #: transmit airtime per module and regulated sub-band (the lora-traffic service sets the region's rules)
        self.duty = DutyLoad()

    def listen(self, maxsize: int = LISTENER_QUEUE) -> TrafficListener:
        listener = TrafficListener(self, maxsize)
        self._listeners.add(listener)
        return listener

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def recent(self, limit: int = RECENT_PACKETS) -> list[str]:
        """The latest ``limit`` packets as JSON texts, oldest first (a new packet log's first screen)."""
        newest = [packet.text for packet in itertools.islice(reversed(self._recent), limit)]
        newest.reverse()
        return newest

    def _minute(self, now: float) -> _Minute:
        t = int(now // MINUTE_S * MINUTE_S)
        if not self._minutes or self._minutes[-1].t != t:
            self._minutes.append(_Minute(t))
        return self._minutes[-1]

    def add(self, received: ReceivedUplink, now: float) -> dict[str, Any]:
        """Count one merged uplink heard at ``now`` (epoch s) and hand it to the listeners."""
        record = {"time": round(now, 3), "direction": "up", **describe(received)}
        minute = self._minute(now)
        minute.uplinks += 1
        self.uplinks += 1
        for reception in received.uplink.receptions:
            board = reception.rx_info.board
            minute.receptions[(board, datarate(reception.modulation))] += 1
            minute.channels[(board, reception.frequency_hz)] += 1
            minute.airtime_s[board] = minute.airtime_s.get(board, 0.0) + reception.airtime()
            minute.rssi[_bin(reception.rx_info.rssi, RSSI_BINS)] += 1
            minute.snr[_bin(reception.rx_info.snr, SNR_BINS)] += 1
        device = record.get("dev_addr") or record.get("dev_eui")
        if isinstance(device, str):
            _, count = self._devices.get(device, (0.0, 0))
            self._devices[device] = (now, count + 1)
        self._share("uplink", record)
        return record

    def add_downlink(self, request: TxRequest, result: TxResult, now: float) -> dict[str, Any]:
        """Count one downlink request and its outcome, and hand it to the listeners."""
        record = {"time": round(now, 3), **describe_downlink(request, result)}
        self._minute(now).downlinks[result.outcome.value] += 1
        board = result.board if result.board is not None else request.board
        if result.ok and board is not None:  # accepted: the module's JIT queue takes it to the air
            self.duty.add(board, request.frequency_hz, request.airtime_us() / 1e6, now)
        self._share("downlink", record)
        return record

    def _share(self, kind: str, record: dict[str, Any]) -> None:
        logged = _Logged(record)
        self._recent.append(logged)
        if self._listeners:
            text = logged.text
            for listener in list(self._listeners):
                listener.offer((kind, text))

    def summary(self, now: float) -> dict[str, Any]:
        """The last hour, minute by minute (oldest first); minutes without traffic are zeros."""
        first = int(now // MINUTE_S * MINUTE_S) - (WINDOW_MINUTES - 1) * MINUTE_S
        index = {m.t: m for m in self._minutes if m.t >= first}
        times = [first + i * MINUTE_S for i in range(WINDOW_MINUTES)]
        minutes = [index.get(t) for t in times]
        boards = sorted({b for m in index.values() for b, _ in m.receptions})
        rates = sorted({r for m in index.values() for _, r in m.receptions})
        outcomes = sorted({o for m in index.values() for o in m.downlinks})
        channels = sorted({c for m in index.values() for c in m.channels})

        def series(count: Any) -> list[float]:
            return [0 if m is None else count(m) for m in minutes]

        rssi: Counter[int] = Counter()
        snr: Counter[int] = Counter()
        for m in index.values():
            rssi.update(m.rssi)
            snr.update(m.snr)
        self._forget_devices(now)
        devices = sorted(self._devices.items(), key=lambda item: -item[1][0])
        return {
            "minute_s": MINUTE_S, "minutes": times,
            "uplinks": series(lambda m: m.uplinks),
            "downlinks": {outcome: series(lambda m, o=outcome: m.downlinks[o]) for outcome in outcomes},
            "modules": {
                str(board): {
                    "datarates": {rate: series(lambda m, b=board, r=rate: m.receptions[(b, r)]) for rate in rates
                                  if any(m.receptions[(board, rate)] for m in index.values())},
                    "airtime_s": series(lambda m, b=board: round(m.airtime_s.get(b, 0.0), 4)),
                }
                for board in boards
            },
            "channels": [
                {"board": board, "frequency_hz": frequency,
                 "counts": series(lambda m, key=(board, frequency): m.channels[key])}
                for board, frequency in channels
            ],
            "rssi": {"edges": _edges(RSSI_BINS), "counts": [rssi[i] for i in range(len(_edges(RSSI_BINS)) - 1)]},
            "snr": {"edges": _edges(SNR_BINS), "counts": [snr[i] for i in range(len(_edges(SNR_BINS)) - 1)]},
            "active_devices": len(devices),
            "devices": [{"id": d, "last_seen": round(t, 3), "uplinks": n} for d, (t, n) in devices[:50]],
            "duty_cycle": self.duty.summary(now),
        }

    def _forget_devices(self, now: float) -> None:
        for device in [d for d, (t, _) in self._devices.items() if now - t > ACTIVE_S]:
            del self._devices[device]
