"""Steady-state CPU temperature and fan speed per fixed fan duty, on the simulated board.

Each duty runs on a fresh board: the EMC2301 driver sets the duty, simulated time passes until the
CPU temperature moves less than ``TOLERANCE_C`` per ``WINDOW_S``, and the fan speed is read back from
the chip's TACH register. The physics (fan curve, heatsink conductances) are the defaults of
wisgate.sim.thermal: plausible numbers, not measurements.

Run: .venv/bin/python bench/thermal_plant.py [cpu_load 0..1] [ambient °C]
"""

from __future__ import annotations

import sys
import time

from wisgate.chips.emc2301 import EMC2301
from wisgate.sim.board import SimBoard

DUTIES = (0, 20, 40, 60, 80, 100)
WINDOW_S = 60.0
TOLERANCE_C = 0.01
LIMIT_S = 4 * 3600.0


def settle(duty: float, load: float, ambient: float) -> tuple[float, float, float, float]:
    """(RPM read by the driver, CPU °C, its analytic steady state, simulated seconds to settle)."""
    board = SimBoard()
    board.env.climate.ambient_c = ambient
    board.cpu.load = load
    fan = EMC2301.open(board.bus, clock=board.clock)
    fan.set_duty(duty)
    start = board.clock.monotonic()
    previous = board.cpu_temperature.read_celsius()
    while board.clock.monotonic() - start < LIMIT_S:
        board.advance(WINDOW_S)
        now = board.cpu_temperature.read_celsius()
        if abs(now - previous) < TOLERANCE_C:
            break
        previous = now
    rpm = fan.read_rpm()
    analytic = board.cpu.steady_state_c(ambient, board.fan.rpm)
    return rpm, now, analytic, board.clock.monotonic() - start


def main() -> None:
    load = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    ambient = float(sys.argv[2]) if len(sys.argv) > 2 else 25.0
    print(f"CPU load {load:.2f}, ambient {ambient:.1f} °C, steady state when < {TOLERANCE_C} °C per {WINDOW_S:.0f} s")
    print(f"{'duty %':>6} {'RPM':>6} {'CPU °C':>7} {'model °C':>9} {'settled s':>10}")
    wall = time.perf_counter()
    for duty in DUTIES:
        rpm, cpu_c, analytic, seconds = settle(duty, load, ambient)
        print(f"{duty:>6} {rpm:>6.0f} {cpu_c:>7.1f} {analytic:>9.1f} {seconds:>10.0f}")
    print(f"(wall time {time.perf_counter() - wall:.1f} s)")


if __name__ == "__main__":
    main()
