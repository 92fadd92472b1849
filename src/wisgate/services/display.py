"""The OLED status screen: a clock line, then the latest readings, four per page, pages rotating.

Only what changed is sent (the SSD1306 driver diffs against its shadow frame), so a ticking clock
costs a few bytes a second. A power event redraws at once (the display subscribes to the event
stream). On shutdown the screen says so and the panel goes to sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import time
from pathlib import Path

from wisgate.chips.ssd1306 import SSD1306, render_text
from wisgate.errors import WisgateError
from wisgate.services.power import power_screen
from wisgate.services.readings import Reading, format_value
from wisgate.services.supervisor import Context, ServiceFn
from wisgate.target import Target

log = logging.getLogger("wisgate.display")

ROWS_PER_PAGE = 4
COLUMNS = 21


def row_text(reading: Reading) -> str:
    """One 21-column row: the label left, the value right; a failed device as ``name ERROR``."""
    if not reading.ok:
        return f"{reading.source[:15]:<15}{'ERROR':>6}"
    value = format_value(reading)
    if reading.unit == "" and isinstance(reading.value, str) and len(value) > 12:
        value = value.removesuffix(" UTC")[-(COLUMNS - 4):]  # a date or serial: its end says most
    label = reading.label if len(reading.label) + len(value) < COLUMNS else (reading.short or reading.label)
    width = max(0, COLUMNS - len(value) - 1)
    return f"{label[:width]:<{width}} {value}"[-COLUMNS:]


def page_lines(readings: list[Reading], page: int, now: dt.datetime) -> list[str]:
    """Header with the time, then page ``page`` of the readings."""
    shown = [row_text(r) for r in readings]
    pages = max(1, -(-len(shown) // ROWS_PER_PAGE))
    index = page % pages
    header = f"wisgate {now:%H:%M:%S}  {index + 1}/{pages}"
    return [header, *shown[index * ROWS_PER_PAGE : (index + 1) * ROWS_PER_PAGE]]


def display_service(interval_s: float, *, page_s: float = 5.0, png: Path | None = None) -> ServiceFn:
    async def run(context: Context) -> None:
        target = context.target
        oled = SSD1306(target.bus, target.addresses["oled"], clock=target.clock)
        await context.bus.run(oled.init)
        picture = png
        started = time.monotonic()
        events = context.state.events.subscribe(maxsize=16)
        try:
            while True:
                state = context.state
                page = int((time.monotonic() - started) // page_s)
                # a lost supply takes the whole screen (RAK's OLED service does the same)
                lines = (power_screen(state.power)
                         or state.overrides.oled_lines(target.clock.monotonic())
                         or page_lines(list(state.readings.values()), page, dt.datetime.now()))
                image = render_text(lines)
                await context.bus.run(functools.partial(oled.show, image))
                if picture is not None:
                    await context.bus.run(functools.partial(_save, target, picture))
                await events.get(timeout=interval_s)  # an event redraws at once
        except asyncio.CancelledError:
            with contextlib.suppress(WisgateError, OSError):
                await context.bus.run(lambda: _goodbye(oled))
            raise
        finally:
            events.close()

    return run


def _save(target: Target, path: Path) -> None:
    try:
        target.save_display(path)
    except OSError as exc:
        raise WisgateError(f"cannot write the OLED picture {path}: {exc.strerror or exc}") from exc


def _goodbye(oled: SSD1306) -> None:
    oled.show(render_text(["", "  SYSTEM SHUTDOWN"]))
    oled.sleep()
