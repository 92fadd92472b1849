"""The uplink path of the gateway core: filter → parse → per-board timebase → dedup (reference §9.2-9.3).

Backends push :class:`~wisgate.lora.core.types.UplinkFrame` objects as modules report them, with the
host time from an injected clock; the forwarder side pops merged uplinks once their dedup window
has closed. The filter decides what is dropped (CRC status, LoRaWAN-only, DevAddr / JoinEUI);
copies of one transmission are parsed once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from wisgate.lora.core.dedup import Deduplicator
from wisgate.lora.core.filters import UplinkFilter
from wisgate.lora.core.timebase import BoardTimebase
from wisgate.lora.core.types import ReceivedUplink, UplinkFrame
from wisgate.lora.errors import ParseError
from wisgate.lora.frames.phy import Frame, parse

#: What :meth:`UplinkPipeline.push` answers for a copy of a transmission it already holds.
DUPLICATE = "duplicate"


@dataclass
class PipelineStats:
    pushed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


@dataclass
class UplinkPipeline:
    filter: UplinkFilter = field(default_factory=lambda: UplinkFilter(lorawan_only=False))
    dedup: Deduplicator = field(default_factory=Deduplicator)
    timebases: dict[int, BoardTimebase] = field(default_factory=dict)
    stats: PipelineStats = field(default_factory=PipelineStats)
    _parsed: dict[bytes, tuple[Frame | None, str]] = field(default_factory=dict, init=False, repr=False)

    def timebase(self, board: int) -> BoardTimebase:
        timebase = self.timebases.get(board)
        if timebase is None:
            timebase = self.timebases[board] = BoardTimebase(board)
        return timebase

    def push(self, frame: UplinkFrame, now: float) -> str:
        """Take one reception at host time ``now``.

        Returns "" for a new transmission, :data:`DUPLICATE` (the same object) for a copy of one already
        held, or why it was dropped (a filter reason, counted in ``stats.dropped``).
        """
        self.stats.pushed += 1
        rx = frame.rx_info
        reason = self.filter.check_crc(rx.crc_status)
        if not reason:
            payload = frame.phy_payload
            parsed = self._parsed.get(payload)
            if parsed is None:
                try:
                    parsed = (parse(payload), "")
                except ParseError as exc:
                    parsed = (None, str(exc))
            reason = self.filter.check_frame(parsed[0])
            if not reason:
                if self.dedup.push(frame.with_time(self.timebase(rx.board).extend(rx.count_us)), now):
                    return DUPLICATE  # its group holds the parse already, or (late) it is dropped
                self._parsed[payload] = parsed
                return ""
        self.stats.dropped[reason] += 1
        return reason

    def pop_due(self, now: float) -> list[ReceivedUplink]:
        out = []
        for uplink in self.dedup.pop_due(now):
            frame, error = self._parsed.pop(uplink.phy_payload, (None, ""))
            out.append(ReceivedUplink(uplink, frame, error))
        return out

    def next_due(self) -> float | None:
        return self.dedup.next_due()
