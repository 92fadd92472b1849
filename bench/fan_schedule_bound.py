"""What the fewest speed changes can buy on bench/fan_control.py's levels run, whatever the controller.

The step curve changes speed 13 times on the levels run, so issue 12's "5x fewer" means at most 2 changes.
This searches every schedule of one or two changes (start the fan at its minimum running duty at t1, and
stop it at t2 or never) in the simulator's thermal model (wisgate.sim.thermal's fan and CPU stepped
directly; a start drives the fan fully until its rotor turns, as the EMC2301's spin-up does) and prints
the ones that stay within target + 2 °C and 25 % under the step curve's mean duty (a running fan at any
other duty only adds airflow, so these are the cheapest). A controller can only
follow such a schedule if it could have chosen t1 and t2 without knowing the load to come.

Run: .venv/bin/python bench/fan_schedule_bound.py [target °C ...]   (a minute or so per target)
"""

from __future__ import annotations

import sys

# run as a script, bench/ is on the path: the levels run and the step curve are the other bench's own
from fan_control import RUN_S, STEADY, STEP_S, StepCurve, load_at, run

from wisgate.services.fan_control import PiController
from wisgate.sim.thermal import Cpu, Fan

SUBSTEP_S = 0.5
START_GRID_S = 4
STOP_GRID_S = 20


def schedule(start_s: float, stop_s: float | None, duty: float) -> tuple[float, float]:
    """(highest CPU °C, mean duty %) with the fan at ``duty`` from ``start_s`` until ``stop_s``."""
    fan, cpu = Fan(), Cpu()
    cpu.temperature_c = 45.0
    hottest = duty_sum = 0.0
    steps = 0
    t = 0.0
    while t < RUN_S:
        on = t >= start_s and (stop_s is None or t < stop_s)
        drive = duty if on else 0.0
        cpu.load = load_at(STEADY, t)
        hottest = max(hottest, cpu.temperature_c)
        duty_sum += drive
        steps += 1
        for _ in range(round(STEP_S / SUBSTEP_S)):
            kick = drive > 0 and fan.rpm < fan.standstill_rpm
            fan.step(SUBSTEP_S, 1.0 if kick else drive / 100)
            cpu.step(SUBSTEP_S, 25.0, fan.rpm)
        t += STEP_S
    return hottest, duty_sum / steps


def main() -> None:
    targets = [float(a) for a in sys.argv[1:]] or [PiController().target_c, 60.0]
    _, step_mean, step_changes = run(StepCurve(), STEADY)
    allowed = 0.75 * step_mean
    duty = PiController().min_duty
    print(f"levels run: the step curve averages {step_mean:.1f} % with {step_changes} changes; "
          f"goal <= {allowed:.2f} % with <= {step_changes // 5} changes; fan at {duty:g} % when on")
    for target in targets:
        def fits(start: float, stop: float | None, target: float = target) -> bool:
            hottest, mean = schedule(start, stop, duty)
            return hottest <= target + 2 and mean <= allowed

        starts = [t1 for t1 in range(0, int(RUN_S / 2), START_GRID_S) if fits(t1, None)]
        pairs = [(t1, t2) for t1 in range(100, 400, START_GRID_S * 2)
                 for t2 in range(t1 + STOP_GRID_S, int(RUN_S), STOP_GRID_S) if fits(t1, t2)]
        stops = sorted({t2 for _, t2 in pairs})
        one = f"start at {starts[0]}-{starts[-1]} s and never stop" if starts else "none"
        two = f"stop between {stops[0]} and {stops[-1]} s ({len(pairs)} schedules)" if stops else "none"
        print(f"target {target:g} °C: 1 change: {one}; 2 changes: {two}")


if __name__ == "__main__":
    main()
