"""The OLED status screen service: pages of readings, updates on the panel, shutdown message."""

from __future__ import annotations

import asyncio
import datetime as dt

from PIL import ImageChops

from wisgate.chips.ssd1306 import render_text
from wisgate.services.display import display_service, page_lines, row_text
from wisgate.services.monitor import monitor_service
from wisgate.services.readings import Reading, failed, number
from wisgate.services.status import read_status
from wisgate.services.supervisor import Supervisor
from wisgate.sim.chips.ssd1306 import SSD1306Model
from wisgate.sim.target import SimTarget
from wisgate.target import open_target


def rows(n: int) -> list[Reading]:
    return [number(f"dev.r{i}", f"reading {i}", i, "V", "dev", 0.0, digits=0) for i in range(n)]


def test_pages_of_four_rows_with_a_clock_header() -> None:
    now = dt.datetime(2026, 11, 25, 12, 34, 56)
    first = page_lines(rows(6), 0, now)
    assert first[0] == "wisgate 12:34:56  1/2"
    assert first[1:] == [f"{f'reading {i}':<17} {i} V" for i in range(4)]
    assert all(len(line) <= 21 for line in first)
    assert page_lines(rows(6), 1, now)[1:] == [f"{f'reading {i}':<17} {i} V" for i in (4, 5)]
    assert page_lines(rows(6), 2, now) == first  # pages wrap
    lost = [failed("adc.error", "adc", "adc", 0.0, "no acknowledge")]
    assert page_lines(lost, 0, now)[1] == f"adc{'':12}{'ERROR':>6}"


def test_rows_use_the_short_labels_made_for_21_columns() -> None:
    target = open_target("sim")
    lines = [row_text(r) for r in read_status(target)]
    target.close()
    assert all(len(line) <= 21 for line in lines)
    assert any(line.startswith("PCB temp ") and line.endswith(" °C") for line in lines)
    labels = [line.rsplit("  ", 1)[0].strip() for line in lines]
    assert not any(label.endswith(("tempera", "inpu", "temperatu")) for label in labels)


def test_service_draws_readings_then_says_goodbye_and_sleeps() -> None:
    target = open_target("sim")
    assert isinstance(target, SimTarget)
    model = target.board.models["oled"]
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
