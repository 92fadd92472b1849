"""The CM4's own GPIO lines for a target: simulated lines on the simulated board, libgpiod on Linux."""

from __future__ import annotations

from wisgate.bus.gpio import LineProvider
from wisgate.runtime import Target


def line_provider(target: Target) -> LineProvider:
    if target.sim is not None:
        return target.sim.lines
    from wisgate.bus.gpiod_lines import GpiodLines

    return GpiodLines()
