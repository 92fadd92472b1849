"""Gateway statistics per module and channel: receptions, CRC, filters, duplicates, airtime, TX outcomes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ChannelStats:
    received: int = 0
    crc_ok: int = 0
    crc_bad: int = 0
    forwarded: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    airtime_s: float = 0.0
    #: receptions per data rate (``SF7BW125``; FSK as its bit rate, ``50000``), as GWMP writes them
    datarates: Counter[str] = field(default_factory=Counter)


@dataclass
class ModuleStats:
    channels: dict[int, ChannelStats] = field(default_factory=dict)
    tx_outcomes: Counter[str] = field(default_factory=Counter)
    malformed: int = 0

    def channel(self, frequency_hz: int) -> ChannelStats:
        stats = self.channels.get(frequency_hz)
        if stats is None:
            stats = self.channels[frequency_hz] = ChannelStats()
        return stats

    def total(self) -> ChannelStats:
        total = ChannelStats()
        for c in self.channels.values():
            total.received += c.received
            total.crc_ok += c.crc_ok
            total.crc_bad += c.crc_bad
            total.forwarded += c.forwarded
            total.dropped.update(c.dropped)
            total.duplicates += c.duplicates
            total.airtime_s += c.airtime_s
            total.datarates.update(c.datarates)
        return total


@dataclass
class GatewayStats:
    modules: dict[int, ModuleStats] = field(default_factory=dict)
    uplinks: int = 0

    def module(self, board: int) -> ModuleStats:
        stats = self.modules.get(board)
        if stats is None:
            stats = self.modules[board] = ModuleStats()
        return stats

    def airtime_load(self, board: int, frequency_hz: int, window_s: float) -> float:
        """Fraction of ``window_s`` the channel was busy with receptions."""
        return self.module(board).channel(frequency_hz).airtime_s / window_s if window_s > 0 else 0.0
