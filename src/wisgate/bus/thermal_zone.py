"""The CPU temperature source: a protocol, and Linux's thermal zone behind it.

A source **must** implement :meth:`CpuTemperature.read_celsius`. On the CM4 the SoC sensor is
``/sys/class/thermal/thermal_zone0/temp`` in milli-°C (Linux thermal sysfs ABI); the simulated board
has its own source reading its thermal model (:class:`wisgate.sim.thermal.SimCpuTemperature`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from wisgate.errors import UnsupportedError, WisgateError

THERMAL_ZONE0 = Path("/sys/class/thermal/thermal_zone0/temp")


@runtime_checkable
class CpuTemperature(Protocol):
    def read_celsius(self) -> float:
        """The CPU temperature now, °C."""
        ...


class ThermalZone:
    """A Linux thermal zone's ``temp`` file."""

    def __init__(self, path: Path = THERMAL_ZONE0) -> None:
        self.path = path

    def read_celsius(self) -> float:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            raise UnsupportedError(f"no CPU temperature: {self.path} does not exist") from None
        try:
            return int(text) / 1000
        except ValueError:
            raise WisgateError(f"{self.path} holds {text!r}, not milli-°C") from None
