"""Injected time: one clock drives the simulator, drivers' waits, retries and services.

Drivers never call :func:`time.sleep` directly; they ask their clock, so that on the simulated
board a 12 ms conversion wait advances simulated time instantly and deterministically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

#: how long before a precise deadline :meth:`WallClock.sleep_until` stops sleeping and spins
SPIN_S = 0.0003


@runtime_checkable
class Clock(Protocol):
    """What a driver or service may ask of time."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; a simulated clock advances instead of waiting."""
        ...

    def sleep_until(self, deadline: float) -> None:
        """Wait until :meth:`monotonic` reaches ``deadline``, as precisely as the clock can (a tone's
        half periods); a simulated clock advances exactly to it."""
        ...


class WallClock:
    """The machine's own monotonic clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def sleep_until(self, deadline: float) -> None:
        # time.sleep overshoots by tens of microseconds on Linux: sleep most of the way, spin the rest
        remaining = deadline - time.monotonic()
        if remaining > SPIN_S:
            time.sleep(remaining - SPIN_S)
        while time.monotonic() < deadline:
            pass


class SimClock:
    """A clock that moves only when told to.

    ``sleep`` advances it, so code written against :class:`Clock` runs unchanged and instantly.
    Observers (the simulated board's physics) are told every time it moves.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._observers: list[Callable[[float], None]] = []
        self._notifying = False

    def monotonic(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def sleep_until(self, deadline: float) -> None:
        self.advance(max(0.0, deadline - self._now))

    def sync(self) -> None:
        """Catch up with the outside world: nothing to do for a clock that only moves when told."""

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds} s)")
        if seconds == 0:
            return
        self._now += seconds
        self._notifying = True
        try:
            for observer in list(self._observers):
                observer(self._now)
        finally:
            self._notifying = False

    def observe(self, callback: Callable[[float], None]) -> None:
        """Call ``callback(now)`` after every advance."""
        self._observers.append(callback)


class RealtimeSimClock(SimClock):
    """A simulated clock that also follows wall time, for a running daemon on the sim board.

    Reading it has no side effects: :meth:`monotonic` is the simulation's time, which :meth:`sync` moves
    up to the wall clock (running the models' observers). ``sync`` is called from one thread only, the
    one the simulation runs on (the bus worker: before every bus transfer and on the simulated board's
    tick), so the models never run on two threads at once. ``sleep`` really waits; ``advance`` still
    jumps ahead (fast-forwarding a scenario).
    """

    def __init__(self) -> None:
        super().__init__(0.0)
        self._wall0 = time.monotonic()
        self._skew = 0.0

    def wall_offset(self) -> float:
        """What to add to :func:`time.monotonic` for this clock's time (as of its next :meth:`sync`): its start
        and everything :meth:`advance` added. CLOCK_MONOTONIC is the machine's, so another process given this
        offset has the board's time base (:mod:`wisgate.sim.shared_time`)."""
        return self._skew - self._wall0

    def sync(self) -> None:
        if self._notifying:
            # an observer asking the time while being told about a step sees that step, not a newer one
            return
        target = time.monotonic() + self.wall_offset()
        if target > self._now:
            super().advance(target - self._now)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
        self.sync()

    def sleep_until(self, deadline: float) -> None:
        self.sleep(deadline - self.monotonic())

    def advance(self, seconds: float) -> None:
        self._skew += seconds
        self.sync()
