"""Fan policies: a closed-loop PI controller toward a target temperature, and the classic curve.

Both are pure (temperature and time in, duty out), so the benches and tests run them against the
simulated thermal plant without a daemon.

The PI controller holds the CPU near ``target_c`` with as little airflow and as few speed changes as that
needs (every change is heard and wears the bearing). It sees the temperature through a short filter (a
thermal zone jitters; the heatsink changes over minutes). Its output stays between the fan's minimum
running duty and 100 % in ``step_percent`` steps: more airflow is given at once, less only after the loop
has wanted less for ``hold_s`` and then in one change. Integration stops while the output is saturated or
held up by that rule (anti-windup). A stopped fan starts once the CPU reaches the target (at
``spin_up_percent`` if asked; the EMC2301's own spin-up routine otherwise) and stops again only
``stop_below_c`` under it, with the output at its minimum and after ``min_run_s`` of running. At
``critical_c`` (on the raw reading) it runs at full speed.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wisgate.services.settings import (
    DEFAULT_CRITICAL_C,
    DEFAULT_CURVE,
    DEFAULT_MIN_DUTY_PERCENT,
    DEFAULT_TARGET_C,
    check_curve,
)

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
    target_c: float = DEFAULT_TARGET_C
    #: % duty per °C above the target: a degree over it asks for a fifth of full airflow at once
    kp: float = 20.0
    #: % duty per °C·s above the target
    ki: float = 0.05
    #: the lowest duty a running fan keeps turning at (the simulated fan stops below 15 %)
    min_duty: float = DEFAULT_MIN_DUTY_PERCENT
    #: the duty that starts a stopped fan, for ``spin_up_s`` (0: the EMC2301's own spin-up routine does it)
    spin_up_percent: float = 40.0
    spin_up_s: float = 0.0
    #: the fan stops once the CPU is this far below the target with the output at its minimum: wide, so
    #: a load that comes and goes does not start and stop it each time
    stop_below_c: float = 20.0
    #: ...and not before it has run this long (no short cycles)
    min_run_s: float = 300.0
    #: at or above this, full speed whatever the loop says
    critical_c: float = DEFAULT_CRITICAL_C
    #: the output moves in steps of this many percent
    step_percent: float = 5.0
    #: the loop sees the temperature through a first-order filter of this time constant: a thermal zone's
    #: reading jitters by a degree or so, the CPU and heatsink change over minutes
    filter_s: float = 4.0
    #: a lower speed only once the loop has wanted it for this long (more airflow is given at once)...
    hold_s: float = 120.0
    #: ...and then the highest the loop wanted over this last stretch, so a dip does not set the speed
    peak_s: float = 30.0
    name: str = "closed-loop"
    _integral: float = 0.0
    _last_t: float | None = None
    _filtered: float | None = None
    _output: float = 0.0
    _running: bool = False
    _started: float = 0.0
    _spin_until: float | None = None
    _lower_since: float | None = None
    _recent: deque[tuple[float, float]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if not 0 < self.min_duty <= 100 or not self.min_duty <= self.spin_up_percent <= 100:
            raise ValueError("fan duties must satisfy 0 < min_duty <= spin_up_percent <= 100")
        if self.critical_c <= self.target_c:
            raise ValueError(f"fan critical_c ({self.critical_c:g}) must be above target_c ({self.target_c:g})")

    def duty(self, celsius: float, now: float) -> float:
        dt = 0.0 if self._last_t is None else max(0.0, now - self._last_t)
        self._last_t = now
        seen = self._filter(celsius, dt)
        if celsius >= self.critical_c:  # the raw reading: no filter delays full airflow
            if not self._running:
                self._running, self._started = True, now
            self._spin_until, self._lower_since, self._output = None, None, 100.0
            return 100.0
        error = seen - self.target_c
        if not self._running:
            if error < 0:
                self._integral = 0.0
                return 0.0
            self._start(now)
        wanted = self._pi(error, dt)
        if wanted <= self.min_duty and error <= -self.stop_below_c and now - self._started >= self.min_run_s:
            self._running, self._integral, self._output, self._lower_since = False, 0.0, 0.0, None
            return 0.0
        self._output = self._next_output(max(self.min_duty, wanted), now)
        if self._spin_until is not None and now < self._spin_until:
            return max(self._output, self.spin_up_percent)
        self._spin_until = None
        return self._output

    def _filter(self, celsius: float, dt: float) -> float:
        if self._filtered is None or self.filter_s <= 0:
            self._filtered = celsius
        else:
            self._filtered += (celsius - self._filtered) * (1 - math.exp(-dt / self.filter_s))
        return self._filtered

    def _start(self, now: float) -> None:
        self._running, self._started, self._spin_until = True, now, now + self.spin_up_s
        self._output, self._lower_since = self.min_duty, None
        self._recent.clear()

    def _pi(self, error: float, dt: float) -> float:
        """The duty the loop wants (unclamped above 100 %), integrating only where that can still act."""
        raw = self.kp * error + self._integral
        saturated = (raw >= 100 and error > 0) or (raw <= self.min_duty and error < 0)
        # while the rate limit holds the output above what the loop wants, the surplus airflow is the
        # limit's doing: integrating it down would drop the speed too far once the hold ends
        held = error < 0 and raw < self._output - self.step_percent
        if not saturated and not held:
            self._integral += self.ki * error * dt
            self._integral = min(100.0, max(-self.kp * self.stop_below_c, self._integral))
        return min(100.0, self.kp * error + self._integral)

    def _quantize(self, wanted: float) -> float:
        """The step at or above ``wanted``: rounding up errs on the side of airflow."""
        if wanted <= self.min_duty:
            return self.min_duty
        return min(100.0, max(self.min_duty, math.ceil(wanted / self.step_percent - 1e-9) * self.step_percent))

    def _next_output(self, wanted: float, now: float) -> float:
        """A speed change only when it is worth one: up at once by at least a step, down after ``hold_s``."""
        self._recent.append((now, wanted))
        while self._recent[0][0] < now - self.peak_s:
            self._recent.popleft()
        step = self._quantize(wanted)
        output = self._output
        if step > output:
            self._lower_since = None
            return step if wanted >= output + self.step_percent or step >= 100 else output
        if step <= output - self.step_percent or step == self.min_duty < output:
            if self._lower_since is None:
                self._lower_since = now
            if now - self._lower_since >= self.hold_s:
                self._lower_since = None
                return self._quantize(max(w for _, w in self._recent))
            return output
        self._lower_since = None
        return output
