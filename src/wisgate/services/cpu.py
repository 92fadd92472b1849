"""Which CPU temperature source a target has: the simulated CM4's thermal model, or Linux's thermal zone."""

from __future__ import annotations

from wisgate.bus.thermal_zone import CpuTemperature, ThermalZone
from wisgate.runtime import Target


def cpu_temperature(target: Target) -> CpuTemperature:
    return target.sim.cpu_temperature if target.sim is not None else ThermalZone()
