"""GPIO lines: simulated lines (levels, edges, history) and the Linux backend's line names."""

from __future__ import annotations

import pytest

from wisgate.bus.gpiod_lines import parse_line_name
from wisgate.errors import UnsupportedError
from wisgate.sim.board import SimBoard


def test_power_fail_line_follows_the_supply(board: SimBoard) -> None:
    edges: list[tuple[bool, float]] = []
    line = board.lines.line("GPIO16")
    line.on_edge(lambda level, t: edges.append((level, t)))
    assert line.read() is True
    board.advance(1.0)
    board.env.supply.cut()
    board.advance(0.05)
    assert line.read() is False
    board.env.supply.restore()
    board.advance(0.05)
    assert [level for level, _ in edges] == [False, True]
    assert edges[0][1] == pytest.approx(1.05, abs=0.06)


def test_ultracapacitors_ride_through_then_brown_out(board: SimBoard) -> None:
    supply = board.env.supply
    board.advance(60)
    assert supply.cap_volts == pytest.approx(supply.cap_full, abs=0.01)
    supply.cut()
    board.advance(1.0)
    assert supply.powered
    # constant power P from C: (V0^2 - Vmin^2) * C / (2P) seconds of hold-up
    hold_up = (supply.cap_full**2 - supply.cap_min**2) * supply.cap_farads / (2 * supply.load_watts)
    board.advance(hold_up - 1.0 - 0.2)
    assert supply.powered
    board.advance(0.4)
    assert not supply.powered


def test_unknown_line_names_the_known_ones(board: SimBoard) -> None:
    with pytest.raises(KeyError, match="GPIO16"):
        board.lines.line("GPIO99")


def test_input_line_refuses_write_on_base_class() -> None:
    from wisgate.bus.gpio import GpioLine

    class Input(GpioLine):
        name = "in"

        def read(self) -> bool:
            return True

    with pytest.raises(UnsupportedError, match="input"):
        Input().write(True)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [("GPIO16", (None, 16)), ("GPIO13", (None, 13)), ("1-0027:6", ("1-0027", 6))],
)
def test_linux_line_names(name: str, parsed: tuple[str | None, int]) -> None:
    assert parse_line_name(name) == parsed


def test_bad_line_name() -> None:
    with pytest.raises(ValueError, match="neither GPIO<n>"):
        parse_line_name("pin 16")
