"""Apply a configured scenario to the simulated board: CPU load, ambient, supply cuts, analog inputs."""

from __future__ import annotations

from collections.abc import Sequence

from wisgate.sim.board import SimBoard
from wisgate.sim.environment import VoltageSource


def supply_with_cuts(nominal: float, cuts: Sequence[tuple[float, float]], start: float) -> VoltageSource:
    """The input voltage over time: ``nominal``, or 0 V during each (start_s, duration_s) after ``start``."""
    windows = [(start + at, start + at + length) for at, length in cuts]

    def volts(t: float) -> float:
        return 0.0 if any(a <= t < b for a, b in windows) else nominal

    return volts


def apply_scenario(
    board: SimBoard,
    *,
    cpu_load: float,
    ambient_c: float,
    supply_cuts: Sequence[tuple[float, float]] = (),
    analog: dict[int, float] | None = None,
) -> None:
    board.cpu.load = cpu_load
    board.env.climate.ambient_c = ambient_c
    if supply_cuts:
        supply = board.env.supply
        supply.profile = supply_with_cuts(supply.nominal, supply_cuts, board.clock.monotonic())
    for channel, volts in (analog or {}).items():
        board.env.analog.set_volts(channel, volts)
