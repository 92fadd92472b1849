"""ETSI EN 300 220 duty-cycle accounting per EU868 sub-band over a rolling hour (reference §3.1).

The table is ChirpStack Concentratord's ``regulation/standard/etsi_en_300_220.rs``. A channel is
placed by its centre frequency; frequencies outside every listed band are not limited here (the
TX range check of the JIT queue keeps a module inside its allowed spectrum). Emissions that
straddle the window edge count in full, so the tracker errs on the side of staying legal.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

HOUR_US = 3_600_000_000


@dataclass(frozen=True, slots=True)
class SubBand:
    name: str
    min_hz: int
    max_hz: int
    duty_cycle: float

    def contains(self, frequency_hz: int) -> bool:
        return self.min_hz <= frequency_hz <= self.max_hz

    def budget_us(self, window_us: int = HOUR_US) -> int:
        return int(window_us * self.duty_cycle)


ETSI_EN_300_220 = (
    SubBand("K", 863_000_000, 865_000_000, 0.001),
    SubBand("L", 865_000_000, 868_000_000, 0.01),
    SubBand("M", 868_000_000, 868_600_000, 0.01),
    SubBand("N", 868_700_000, 869_200_000, 0.001),
    SubBand("P", 869_400_000, 869_650_000, 0.1),
    SubBand("Q", 869_700_000, 870_000_000, 0.01),
)


@dataclass
class DutyCycleTracker:
    """Airtime used per sub-band; times are µs on any monotonic 64-bit timeline the caller keeps."""

    bands: tuple[SubBand, ...] = ETSI_EN_300_220
    window_us: int = HOUR_US
    _log: dict[str, deque[tuple[int, int]]] = field(default_factory=dict, init=False, repr=False)

    def band_for(self, frequency_hz: int) -> SubBand | None:
        for band in self.bands:
            if band.contains(frequency_hz):
                return band
        return None

    def used_us(self, band: SubBand, end_us: int) -> int:
        """Airtime in the hour before ``end_us`` (emissions overlapping the window count in full)."""
        start = end_us - self.window_us
        return sum(air for t, air in self._log.get(band.name, ()) if t + air > start and t < end_us)

    def try_charge(self, frequency_hz: int, start_us: int, airtime_us: int, *, now_us: int) -> SubBand | None:
        """Charge an emission if the band allows it; returns the band that would overflow, else None.

        The budget is checked for every hour-long window the new emission falls into, so one placed
        before already-queued emissions cannot push a later window over.
        """
        band = self.band_for(frequency_hz)
        if band is None:
            return None
        log = self._log.setdefault(band.name, deque())
        while log and log[0][0] + log[0][1] <= now_us - self.window_us:
            log.popleft()
        budget = band.budget_us(self.window_us)
        ends = [start_us + airtime_us] + [t + air for t, air in log if t + air > start_us + airtime_us]
        for end in ends:
            if end - self.window_us < start_us + airtime_us and self.used_us(band, end) + airtime_us > budget:
                return band
        log.append((start_us, airtime_us))
        if len(log) > 1 and log[-2][0] > start_us:
            ordered = sorted(log)
            log.clear()
            log.extend(ordered)
        return None
