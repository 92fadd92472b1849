"""The RAK7391's passive buzzer on CM4 GPIO13 (datasheet "J39"; RAK's buzzer test plays 440 Hz).

A passive buzzer has no oscillator of its own: it sounds only while the line is toggled, a square
wave at the tone's frequency. It is wired through jumper **J39 pins 11-12**; without the jumper the
line toggles and nothing is heard. The line is left low between tones (no DC through the coil).

Timing: every half period ends at a deadline counted from the tone's start (``clock.sleep_until``), so
errors do not accumulate: a simulated clock lands on it exactly, the wall clock sleeps and then spins
the last few hundred microseconds, so the tone does not drift with the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wisgate.bus.gpio import GpioLine
from wisgate.clock import Clock

J39_HINT = "no sound? the buzzer needs jumper J39 pins 11-12 fitted"
MAX_FREQUENCY_HZ = 20_000.0


@dataclass(frozen=True)
class Note:
    #: 0 = silence
    frequency_hz: float
    duration_s: float


Pattern = Sequence[Note]


def startup_pattern(frequency_hz: float) -> tuple[Note, ...]:
    """One short beep."""
    return (Note(frequency_hz, 0.1),)


def alarm_pattern(frequency_hz: float) -> tuple[Note, ...]:
    """Two-tone alarm, three times (about 1.5 s: short, since on the ultracapacitors every joule counts)."""
    return (Note(2 * frequency_hz, 0.2), Note(frequency_hz, 0.2), Note(0, 0.1)) * 3


def _waiter(clock: Clock) -> Callable[[float], None]:
    start = clock.monotonic()

    def wait(offset: float) -> None:
        clock.sleep_until(start + offset)

    return wait


class Buzzer:
    def __init__(self, line: GpioLine, clock: Clock) -> None:
        self.line = line
        self.clock = clock

    def tone(self, frequency_hz: float, duration_s: float) -> int:
        """A square wave for ``duration_s`` (rounded to whole cycles); returns the cycles played."""
        if not 0 < frequency_hz <= MAX_FREQUENCY_HZ:
            raise ValueError(f"buzzer frequency must be in (0, {MAX_FREQUENCY_HZ:.0f}] Hz, not {frequency_hz}")
        if duration_s < 0:
            raise ValueError(f"buzzer duration cannot be negative ({duration_s} s)")
        cycles = round(frequency_hz * duration_s)
        half = 0.5 / frequency_hz
        wait = _waiter(self.clock)
        try:
            # deadlines from the start, not from the previous edge: errors do not accumulate
            for k in range(2 * cycles):
                self.line.write(k % 2 == 0)
                wait((k + 1) * half)
        finally:
            self.line.write(False)
        return cycles

    def rest(self, duration_s: float) -> None:
        self.line.write(False)
        _waiter(self.clock)(duration_s)

    def play(self, pattern: Pattern) -> None:
        for note in pattern:
            if note.frequency_hz > 0:
                self.tone(note.frequency_hz, note.duration_s)
            else:
                self.rest(note.duration_s)


@dataclass(frozen=True)
class ToneMeasurement:
    frequency_hz: float
    duration_s: float
    cycles: int
    #: share of each period spent high
    duty: float


def measure_tone(history: Sequence[tuple[float, bool]]) -> ToneMeasurement:
    """Frequency, duration and duty of the square wave in a line's (time, level) history (first entry = start level)."""
    rises = [t for (t, level) in history[1:] if level]
    falls = [t for (t, level) in history[1:] if not level and rises and t > rises[0]]
    if len(rises) < 2 or not falls:
        raise ValueError(f"a tone needs at least two cycles; the history has {len(rises)} rising edges")
    period = (rises[-1] - rises[0]) / (len(rises) - 1)
    high = sum(f - r for r, f in zip(rises, falls, strict=False)) / min(len(rises), len(falls))
    # the last cycle ends one low half after its falling edge
    duration = falls[-1] - rises[0] + (period - high)
    return ToneMeasurement(1 / period, duration, len(rises), high / period)
