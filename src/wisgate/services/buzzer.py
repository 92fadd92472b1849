"""The buzzer service: a start-up beep if configured, and the alarm when the power service reports a loss.

The power service publishes ``state["power"]`` (``events`` counts losses, ``beep`` says whether a loss
should sound); this service owns GPIO13 and plays the patterns off the event loop (in a thread on hardware,
on the bus worker on the simulated board, whose clock the edges move). The buzzer only sounds with
jumper J39 pins 11-12 fitted.
"""

from __future__ import annotations

import asyncio
import logging

from wisgate.bus.gpio import GpioLine
from wisgate.chips.buzzer import J39_HINT, Buzzer, Pattern, alarm_pattern, startup_pattern
from wisgate.errors import DeviceBusyError
from wisgate.runtime import Target
from wisgate.services.board_lines import line_provider
from wisgate.services.supervisor import Context, ServiceFn

log = logging.getLogger("wisgate.buzzer")

BUZZER_LINE = "GPIO13"
#: How often the power state is looked at (an alarm starting 0.1 s late is still an alarm)
WATCH_S = 0.1


def open_buzzer_line(target: Target, name: str = BUZZER_LINE) -> GpioLine:
    try:
        return line_provider(target).line(name, output=True, initial=False)
    except DeviceBusyError as exc:
        raise DeviceBusyError(
            f"buzzer line {name} is in use by another consumer (a pwm or gpio overlay on it?)"
        ) from exc


def _power_events(context: Context) -> tuple[int, bool]:
    power = context.state.get("power")
    if not isinstance(power, dict):
        return 0, False
    return int(power.get("events", 0)), bool(power.get("beep")) and power.get("supply") == "lost"


def buzzer_service(*, frequency_hz: float = 440.0, startup_beep: bool = False, line: str = BUZZER_LINE) -> ServiceFn:
    async def run(context: Context) -> None:
        target = context.target
        buzzer = Buzzer(open_buzzer_line(target, line), target.clock)

        async def play(pattern: Pattern) -> None:
            # on the simulated board every edge reads its clock, which moves the models: play where
            # they run (the bus worker); on hardware a thread of its own keeps the bus free
            if target.sim is not None:
                await context.bus.run(lambda: buzzer.play(pattern))
            else:
                await asyncio.to_thread(buzzer.play, pattern)

        log.info("buzzer on %s (%s)", line, J39_HINT.removeprefix("no sound? "))
        try:
            if startup_beep:
                await play(startup_pattern(frequency_hz))
            seen, _ = _power_events(context)
            while True:
                events, alarm = _power_events(context)
                if events > seen and alarm:
                    await play(alarm_pattern(frequency_hz))
                seen = max(seen, events)
                await asyncio.sleep(WATCH_S)
        finally:
            buzzer.line.write(False)
            buzzer.line.close()

    return run
