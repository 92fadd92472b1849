"""The uplink path of the gateway core: parse → per-board timebase → dedup → output (reference §9.2-9.3).

Backends push :class:`~wisgate.lora.uplink.UplinkFrame` objects as modules report them, with the
host time from an injected clock; the forwarder side pops merged uplinks once their dedup window
has closed. Frames that are not LoRaWAN (parse errors) are forwarded with ``frame=None`` unless
``lorawan_only`` is set, as ChirpStack's filter of that name does; CRC-failed receptions are
dropped unless ``forward_crc_bad`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wisgate.lora.dedup import Deduplicator, Uplink
from wisgate.lora.errors import ParseError
from wisgate.lora.phy import Frame, parse
from wisgate.lora.timebase import BoardTimebase
from wisgate.lora.uplink import CrcStatus, UplinkFrame


@dataclass(frozen=True, slots=True)
class ReceivedUplink:
    uplink: Uplink
    frame: Frame | None
    parse_error: str = ""


@dataclass
class PipelineStats:
    pushed: int = 0
    not_lorawan: int = 0
    crc_dropped: int = 0


@dataclass
class UplinkPipeline:
    dedup: Deduplicator = field(default_factory=Deduplicator)
    lorawan_only: bool = False
    forward_crc_bad: bool = False
    timebases: dict[int, BoardTimebase] = field(default_factory=dict)
    stats: PipelineStats = field(default_factory=PipelineStats)
    _parsed: dict[bytes, tuple[Frame | None, str]] = field(default_factory=dict, init=False, repr=False)

    def push(self, frame: UplinkFrame, now: float) -> None:
        self.stats.pushed += 1
        rx = frame.rx_info
        if rx.crc_status is CrcStatus.BAD and not self.forward_crc_bad:
            self.stats.crc_dropped += 1
            return
        payload = frame.phy_payload
        if payload not in self._parsed:
            try:
                self._parsed[payload] = (parse(payload), "")
            except ParseError as exc:
                if self.lorawan_only:
                    self.stats.not_lorawan += 1
                    return
                self._parsed[payload] = (None, str(exc))
        timebase = self.timebases.get(rx.board)
        if timebase is None:
            timebase = self.timebases[rx.board] = BoardTimebase(rx.board)
        self.dedup.push(frame.with_time(timebase.extend(rx.count_us)), now)

    def pop_due(self, now: float) -> list[ReceivedUplink]:
        out = []
        for uplink in self.dedup.pop_due(now):
            frame, error = self._parsed.pop(uplink.phy_payload, (None, ""))
            out.append(ReceivedUplink(uplink, frame, error))
        return out

    def next_due(self) -> float | None:
        return self.dedup.next_due()
