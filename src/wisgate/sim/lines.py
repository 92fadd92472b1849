"""Simulated GPIO lines: levels the simulation drives, with edge callbacks and a history."""

from __future__ import annotations

from wisgate.bus.gpio import EdgeCallback, GpioLine, LineProvider
from wisgate.clock import SimClock


class SimLine(GpioLine):
    def __init__(self, clock: SimClock, name: str, level: bool = True) -> None:
        self.clock = clock
        self.name = name
        self._level = level
        self._callbacks: list[EdgeCallback] = []
        #: (time, level) of every change, for tests and the buzzer's tone analysis.
        self.history: list[tuple[float, bool]] = [(clock.monotonic(), level)]

    def read(self) -> bool:
        return self._level

    def drive(self, level: bool, *, at: float | None = None) -> None:
        """Set the level from the simulation side (a chip's INT pin, the supply monitor).

        ``at``: when the change happened, if a model catching up on a long clock advance knows it
        happened earlier than now (an RTC alarm at a given second).
        """
        if level == self._level:
            return
        self._level = level
        now = self.clock.monotonic() if at is None else at
        self.history.append((now, level))
        if len(self.history) > 10_000:
            del self.history[:5_000]
        for callback in list(self._callbacks):
            callback(level, now)

    def write(self, value: bool) -> None:
        self.drive(bool(value))

    def on_edge(self, callback: EdgeCallback) -> None:
        self._callbacks.append(callback)

    def recorded_edges(self) -> list[tuple[float, bool]]:
        return list(self.history)


class SimLines(LineProvider):
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.lines: dict[str, SimLine] = {}

    def add(self, name: str, level: bool = True) -> SimLine:
        line = SimLine(self.clock, name, level)
        self.lines[name] = line
        return line

    def line(self, name: str, *, output: bool = False, initial: bool = False) -> SimLine:
        try:
            line = self.lines[name]
        except KeyError:
            raise KeyError(f"no line {name!r} on the simulated board; known: {sorted(self.lines)}") from None
        if output:
            line.drive(initial)
        return line
