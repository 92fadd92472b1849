"""Per-board time: each concentrator's 32-bit µs counter extended to 64 bits (reference §1.2, §2.1, §9.2).

SX130x/SX1280 boards timestamp in a free-running 32-bit µs counter (``count_us``, GWMP ``tmst``)
that wraps every 71.6 minutes, one counter per board. Extending it needs no clock: a new sample is
placed at the signed 32-bit distance from the latest one, so wraps and samples that arrive a little
late or out of order (several threads, several boards) land on the right side. This holds while
samples are within ±35.8 minutes (2^31 µs) of the newest, which any live board easily satisfies.
"""

from __future__ import annotations

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


class BoardTimebase:
    """Extends one board's 32-bit counter; optionally maps it to gateway time (host µs).

    The first sample defines the epoch: its extended value equals the raw counter.
    """

    __slots__ = ("_latest", "_offset_us", "board")

    def __init__(self, board: int) -> None:
        self.board = board
        self._latest: int | None = None
        self._offset_us: int | None = None

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
        self._offset_us = None

    # gateway time: host µs, the common scale that lets one board's time be expressed on another

    def sync(self, count_us: int, host_us: int) -> None:
        """Record that the board counter read ``count_us`` at host time ``host_us``."""
        self._offset_us = host_us - self.extend(count_us)

    @property
    def synced(self) -> bool:
        return self._offset_us is not None

    def to_gateway(self, count_us: int) -> int:
        if self._offset_us is None:
            raise LookupError(f"board {self.board}: no sync sample yet, cannot map to gateway time")
        return self.extend(count_us) + self._offset_us

    def from_gateway(self, host_us: int) -> int:
        """The board's 32-bit counter value at gateway time ``host_us``."""
        if self._offset_us is None:
            raise LookupError(f"board {self.board}: no sync sample yet, cannot map from gateway time")
        return (host_us - self._offset_us) & COUNTER_MASK


def convert_counter(count_us: int, source: BoardTimebase, target: BoardTimebase) -> int:
    """Express one board's counter value on another board's counter (TX on a board that did not hear)."""
    if source is target:
        return count_us
    return target.from_gateway(source.to_gateway(count_us))
