"""Bus bytes of an OLED status-screen update versus a full frame, on the simulated board (goal ≤ 25 %).

A four-line status screen whose clock ticks and whose temperature changes now and then: each update
is measured with the simulated bus's wire-byte counter (address bytes included), as is a full frame
(what luma.oled's ssd1306 sends for every update).

Run: .venv/bin/python bench/oled_bytes.py [updates]
"""

from __future__ import annotations

import statistics
import sys

from wisgate.chips.ssd1306 import SSD1306, render_text
from wisgate.chips.ssd1306_plan import Pointer
from wisgate.sim.board import SimBoard

GOAL = 0.25


def screen(second: int, temperature: float) -> list[str]:
    minutes, seconds = divmod(second, 60)
    return ["WisGate RAK7391", f"12:{minutes:02d}:{seconds:02d}", f"PCB {temperature:.1f} °C", "fan 1200 rpm"]


def main() -> None:
    updates = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    board = SimBoard()
    oled = SSD1306(board.bus, board.addresses["oled"], clock=board.clock)
    oled.init()
    stats = board.bus.stats[board.addresses["oled"]]

    # a full frame with nothing known about the controller: window commands + 1024 data bytes
    oled.shadow, oled.pointer = None, Pointer()
    before = stats.wire_bytes
    oled.show(render_text(screen(0, 41.2)))
    full = stats.wire_bytes - before

    costs = []
    for second in range(1, updates + 1):
        temperature = 41.2 + 0.1 * (second // 7 % 5)  # changes every 7 s
        before = stats.wire_bytes
        oled.show(render_text(screen(second, temperature)))
        costs.append(stats.wire_bytes - before)
    typical = statistics.median(costs)
    print(f"full frame: {full} bytes on the bus ({full * 9 / 400:.1f} ms at 400 kHz)")
    print(
        f"status-screen update over {updates} s: median {typical:.0f} bytes, mean {statistics.mean(costs):.1f}, "
        f"max {max(costs)} (temperature and minute changes included)"
    )
    ratio = typical / full
    print(f"ratio median/full: {ratio:.1%}; worst update/full: {max(costs) / full:.1%} (goal ≤ {GOAL:.0%})")
    if ratio > GOAL:
        sys.exit("goal missed")


if __name__ == "__main__":
    main()
