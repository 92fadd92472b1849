"""Injected time: one clock drives the simulator, drivers' waits, retries and services.

Drivers never call :func:`time.sleep` directly; they ask their clock, so that on the simulated
board a 12 ms conversion wait advances simulated time instantly and deterministically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What a driver or service may ask of time."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; a simulated clock advances instead of waiting."""
        ...


class WallClock:
    """The machine's own monotonic clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


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

    ``monotonic`` never lags the wall clock; ``sleep`` really waits, and advance still works
    for jumps ahead (fast-forwarding a scenario).
    """

    def __init__(self) -> None:
        super().__init__(0.0)
        self._wall0 = time.monotonic()
        self._skew = 0.0

    def monotonic(self) -> float:
        if self._notifying:
            # an observer asking the time while being told about a step sees that step, not a newer one
            return self._now
        target = time.monotonic() - self._wall0 + self._skew
        if target > self._now:
            super().advance(target - self._now)
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
        self.monotonic()

    def advance(self, seconds: float) -> None:
        self._skew += seconds
        self.monotonic()
