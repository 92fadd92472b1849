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

from wisgate.chips.ssd1306 import SSD1306, TEXT_COLUMNS, render_text
from wisgate.errors import WisgateError
from wisgate.services.oled_pages import Page, pages
from wisgate.services.power import power_screen
from wisgate.services.supervisor import Context, ServiceFn
from wisgate.target import Target

log = logging.getLogger("wisgate.display")



def page_lines(page_list: list[Page], index: int, now: dt.datetime) -> list[str]:
    """Header with the time and the page number, then page ``index`` (wrapping)."""
    index %= len(page_list)
    clock, page = f"{now:%H:%M:%S}", f"{index + 1}/{len(page_list)}"
    # the page count right-aligned in the panel's 21 columns; "wisgate" gives way when it would push it off
    # (10 pages and more: "3/1" was shown for "3/11")
    header = f"wisgate {clock}"
    if len(header) + 1 + len(page) > TEXT_COLUMNS:
        header = clock
    return [f"{header}{page:>{TEXT_COLUMNS - len(header)}}", *page_list[index]]


def display_service(interval_s: float, *, page_s: float = 5.0, png: Path | None = None,
                    blank_after_s: float = 0.0) -> ServiceFn:
    """``blank_after_s`` > 0: the panel sleeps after that long without an event (OLEDs burn in) and an
    event wakes it, no button needed."""

    async def run(context: Context) -> None:
        target = context.target
        oled = SSD1306(target.bus, target.addresses["oled"], clock=target.clock)
        await context.bus.run(oled.init)
        picture = png
        started = last_event = time.monotonic()
        asleep = False
        events = context.state.events.subscribe(maxsize=16)
        try:
            while True:
                state = context.state
                now = time.monotonic()
                if blank_after_s > 0 and not asleep and now - last_event >= blank_after_s:
                    await context.bus.run(oled.sleep)
                    asleep = True
                if not asleep:
                    page = int((now - started) // page_s)
                    # a lost supply takes the whole screen (RAK's OLED service does the same)
                    lines = (power_screen(state.power)
                             or state.overrides.oled_lines(target.clock.monotonic())
                             or page_lines(pages(state), page, dt.datetime.now()))
                    image = render_text(lines)
                    await context.bus.run(functools.partial(oled.show, image))
                    state.display_image = image
                    if picture is not None:
                        await context.bus.run(functools.partial(_save, target, picture))
                if await events.get(timeout=interval_s) is not None:  # an event redraws at once
                    last_event = time.monotonic()
                    if asleep:
                        await context.bus.run(oled.wake)
                        asleep = False
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
