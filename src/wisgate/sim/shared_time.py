"""The simulated board's time, shared with a process that simulates what is around the board (the LoRa site).

The board's :class:`~wisgate.clock.RealtimeSimClock` is the machine's CLOCK_MONOTONIC plus an offset: minus the
moment the board started (its time 0), plus the simulated time that bus transfers, conversions and power-up
jumped ahead (about 1 % of wall time on a daemon drawing the OLED). CLOCK_MONOTONIC is the same clock in every
process of the machine, so the offset is all another process needs to read the board's time: the daemon writes it
to a small file in the runtime directory (:class:`TimeShare`, on every tick of the board) and the site reads
``CLOCK_MONOTONIC + offset`` (:class:`SharedClock`). Its concentrators' counters then run on the time base the
gateway's timebase and dedup measure against, as they did when the site ran inside the daemon.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time
from pathlib import Path

#: one signed 64-bit integer: the offset in nanoseconds
LAYOUT = struct.Struct("<q")


class TimeShare:
    """The daemon's end: publishes the board clock's offset from CLOCK_MONOTONIC (seconds) to ``path``."""

    def __init__(self, path: Path, offset_s: float) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, LAYOUT.pack(round(offset_s * 1e9)))
            self._map = mmap.mmap(fd, LAYOUT.size)
        finally:
            os.close(fd)
        self._last = round(offset_s * 1e9)
        #: published on the bus worker's thread, closed on the event loop's when the site ends
        self._lock = threading.Lock()

    def publish(self, offset_s: float) -> None:
        ns = round(offset_s * 1e9)
        with self._lock:
            if ns != self._last and not self._map.closed:
                LAYOUT.pack_into(self._map, 0, ns)
                self._last = ns

    def close(self) -> None:
        with self._lock:
            self._map.close()


class SharedClock:
    """The site's end: the board's time, read from the offset the daemon publishes (a :class:`~wisgate.clock.Clock`).

    It never goes back (a reading between two publications may be a little behind the next one), and it waits
    as the wall clock does: the site lives in real time beside the board.
    """

    def __init__(self, path: Path) -> None:
        with path.open("rb") as file:
            self._map = mmap.mmap(file.fileno(), LAYOUT.size, access=mmap.ACCESS_READ)
        self._last = float("-inf")
        # the concentrators' command threads and the radio loop ask at once
        self._lock = threading.Lock()

    def offset_ns(self) -> int:
        # the daemon writes 8 bytes in place: read until two readings agree, never half of each
        while True:
            first = LAYOUT.unpack_from(self._map, 0)[0]
            second = LAYOUT.unpack_from(self._map, 0)[0]
            if first == second:
                return int(first)

    def monotonic(self) -> float:
        now = (time.monotonic_ns() + self.offset_ns()) / 1e9
        with self._lock:
            if now > self._last:
                self._last = now
            return self._last

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def sleep_until(self, deadline: float) -> None:
        self.sleep(deadline - self.monotonic())

    def close(self) -> None:
        self._map.close()
