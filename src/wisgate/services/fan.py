"""Fan control from CPU temperature: a curve of (°C, duty %) points, interpolated, with hysteresis.

The duty is rewritten every interval even when unchanged, which also feeds the EMC2301's 4 s
watchdog (it would otherwise drive the fan at 100 %). A stalled or failing fan is logged once per
episode and kept in the board state for the display and API.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from wisgate.services.cpu import cpu_temperature
from wisgate.services.overrides import fan_override
from wisgate.services.supervisor import Context, ServiceFn

log = logging.getLogger("wisgate.fan")

DEFAULT_CURVE = ((45.0, 0.0), (50.0, 30.0), (60.0, 60.0), (70.0, 100.0))
#: Below the curve's first point the fan stops only this far below it (no start/stop chatter).
HYSTERESIS_C = 3.0


@dataclass
class FanCurve:
    points: Sequence[tuple[float, float]] = DEFAULT_CURVE
    #: A fan does not start below about a quarter of full drive: any non-zero duty is at least this.
    min_duty: float = 30.0

    def __post_init__(self) -> None:
        temps = [t for t, _ in self.points]
        if len(self.points) < 2 or temps != sorted(temps) or len(set(temps)) != len(temps):
            raise ValueError("a fan curve needs at least two points in rising temperature order")
        if any(not 0 <= d <= 100 for _, d in self.points):
            raise ValueError("fan curve duties must be 0-100 %")

    def duty(self, celsius: float) -> float:
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
        duty = self.duty(celsius)
        if duty == 0 and running and celsius > self.points[0][0] - HYSTERESIS_C:
            return self.min_duty
        return duty


def fan_service(curve: FanCurve, interval_s: float) -> ServiceFn:
    async def run(context: Context) -> None:
        from wisgate.chips.emc2301 import EMC2301

        target = context.target
        fan = await context.bus.run(lambda: EMC2301.open(target.bus, target.addresses["fan"], clock=target.clock))
        sensor = cpu_temperature(target)
        duty = 0.0
        faulty = False
        while True:
            celsius = await asyncio.to_thread(sensor.read_celsius)
            manual = fan_override(context.state, target.clock.monotonic())
            duty = curve.next_duty(celsius, running=duty > 0) if manual is None else manual

            def apply(level: float = duty) -> tuple[float, bool]:
                fan.set_duty(level)
                status = fan.status()
                return fan.read_rpm(), status.stalled or status.drive_failed or status.spin_up_failed

            rpm, fault = await context.bus.run(apply)
            context.state["fan"] = {"cpu_c": celsius, "duty": duty, "rpm": rpm, "fault": fault,
                                    "manual": manual is not None}
            if fault and duty > 0 and not faulty:
                log.warning("fan fault at %.0f %% duty (%.0f RPM): stalled, unplugged or failing", duty, rpm)
            faulty = fault and duty > 0
            await asyncio.sleep(interval_s)

    return run
