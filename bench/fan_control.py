"""Closed-loop fan control against a kernel-style step curve, on the same simulated 30-minute run.

Both policies drive the simulated EMC2301 through its driver every 2 s while the CPU load changes every
5 minutes; the thermal plant is wisgate.sim.thermal's (plausible numbers, not measurements). Printed per
policy: the highest CPU temperature, the mean duty, and how often the fan speed changed, and whether the
closed loop meets issue 12's goals (never above the target + 2 °C, >= 25 % less mean duty, >= 5x fewer
speed changes than the step curve).

The simulation is deterministic: every run prints the same figures. ``--ambient`` and ``--noise`` (a
seeded uniform error on each reading, the same for both policies) try the loop beyond the goal's run.

Run: .venv/bin/python bench/fan_control.py [--target °C ...] [--ambient °C] [--noise °C]
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

from wisgate.chips.emc2301 import EMC2301
from wisgate.services.fan_control import FanPolicy, PiController
from wisgate.sim.board import SimBoard

STEP_S = 2.0
RUN_S = 30 * 60.0
#: (from second, CPU load): levels held 5 minutes
STEADY = tuple((300 * i, load) for i, load in enumerate((1.0, 0.3, 0.8, 0.1, 1.0, 0.5)))
#: bursts: a minute of full load, a minute of light load (periodic jobs)
BURSTY = tuple((60 * i, 1.0 if i % 2 == 0 else 0.2) for i in range(30))
PROFILES = {"levels every 5 min (1, .3, .8, .1, 1, .5)": STEADY, "bursts every minute (1 / .2)": BURSTY}


@dataclass
class StepCurve:
    """Linux thermal trip points: 50/60/70 °C -> 30/60/100 %, each released 2 °C below its trip."""

    trips: tuple[tuple[float, float], ...] = ((50.0, 30.0), (60.0, 60.0), (70.0, 100.0))
    hysteresis_c: float = 2.0
    name: str = "step curve"
    _level: int = 0

    def duty(self, celsius: float, now: float) -> float:
        while self._level < len(self.trips) and celsius >= self.trips[self._level][0]:
            self._level += 1
        while self._level > 0 and celsius < self.trips[self._level - 1][0] - self.hysteresis_c:
            self._level -= 1
        return 0.0 if self._level == 0 else self.trips[self._level - 1][1]


def load_at(profile: tuple[tuple[int, float], ...], t: float) -> float:
    return [load for start, load in profile if t >= start][-1]


def run(policy: FanPolicy, profile: tuple[tuple[int, float], ...], ambient_c: float = 25.0,
        noise_c: float = 0.0) -> tuple[float, float, int]:
    """(highest true CPU °C, mean duty %, speed changes) of one simulated run."""
    board = SimBoard()
    board.env.climate.ambient_c = ambient_c
    board.cpu.temperature_c = 45.0
    errors = random.Random(12)
    fan = EMC2301.open(board.bus, clock=board.clock)
    start = board.clock.monotonic()
    hottest, duty_sum, steps, changes, last = 0.0, 0.0, 0, 0, None
    while (t := board.clock.monotonic() - start) < RUN_S:
        board.cpu.load = load_at(profile, t)
        celsius = board.cpu_temperature.read_celsius()
        duty = policy.duty(celsius + errors.uniform(-noise_c, noise_c), t)
        if duty != last:
            changes += last is not None
            last = duty
        fan.set_duty(duty)
        hottest = max(hottest, celsius)
        duty_sum += duty
        steps += 1
        board.advance(STEP_S)
    return hottest, duty_sum / steps, changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=float, nargs="+", default=[PiController().target_c],
                        help="closed-loop target(s), °C (default: the shipped default)")
    parser.add_argument("--ambient", type=float, default=25.0, help="ambient temperature, °C")
    parser.add_argument("--noise", type=float, default=0.0, help="± error on each reading, °C")
    args = parser.parse_args()
    for title, profile in PROFILES.items():
        print(f"30 min simulated, CPU load {title}, ambient {args.ambient:g} °C"
              + (f", readings ±{args.noise:g} °C" if args.noise else ""))
        print(f"  {'policy':<22} {'max °C':>7} {'mean duty %':>12} {'speed changes':>14}")
        step_max, step_mean, step_changes = run(StepCurve(), profile, args.ambient, args.noise)
        print(f"  {'step curve':<22} {step_max:>7.1f} {step_mean:>12.1f} {step_changes:>14}")
        for target in args.target:
            pi_max, pi_mean, pi_changes = run(PiController(target_c=target), profile, args.ambient, args.noise)
            name = f"closed-loop ({target:g} °C)"
            print(f"  {name:<22} {pi_max:>7.1f} {pi_mean:>12.1f} {pi_changes:>14}")
            fewer = step_changes / max(1, pi_changes)
            goals = [pi_max <= target + 2, pi_mean <= 0.75 * step_mean, fewer >= 5]
            marks = " ".join(f"{what} {'met' if ok else 'NOT met'}"
                             for what, ok in zip(("max", "duty", "changes"), goals, strict=True))
            print(f"    max {pi_max - target:+.1f} °C from the target, mean duty {1 - pi_mean / step_mean:.1%} less, "
                  f"{fewer:.1f}x fewer speed changes; goals: {marks}")
        print()


if __name__ == "__main__":
    main()
