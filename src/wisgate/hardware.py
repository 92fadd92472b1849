"""The real RAK7391: Linux I2C (smbus2), libgpiod lines, gpio-keys events, thermal zone, kernel drivers.

Where RAKPiOS's kernel owns a chip (rtc-pcf85063 on 0x51, pca953x on 0x26/0x27, gpio-keys on GPIO16)
this target goes through the kernel's interface instead of racing the driver on raw I2C.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from wisgate.board.rak7391 import ONBOARD_ADDRESSES
from wisgate.bus.gpio import GpioLine
from wisgate.bus.i2c import I2CBus
from wisgate.bus.linux import LinuxI2CBus
from wisgate.bus.thermal_zone import CpuTemperature, ThermalZone
from wisgate.clock import WallClock
from wisgate.errors import DeviceBusyError, UnsupportedError
from wisgate.target import ConcentratorSet, Target, concentratord_set

if TYPE_CHECKING:
    from wisgate.chips.tpt29555_kernel import Expander
    from wisgate.config import LoraSection
    from wisgate.target import Rtc

log = logging.getLogger("wisgate.hardware")

POWER_FAIL_LINE = "GPIO16"


class HardwareTarget(Target):
    def __init__(self, bus: str | I2CBus, *, addresses: Mapping[str, int] | None = None) -> None:
        """``bus``: a ``/dev/i2c-N`` path, or an opened Linux bus."""
        super().__init__()
        self.bus = LinuxI2CBus(bus) if isinstance(bus, str) else bus
        self.clock = WallClock()
        self.addresses = {**ONBOARD_ADDRESSES, **(addresses or {})}

    @property
    def description(self) -> str:
        return f"RAK7391 on {self.bus.name}"

    def _open_line(self, name: str, *, output: bool, initial: bool) -> GpioLine:
        from wisgate.bus.gpiod_lines import GpiodLines

        return GpiodLines().line(name, output=output, initial=initial)

    def cpu_temperature(self) -> CpuTemperature:
        return ThermalZone()

    def power_fail_input(self, *, owner: str) -> GpioLine:
        try:
            return self.line(POWER_FAIL_LINE, owner=owner)
        except DeviceBusyError as exc:
            if self.line_owner(POWER_FAIL_LINE) is not None:
                raise
            from wisgate.bus.input_events import KEY_PROG1, KeyLine, find_key_device

            path = find_key_device(KEY_PROG1)
            log.info("%s belongs to gpio-keys (%s): reading its KEY_PROG1 events from %s", POWER_FAIL_LINE, exc, path)
            return self._adopt(KeyLine(path, KEY_PROG1, active_low=True, name=POWER_FAIL_LINE), owner=owner)

    def rtc(self) -> Rtc:
        from wisgate.chips.rtc_kernel import KernelRTC

        if self.rtc_kernel_driver():
            return KernelRTC.for_i2c(self._bus_number(), self.addresses["rtc"])
        return super().rtc()

    def expander(self, name: str) -> Expander:
        from wisgate.chips.tpt29555_kernel import KernelExpander

        address = self.addresses[name]
        if self.bus.bound_driver(address):
            return KernelExpander(self._bus_number(), address)
        return super().expander(name)

    def _bus_number(self) -> int:
        number = self.bus.number
        if number is None:
            raise UnsupportedError(f"{self.bus.name} is no /dev/i2c-N bus: the kernel's devices cannot be found")
        return number

    def concentrators(self, config: LoraSection) -> ConcentratorSet:
        return concentratord_set(config)
