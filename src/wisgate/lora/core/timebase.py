"""Per-board time: each concentrator's 32-bit µs counter extended to 64 bits (reference §1.2, §2.1, §9.2).

SX130x/SX1280 boards timestamp in a free-running 32-bit µs counter (``count_us``, GWMP ``tmst``)
that wraps every 71.6 minutes, one counter per board. Extending it needs no clock: a new sample is
placed at the signed 32-bit distance from the latest one, so wraps and samples that arrive a little
late or out of order (several threads, several boards) land on the right side. This holds while
samples are within ±35.8 minutes (2^31 µs) of the newest, which any live board easily satisfies.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

COUNTER_BITS = 32
COUNTER_MASK = (1 << COUNTER_BITS) - 1
HALF_RANGE = 1 << (COUNTER_BITS - 1)


def counter_diff(a: int, b: int) -> int:
    """Signed distance a - b between two 32-bit counter values, in [-2^31, 2^31)."""
    return ((a - b + HALF_RANGE) & COUNTER_MASK) - HALF_RANGE


class BoardTime(NamedTuple):
    """A point in time on one board's extended (64-bit) µs timeline."""

    board: int
    us: int

    @property
    def count_us(self) -> int:
        """The raw 32-bit counter value the board itself uses (tmst, Concentratord context)."""
        return self.us & COUNTER_MASK


#: Sync samples kept for the drift estimate: at most one per this many host µs...
RATE_SPACING_US = 1_000_000
#: ...over this long (host µs); older ones are dropped.
RATE_WINDOW_US = 900_000_000
#: No estimate until the kept samples span this long: a sample's host time carries the module's polling
#: jitter (a few ms), which over a short span would look like hundreds of ppm.
RATE_MIN_SPAN_US = 60_000_000
#: A crystal is within tens of ppm; an estimate beyond this is bad data (a module restart), not drift.
RATE_MAX_PPM = 200.0


class BoardTimebase:
    """Extends one board's 32-bit counter; optionally maps it to gateway time (host µs).

    The first sample defines the epoch: its extended value equals the raw counter.

    Mapping to gateway time: each uplink is a sync sample (the counter it carries, the host time it was
    handled). The latest one anchors the mapping; the counter's rate against host time (its crystal's
    drift, a few ppm) is the least-squares slope over the samples of the last ``RATE_WINDOW_US``, so a time
    long after the last uplink (a downlink moved to this board, a minute after it last heard anything) is
    placed at the rate the board really runs: 10 ppm over 60 s is 0.6 ms otherwise.
    """

    __slots__ = ("_anchor", "_latest", "_rate", "_samples", "board")

    def __init__(self, board: int) -> None:
        self.board = board
        self._latest: int | None = None
        self._anchor: tuple[int, int] | None = None  # the latest sync: (host µs, extended counter)
        self._samples: deque[tuple[int, int]] = deque()  # (host µs, extended counter)
        self._rate = 1.0  # board µs per host µs

    @property
    def latest(self) -> int | None:
        return self._latest

    def extend(self, count_us: int) -> int:
        """64-bit µs for a 32-bit sample; advances the timeline only if the sample is newer."""
        if not 0 <= count_us <= COUNTER_MASK:
            raise ValueError(f"board {self.board}: counter value {count_us} is not 32-bit")
        latest = self._latest
        if latest is None:
            self._latest = count_us
            return count_us
        extended = latest + counter_diff(count_us, latest & COUNTER_MASK)
        if extended > latest:
            self._latest = extended
        return extended

    def stamp(self, count_us: int) -> BoardTime:
        return BoardTime(self.board, self.extend(count_us))

    def to_counter(self, us: int) -> int:
        """The 32-bit counter value a downlink must carry to leave at extended time ``us``."""
        return us & COUNTER_MASK

    def reset(self) -> None:
        """Forget the timeline (the board restarted and its counter began again from 0)."""
        self._latest = None
        self._anchor = None
        self._samples.clear()
        self._rate = 1.0

    # gateway time: host µs, the common scale that lets one board's time be expressed on another

    def sync(self, count_us: int, host_us: int) -> None:
        """Record that the board counter read ``count_us`` at host time ``host_us``."""
        extended = self.extend(count_us)
        self._anchor = (host_us, extended)
        samples = self._samples
        if not samples or host_us - samples[-1][0] >= RATE_SPACING_US:
            samples.append((host_us, extended))
            while host_us - samples[0][0] > RATE_WINDOW_US:
                samples.popleft()
            self._estimate_rate()
        elif host_us < samples[-1][0]:  # host time went back (a new clock): start the estimate again
            samples.clear()
            self._rate = 1.0

    @property
    def synced(self) -> bool:
        return self._anchor is not None

    @property
    def drift_ppm(self) -> float | None:
        """How much faster the board's counter runs than host time (ppm); None until estimated."""
        return None if self._rate == 1.0 else (self._rate - 1.0) * 1e6

    def to_gateway(self, count_us: int) -> int:
        host, extended = self._sync_anchor("to")
        return host + round((self.extend(count_us) - extended) / self._rate)

    def extended_at(self, host_us: int) -> int:
        """The board's extended (64-bit) counter at gateway time ``host_us`` (the timeline is not moved)."""
        host, extended = self._sync_anchor("from")
        return extended + round((host_us - host) * self._rate)

    def from_gateway(self, host_us: int) -> int:
        """The board's 32-bit counter value at gateway time ``host_us``."""
        return self.extended_at(host_us) & COUNTER_MASK

    def _sync_anchor(self, direction: str) -> tuple[int, int]:
        if self._anchor is None:
            raise LookupError(f"board {self.board}: no sync sample yet, cannot map {direction} gateway time")
        return self._anchor

    def _estimate_rate(self) -> None:
        samples = self._samples
        first_host, first_count = samples[0]
        span = samples[-1][0] - first_host
        if span < RATE_MIN_SPAN_US:
            return
        n = len(samples)
        mean_x = sum(h - first_host for h, _ in samples) / n
        mean_y = sum(c - first_count for _, c in samples) / n
        sxx = sxy = 0.0
        for h, c in samples:
            dx = h - first_host - mean_x
            sxx += dx * dx
            sxy += dx * (c - first_count - mean_y)
        rate = sxy / sxx
        self._rate = rate if abs(rate - 1.0) * 1e6 <= RATE_MAX_PPM else 1.0


def convert_counter(count_us: int, source: BoardTimebase, target: BoardTimebase) -> int:
    """Express one board's counter value on another board's counter (TX on a board that did not hear)."""
    if source is target:
        return count_us
    return target.from_gateway(source.to_gateway(count_us))
