"""The OLED status screen: a clock line, then the latest readings, four per page, pages rotating.

Only what changed is sent (the SSD1306 driver diffs against its shadow frame), so a ticking clock
costs a few bytes a second. On shutdown the screen says so and the panel goes to sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from pathlib import Path

from wisgate.chips.ssd1306 import SSD1306, render_text
from wisgate.errors import WisgateError
from wisgate.services.overrides import oled_override
from wisgate.services.power import power_screen
from wisgate.services.status import StatusRow
from wisgate.services.supervisor import Context, ServiceFn

log = logging.getLogger("wisgate.display")

ROWS_PER_PAGE = 4


def page_lines(rows: list[StatusRow], page: int, now: dt.datetime) -> list[str]:
    """Header with the time, then page ``page`` of the readings (errors shown as the device name)."""
    shown = [f"{r.label[:11]:<11}{r.value:>10}" if r.ok else f"{r.device[:11]:<11}{'ERROR':>10}" for r in rows]
    pages = max(1, -(-len(shown) // ROWS_PER_PAGE))
    index = page % pages
    header = f"wisgate {now:%H:%M:%S}  {index + 1}/{pages}"
    return [header, *shown[index * ROWS_PER_PAGE : (index + 1) * ROWS_PER_PAGE]]


def display_service(interval_s: float, *, page_s: float = 5.0, png: Path | None = None) -> ServiceFn:
    async def run(context: Context) -> None:
        target = context.target
        oled = SSD1306(target.bus, target.addresses["oled"], clock=target.clock)
        await context.bus.run(oled.init)
        started = target.clock.monotonic()
        try:
            while True:
                rows = context.state.get("status", [])
                assert isinstance(rows, list)
                page = int((target.clock.monotonic() - started) // page_s)
                # a lost supply takes the whole screen (RAK's OLED service does the same)
                lines = (power_screen(context.state.get("power"))
                         or oled_override(context.state, target.clock.monotonic())
                         or page_lines(rows, page, dt.datetime.now()))
                image = render_text(lines)
                await context.bus.run(functools.partial(oled.show, image))
                if png is not None and target.sim is not None:
                    model = target.sim.models["oled"]
                    save = getattr(model, "save_png", None)
                    if save is not None:
                        save(png)
                await asyncio.sleep(interval_s)
        except asyncio.CancelledError:
            with contextlib.suppress(WisgateError, OSError):
                await context.bus.run(lambda: _goodbye(oled))
            raise

    return run


def _goodbye(oled: SSD1306) -> None:
    oled.show(render_text(["", "  SYSTEM SHUTDOWN"]))
    oled.sleep()
