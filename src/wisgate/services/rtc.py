"""Which way to reach the board's RTC: the chip itself, or the kernel driver that owns it.

On RAKPiOS ``dtoverlay=i2c-rtc,pcf85063a`` binds rtc-pcf85063 to 0x51, and raw I2C would race it,
so time and wake alarm go through ``/dev/rtc0`` there; CLKOUT, timer and flags need the raw chip.
"""

from __future__ import annotations

from collections.abc import Callable

from wisgate.chips.pcf85063a import PCF85063A
from wisgate.chips.rtc_kernel import KernelRTC
from wisgate.runtime import Target

Rtc = PCF85063A | KernelRTC


def kernel_driver(target: Target) -> str | None:
    """Name of the kernel driver bound to the RTC's address, if any (never on the simulated board)."""
    bound: Callable[[int], str | None] | None = getattr(target.bus, "bound_driver", None)
    if target.sim is not None or bound is None:
        return None
    return bound(target.addresses["rtc"])


def open_rtc(target: Target) -> Rtc:
    if kernel_driver(target):
        return KernelRTC.for_i2c(getattr(target.bus, "number", 1), target.addresses["rtc"])
    return PCF85063A(target.bus, target.addresses["rtc"], clock=target.clock)
