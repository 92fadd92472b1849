"""The OLED status screen service: pages of readings, updates on the panel, shutdown message."""

from __future__ import annotations

import asyncio
import datetime as dt

from wisgate.chips.ssd1306 import render_text
from wisgate.services.display import display_service, page_lines
from wisgate.services.events import EventKind
from wisgate.services.monitor import monitor_service
from wisgate.services.oled_pages import ipv4_addresses, pages, row, row_text
from wisgate.services.readings import Reading, failed, number
from wisgate.services.state import BoardState, EnvironmentState, FanState
from wisgate.services.status import read_status
from wisgate.services.supervisor import Supervisor
from wisgate.sim.chips.ssd1306 import SSD1306Model
from wisgate.sim.target import SimTarget
from wisgate.target import open_target


def rows(n: int) -> list[Reading]:
    return [number(f"dev.r{i}", f"reading {i}", i, "V", "dev", 0.0, digits=0) for i in range(n)]


def test_pages_like_rak_s_oled_service_with_a_clock_header() -> None:
    now = dt.datetime(2026, 11, 25, 12, 34, 56)
    state = BoardState()
    state.put_readings([*rows(6), number("cpu.temperature", "CPU temperature", 51.26, "°C", "cpu", 0.0,
                                         short="CPU temp")])
    state.fan = FanState(51.26, 30.0, 1500.0, "closed-loop", None, 0.0)
    made = pages(state, host=lambda: ["gw-lab", row("eth0", "192.0.2.7")])
    assert made[0] == ["gw-lab", "eth0        192.0.2.7"]
    assert made[1] == ["CPU temp      51.3 °C", "fan       30% 1500rpm"]  # the short label: the long one won't fit
    assert made[2] == [f"{f'reading {i}':<17} {i} V" for i in range(4)]
    assert made[3] == [f"{f'reading {i}':<17} {i} V" for i in (4, 5)]
    first = page_lines(made, 0, now)
    assert first[0] == "wisgate 12:34:56  1/4" and page_lines(made, 4, now) == first  # pages wrap
    # the page count stays whole on the panel's 21 columns, however many pages there are
    many = [["x"]] * 12
    assert page_lines(many, 2, now)[0] == "wisgate 12:34:56 3/12"
    assert page_lines(many, 10, now)[0] == "12:34:56        11/12"
    assert all(len(page_lines([["x"]] * n, i, now)[0]) == 21 for n in (1, 9, 10, 99, 100) for i in range(n))
    assert all(len(line) <= 21 for page in made for line in page)
    lost = failed("adc.error", "adc", "adc", 0.0, "no acknowledge")
    assert row_text(lost) == f"adc{'':12}{'ERROR':>6}"


def test_alarms_come_first() -> None:
    state = BoardState()
    state.fan = FanState(70.0, 100.0, 0.0, "closed-loop", "stalled or unplugged", 0.0)
    state.environment = EnvironmentState(71.0, 40.0, ("pcb.temperature",), 0.0)
    made = pages(state, host=lambda: ["gw"])
    assert made[0] == ["ALARM", "fan stalled or unplugg"[:21], "high pcb.temperature"]


def test_ipv4_addresses_of_this_machine_leave_loopback_out() -> None:
    assert all(name != "lo" and address.count(".") == 3 for name, address in ipv4_addresses())


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
            shown.append(model.display_on and model.screen().lit() > 0)

        loop.call_later(0.5, look)
        loop.call_later(0.7, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    assert shown == [True]
    assert not model.display_on  # asleep after shutdown
    assert model.ram_frame() == render_text(["", "  SYSTEM SHUTDOWN"])
    assert all(s.restarts == 0 for s in supervisor.services)


def test_the_panel_blanks_when_idle_and_an_event_wakes_it() -> None:
    target = open_target("sim")
    assert isinstance(target, SimTarget)
    model = target.board.models["oled"]
    assert isinstance(model, SSD1306Model)
    supervisor = Supervisor(target)
    supervisor.add("display", display_service(0.05, blank_after_s=0.3))
    looks: list[bool] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(0.15, lambda: looks.append(model.display_on))
        loop.call_later(0.6, lambda: looks.append(model.display_on))
        loop.call_later(0.7, lambda: supervisor.context.publish(EventKind.SUPPLY_LOST, "power", "test"))
        loop.call_later(0.9, lambda: looks.append(model.display_on))
        loop.call_later(1.0, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    assert looks == [True, False, True]
