"""The daemon's RTC service: the set-up the datasheet asks for, and an optional countdown watchdog.

The target hands out the RTC: the chip itself, or the kernel driver that owns it on RAKPiOS
(``dtoverlay=i2c-rtc,pcf85063a`` binds rtc-pcf85063 to 0x51, and raw I2C would race it), where time and
wake alarm go through ``/dev/rtc0``; CLKOUT, timer and flags need the raw chip.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from wisgate.chips.pcf85063a import PCF85063A, ClkoutFrequency, TimerSource
from wisgate.chips.rtc_kernel import KernelRTC
from wisgate.services.state import RtcState
from wisgate.services.supervisor import Context, ServiceFn

if TYPE_CHECKING:
    from wisgate.target import Rtc

log = logging.getLogger("wisgate.rtc")

#: The countdown timer counts at 1 Hz up to 255 s, beyond that in minutes (up to 255 min).
MAX_SECONDS_TIMER = 255


def _watchdog_setting(seconds: float) -> tuple[int, TimerSource]:
    if seconds <= MAX_SECONDS_TIMER:
        return max(1, round(seconds)), TimerSource.HZ_1
    return min(255, max(1, round(seconds / 60))), TimerSource.HZ_1_60


def prepare(rtc: Rtc, now: datetime) -> list[str]:
    """Board set-up the datasheet asks for: time valid, CLKOUT off. Returns what was done."""
    done = []
    if isinstance(rtc, KernelRTC):
        return ["kernel driver owns the RTC: time and wake alarm through it, CLKOUT left to the kernel's clock"]
    if rtc.oscillator_stopped():
        rtc.set_time(now)
        done.append(f"oscillator had stopped (battery?): time set from the system clock to {now:%Y-%m-%d %H:%M:%S}")
    if rtc.clkout() is not ClkoutFrequency.OFF:
        rtc.set_clkout(ClkoutFrequency.OFF)
        done.append("CLKOUT switched off (saves power, datasheet set-up)")
    return done


def rtc_service(watchdog_s: float) -> ServiceFn:
    """Prepare the RTC; with ``watchdog_s`` > 0, keep re-arming its countdown timer so that a hung
    daemon lets it expire: its INT then resets the CM4 (jumper J39 9-10 fitted)."""

    async def run(context: Context) -> None:
        target = context.target
        rtc = await context.bus.run(target.rtc)
        actions = await context.bus.run(lambda: prepare(rtc, datetime.now(UTC).replace(tzinfo=None)))
        for line in actions:
            log.info("%s", line)
        context.state.rtc = RtcState(kernel_owned=isinstance(rtc, KernelRTC), actions=tuple(actions),
                                     watchdog_s=watchdog_s if isinstance(rtc, PCF85063A) else 0.0, time=time.time())
        if watchdog_s <= 0:
            return
        if not isinstance(rtc, PCF85063A):
            log.error("RTC watchdog not armed: it needs the raw chip and the kernel owns it (i2c-rtc overlay)")
            return
        value, source = _watchdog_setting(watchdog_s)
        period = (value if source is TimerSource.HZ_1 else value * 60) / 3
        log.info("RTC watchdog armed: the board resets if wisgate stops re-arming it for %.0f s", period * 3)
        try:
            while True:
                await context.bus.run(lambda: rtc.set_timer(value, source, interrupt=True))
                await asyncio.sleep(period)
        finally:
            # a clean stop must not reset the board
            await context.bus.run(rtc.stop_timer)

    return run
