"""The buzzer service: a start-up beep if configured, the alarm when the supply is lost, and a beep when one
is asked for (a ``control.beep`` event, e.g. Home Assistant's button).

It subscribes to the event stream and plays the alarm on a ``supply.lost`` event (no polling), and on
a ``control.beep`` event the tone it names (the API's beep) or a short beep. The target runs the
tone where its lines keep time (a thread of its own on hardware, the simulation's thread on the
simulated board). The buzzer only sounds with jumper J39 pins 11-12 fitted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from wisgate.bus.gpio import GpioLine
from wisgate.chips.buzzer import J39_HINT, Buzzer, Note, Pattern, alarm_pattern, startup_pattern
from wisgate.errors import DeviceBusyError
from wisgate.services.events import EventKind, EventValue
from wisgate.services.supervisor import Context, ServiceFn
from wisgate.target import Target

log = logging.getLogger("wisgate.buzzer")

BUZZER_LINE = "GPIO13"
OWNER = "buzzer"


def open_buzzer_line(target: Target, name: str = BUZZER_LINE, owner: str = OWNER) -> GpioLine:
    try:
        return target.line(name, owner=owner, output=True, initial=False)
    except DeviceBusyError as exc:
        raise DeviceBusyError(f"buzzer line {name} is in use ({exc}; a pwm or gpio overlay on it?)") from exc


def beep_pattern(data: Mapping[str, EventValue]) -> Pattern:
    """The tone a ``control.beep`` event asks for (the API checked its range)."""
    frequency, duration = data.get("frequency_hz"), data.get("duration_s")
    if not isinstance(frequency, int | float) or not isinstance(duration, int | float):
        return ()
    return (Note(float(frequency), float(duration)),)


def buzzer_service(*, frequency_hz: float = 440.0, startup_beep: bool = False, line: str = BUZZER_LINE) -> ServiceFn:
    async def run(context: Context) -> None:
        target = context.target
        events = context.state.events.subscribe(maxsize=64)
        buzzer = Buzzer(open_buzzer_line(target, line), target.clock)

        async def play(pattern: Pattern) -> None:
            await target.run_timed(lambda: buzzer.play(pattern))

        log.info("buzzer on %s (%s)", line, J39_HINT.removeprefix("no sound? "))
        try:
            if startup_beep:
                await play(startup_pattern(frequency_hz))
            async for event in events:
                power = context.state.power
                if event.kind is EventKind.SUPPLY_LOST and (power is None or power.beep_on_loss):
                    await play(alarm_pattern(frequency_hz))
                elif event.kind is EventKind.BEEP:
                    # the API names the tone; Home Assistant's button just asks for a beep
                    await play(beep_pattern(event.data) or startup_pattern(frequency_hz))
        finally:
            events.close()
            buzzer.line.write(False)
            target.release_line(line, OWNER)

    return run
