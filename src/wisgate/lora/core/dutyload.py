"""Each module's transmit airtime per regulated sub-band over the last hour, against the band's duty-cycle
limit: the dashboard's duty-cycle load (ChirpStack's gateway page shows the same "duty-cycle window").

Counted per minute from the downlinks a module accepted (outcome OK: its JIT queue takes them to the air),
so "the last hour" is the current minute and the 59 before it; the JIT queue's own tracker
(lora/core/dutycycle.py) is exact to the microsecond where it enforces a limit. The limits are the
region's: ETSI EN 300 220's sub-bands on EU868; other regions have none (dwell time or LBT instead), so
nothing is counted there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wisgate.lora.core.dutycycle import ETSI_EN_300_220, SubBand

MINUTE_S = 60
WINDOW_MINUTES = 60
WINDOW_S = MINUTE_S * WINDOW_MINUTES


@dataclass(frozen=True)
class Regulation:
    name: str
    bands: tuple[SubBand, ...]

    def band_for(self, frequency_hz: int) -> SubBand | None:
        return next((band for band in self.bands if band.contains(frequency_hz)), None)


ETSI = Regulation("ETSI EN 300 220", ETSI_EN_300_220)


def regulation_for(region: str) -> Regulation | None:
    """The duty-cycle rules of a ``[lora] region`` (``EU868``, ``EU868-16``...), None where there are none."""
    return ETSI if region.upper().startswith("EU868") else None


class DutyLoad:
    def __init__(self, regulation: Regulation | None = ETSI) -> None:
        self.regulation = regulation
        #: (board, band name) -> minute start (epoch s) -> airtime transmitted in it (s)
        self._minutes: dict[tuple[int, str], dict[int, float]] = {}

    def add(self, board: int, frequency_hz: int, airtime_s: float, now: float) -> None:
        """Count one emission a module accepted at ``now`` (epoch s)."""
        band = self.regulation.band_for(frequency_hz) if self.regulation is not None else None
        if band is None:
            return
        minute = int(now // MINUTE_S * MINUTE_S)
        minutes = self._minutes.setdefault((board, band.name), {})
        minutes[minute] = minutes.get(minute, 0.0) + airtime_s
        if len(minutes) > 2 * WINDOW_MINUTES:  # only the last two hours are ever drawn
            for old in sorted(minutes)[: len(minutes) - 2 * WINDOW_MINUTES]:
                del minutes[old]

    def summary(self, now: float) -> dict[str, Any]:
        """Per module and sub-band: airtime used in the last hour, the budget, the load (1 is the limit), and
        the load at the end of each minute of the last hour (oldest first)."""
        last = int(now // MINUTE_S * MINUTE_S)
        first = last - (WINDOW_MINUTES - 1) * MINUTE_S
        bands: list[dict[str, Any]] = []
        regulation = self.regulation
        for (board, name), minutes in sorted(self._minutes.items()):
            band = next(b for b in regulation.bands if b.name == name) if regulation is not None else None
            if band is None:
                continue
            budget_s = WINDOW_S * band.duty_cycle

            def used(end: int, minutes: dict[int, float] = minutes) -> float:
                return sum(air for t, air in minutes.items() if end - WINDOW_S < t <= end)

            series = [round(used(t) / budget_s, 6) for t in range(first, last + 1, MINUTE_S)]
            used_s = used(last)
            if used_s == 0 and not any(series):
                continue
            bands.append({
                "board": board, "band": band.name, "min_hz": band.min_hz, "max_hz": band.max_hz,
                "limit": band.duty_cycle, "used_s": round(used_s, 6), "budget_s": round(budget_s, 3),
                "load": round(used_s / budget_s, 6), "series": series,
            })
        return {"regulation": regulation.name if regulation is not None else None, "window_s": WINDOW_S,
                "bands": bands}
