"""Fan policies: a closed-loop PI controller toward a target temperature, and the classic curve.

Both are pure (temperature and time in, duty out), so the benches and tests run them against the
simulated thermal plant without a daemon.

The PI controller holds the CPU near ``target_c`` with as little airflow as that needs: its output is
kept between the fan's minimum running duty and 100 %, and moves in ``step_percent`` steps only (every
change of speed is heard and wears the bearing). Integration stops while the output is saturated
(anti-windup). A stopped fan starts at ``spin_up_percent`` (a fan does not start at its minimum running
duty) once the CPU reaches the target, and stops again only ``stop_below_c`` under it with the output at
its minimum. Above ``critical_c`` it runs at full speed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wisgate.services.settings import DEFAULT_CURVE, check_curve

#: Below the curve's first point the fan stops only this far below it (no start/stop chatter).
HYSTERESIS_C = 3.0


class FanPolicy(Protocol):
    name: str

    def duty(self, celsius: float, now: float) -> float:
        """The duty (0-100 %) to drive for ``celsius`` at time ``now`` (seconds, monotonic)."""
        ...


@dataclass
class FanCurve:
    points: Sequence[tuple[float, float]] = DEFAULT_CURVE
    #: A fan does not start below about a quarter of full drive: any non-zero duty is at least this.
    min_duty: float = 30.0
    name: str = "curve"
    _last: float = 0.0

    def __post_init__(self) -> None:
        check_curve(self.points)

    def interpolate(self, celsius: float) -> float:
        points = self.points
        duty = points[-1][1]
        if celsius <= points[0][0]:
            duty = points[0][1]
        else:
            for (t0, d0), (t1, d1) in itertools.pairwise(points):
                if celsius <= t1:
                    duty = d0 + (d1 - d0) * (celsius - t0) / (t1 - t0)
                    break
        return max(duty, self.min_duty) if duty > 0 else 0.0

    def next_duty(self, celsius: float, running: bool) -> float:
        """The duty to drive, keeping a running fan on until HYSTERESIS_C below the first step."""
        duty = self.interpolate(celsius)
        if duty == 0 and running and celsius > self.points[0][0] - HYSTERESIS_C:
            return self.min_duty
        return duty

    def duty(self, celsius: float, now: float) -> float:
        self._last = self.next_duty(celsius, running=self._last > 0)
        return self._last


@dataclass
class PiController:
    target_c: float = 60.0
    #: % duty per °C above the target
    kp: float = 6.0
    #: % duty per °C·s above the target
    ki: float = 0.05
    #: the lowest duty a running fan keeps turning at (the simulated fan stops below 15 %)
    min_duty: float = 16.0
    #: the duty that starts a stopped fan, for ``spin_up_s`` (0: the EMC2301's own spin-up routine does it)
    spin_up_percent: float = 40.0
    spin_up_s: float = 0.0
    #: the fan stops once the CPU is this far below the target with the output at its minimum: wide, so
    #: a load that comes and goes does not start and stop it each time
    stop_below_c: float = 20.0
    #: at or above this, full speed whatever the loop says
    critical_c: float = 75.0
    #: the output moves in steps of this many percent
    step_percent: float = 5.0
    name: str = "closed-loop"
    _integral: float = 0.0
    _last_t: float | None = None
    _output: float = 0.0
    _spin_until: float | None = None
    _running: bool = field(default=False)

    def __post_init__(self) -> None:
        if not 0 < self.min_duty <= 100 or not self.min_duty <= self.spin_up_percent <= 100:
            raise ValueError("fan duties must satisfy 0 < min_duty <= spin_up_percent <= 100")
        if self.critical_c <= self.target_c:
            raise ValueError(f"fan critical_c ({self.critical_c:g}) must be above target_c ({self.target_c:g})")

    def duty(self, celsius: float, now: float) -> float:
        dt = 0.0 if self._last_t is None else max(0.0, now - self._last_t)
        self._last_t = now
        if celsius >= self.critical_c:
            self._running, self._spin_until = True, None
            self._output = 100.0
            return 100.0
        error = celsius - self.target_c
        if not self._running:
            if error < 0:
                self._integral = 0.0
                return 0.0
            self._running, self._spin_until = True, now + self.spin_up_s
        raw = self.kp * error + self._integral
        saturated = (raw >= 100 and error > 0) or (raw <= self.min_duty and error < 0)
        if not saturated:
            self._integral += self.ki * error * dt
            self._integral = min(100.0, max(-self.kp * self.stop_below_c, self._integral))
        raw = self.kp * error + self._integral
        if raw <= self.min_duty and error <= -self.stop_below_c:
            self._running, self._integral, self._output = False, 0.0, 0.0
            return 0.0
        wanted = min(100.0, max(self.min_duty, raw))
        # move only by whole steps: a speed change is heard, and tiny ones buy nothing
        if abs(wanted - self._output) >= self.step_percent or wanted in (100.0, self.min_duty):
            self._output = wanted if wanted in (100.0, self.min_duty) else round(wanted / self.step_percent) * \
                self.step_percent
        self._output = min(100.0, max(self.min_duty, self._output))
        if self._spin_until is not None and now < self._spin_until:
            return max(self._output, self.spin_up_percent)
        self._spin_until = None
        return self._output
