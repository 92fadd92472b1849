"""The OLED status screen service: pages of readings, updates on the panel, shutdown message."""

from __future__ import annotations

import asyncio
import datetime as dt

from PIL import ImageChops

from wisgate.chips.ssd1306 import render_text
from wisgate.runtime import open_target
from wisgate.services.display import display_service, page_lines
from wisgate.services.monitor import monitor_service
from wisgate.services.status import StatusRow
from wisgate.services.supervisor import Supervisor
from wisgate.sim.chips.ssd1306 import SSD1306Model


def rows(n: int) -> list[StatusRow]:
    return [StatusRow("dev", f"reading {i}", f"{i} V") for i in range(n)]


def test_pages_of_four_rows_with_a_clock_header() -> None:
    now = dt.datetime(2026, 11, 25, 12, 34, 56)
    first = page_lines(rows(6), 0, now)
    assert first[0] == "wisgate 12:34:56  1/2"
    assert first[1:] == [f"reading {i}  {f'{i} V':>10}" for i in range(4)]
    assert page_lines(rows(6), 1, now)[1:] == [f"reading {i}  {f'{i} V':>10}" for i in (4, 5)]
    assert page_lines(rows(6), 2, now) == first  # pages wrap
    failed = [StatusRow("adc", "error", "no acknowledge", ok=False)]
    assert page_lines(failed, 0, now)[1] == f"adc{'':8}{'ERROR':>10}"


def test_service_draws_readings_then_says_goodbye_and_sleeps() -> None:
    target = open_target("sim")
    assert target.sim is not None
    model = target.sim.models["oled"]
    assert isinstance(model, SSD1306Model)
    supervisor = Supervisor(target)
    supervisor.add("monitor", monitor_service(0.1))
    supervisor.add("display", display_service(0.1))
    shown: list[bool] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def look() -> None:
            shown.append(model.display_on and model.image().getbbox() is not None)

        loop.call_later(0.5, look)
        loop.call_later(0.7, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    assert shown == [True]
    assert not model.display_on  # asleep after shutdown
    goodbye = render_text(["", "  SYSTEM SHUTDOWN"]).convert("1")
    assert ImageChops.difference(model.framebuffer().convert("1"), goodbye).getbbox() is None
    assert all(s.restarts == 0 for s in supervisor.services)
