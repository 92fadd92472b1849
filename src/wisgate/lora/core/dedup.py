"""In-gateway deduplication of uplinks heard by several modules or channels (reference §9.3, §7).

One transmission can reach the gateway several times: on two boards whose plans overlap, or on a
neighbouring channel (an image). Copies carry the same PHYPayload and arrive within the packet's
airtime; a device repetition (NbTrans) of the same bytes cannot come sooner than RX2 closes, so
the window is the airtime plus a margin. Copies become one :class:`Uplink`, best reception first
(SNR, then RSSI), all receptions kept. A group is emitted once its window has closed; time is
whatever the caller passes in (host seconds from an injected clock), never the wall clock.

At SF12 the window is over two seconds, longer than RX1 (1 s after the uplink), so a network
server could no longer answer in time. ``hold_s`` emits a group that long after its first copy
instead (copies from several boards arrive within a few poll periods); copies that arrive later
but inside the window are counted as ``late_duplicates`` and dropped rather than becoming a
second uplink. Memory is bounded: past ``max_pending`` open groups the one due first is emitted
early, and at most ``max_pending`` emitted-early payloads are remembered.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from wisgate.lora.core.types import Uplink, UplinkFrame

DEFAULT_MARGIN_S = 0.05
DEFAULT_MAX_PENDING = 4096
MAX_RECEPTIONS = 16


def _quality(frame: UplinkFrame) -> tuple[float, float]:
    return (frame.rx_info.snr, frame.rx_info.rssi)


@dataclass(slots=True)
class _Group:
    first_seen: float
    closes_at: float
    emit_at: float
    frames: list[UplinkFrame]
    open: bool = True


@dataclass
class DedupStats:
    received: int = 0
    duplicates: int = 0
    emitted: int = 0
    forced: int = 0
    dropped_receptions: int = 0
    late_duplicates: int = 0


@dataclass
class Deduplicator:
    margin_s: float = DEFAULT_MARGIN_S
    max_pending: int = DEFAULT_MAX_PENDING
    hold_s: float | None = None
    stats: DedupStats = field(default_factory=DedupStats)
    _open: dict[bytes, _Group] = field(default_factory=dict, init=False, repr=False)
    _heap: list[tuple[float, int, _Group]] = field(default_factory=list, init=False, repr=False)
    _ready: deque[Uplink] = field(default_factory=deque, init=False, repr=False)
    _recent: OrderedDict[bytes, float] = field(default_factory=OrderedDict, init=False, repr=False)
    _seq: int = field(default=0, init=False, repr=False)

    def push(self, frame: UplinkFrame, now: float) -> bool:
        """Add one reception heard at host time ``now``; True when it is a copy of one already held."""
        self.stats.received += 1
        key = frame.phy_payload
        group = self._open.get(key)
        if group is not None:
            if now <= group.closes_at:
                self.stats.duplicates += 1
                if len(group.frames) < MAX_RECEPTIONS:
                    group.frames.append(frame)
                else:
                    self.stats.dropped_receptions += 1
                return True
            self._close(group, key, now)  # the same bytes after the window: a new transmission
        elif self._recent:
            self._forget_recent(now)
            until = self._recent.get(key)
            if until is not None and now <= until:
                self.stats.late_duplicates += 1
                return True
        closes_at = now + frame.airtime() + self.margin_s
        emit_at = closes_at if self.hold_s is None else min(closes_at, now + self.hold_s)
        group = _Group(now, closes_at, emit_at, [frame])
        self._open[key] = group
        self._seq += 1
        heapq.heappush(self._heap, (emit_at, self._seq, group))
        if len(self._open) > self.max_pending:
            self._force_first(now)
        return False

    def pop_due(self, now: float) -> list[Uplink]:
        """Uplinks due at or before ``now``, in emission order."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, group = heapq.heappop(heap)
            if group.open:
                self._close(group, group.frames[0].phy_payload, now)
        out = list(self._ready)
        self._ready.clear()
        return out

    def next_due(self) -> float | None:
        """When the next group is due, so an event loop knows how long it may sleep."""
        while self._heap and not self._heap[0][2].open:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def flush(self) -> list[Uplink]:
        """Emit everything still open (shutdown)."""
        return self.pop_due(float("inf"))

    @property
    def pending(self) -> int:
        return len(self._open)

    def _force_first(self, now: float) -> None:
        while self._heap:
            _, _, group = heapq.heappop(self._heap)
            if group.open:
                self.stats.forced += 1
                self._close(group, group.frames[0].phy_payload, now)
                return

    def _forget_recent(self, now: float) -> None:
        recent = self._recent
        while recent and next(iter(recent.values())) < now:
            recent.popitem(last=False)

    def _close(self, group: _Group, key: bytes, now: float) -> None:
        group.open = False
        if self._open.get(key) is group:
            del self._open[key]
        if now < group.closes_at:  # emitted before its window ended: later copies are late duplicates
            self._recent[key] = group.closes_at
            self._recent.move_to_end(key)
            if len(self._recent) > self.max_pending:
                self._recent.popitem(last=False)
        frames = group.frames
        if len(frames) > 1:
            frames.sort(key=_quality, reverse=True)
        self._ready.append(Uplink(tuple(frames), group.first_seen))
        self.stats.emitted += 1
