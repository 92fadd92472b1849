"""A configured scenario drives the simulated board, and the daemon reacts as it would on the board."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from wisgate.chips.sgm58031 import SGM58031
from wisgate.sim.board import SimBoard
from wisgate.sim.scenario import apply_scenario, supply_with_cuts


def test_supply_profile_cuts_at_the_configured_times() -> None:
    volts = supply_with_cuts(12.0, [(2.0, 1.5)], start=10.0)
    assert [volts(t) for t in (11.9, 12.0, 13.4, 13.5)] == [12.0, 0.0, 0.0, 12.0]


def test_scenario_sets_load_ambient_and_analog_inputs() -> None:
    board = SimBoard()
    apply_scenario(board, cpu_load=0.9, ambient_c=40.0, supply_cuts=[(1.0, 0.5)], analog={1: 1.8})
    assert board.cpu.load == 0.9 and board.env.climate.ambient_c == 40.0
    adc = SGM58031.open(board.bus, 0x4B, clock=board.clock)
    assert adc.read_volts(1, gain=2.048) == pytest.approx(1.8, abs=0.001)
    line = board.lines.line("GPIO16")
    board.advance(1.2)
    assert line.read() is False
    board.advance(0.5)
    assert line.read() is True


def test_daemon_rides_through_a_configured_cut(tmp_path: Path) -> None:
    config = tmp_path / "wisgate.toml"
    config.write_text(
        "[display]\nenabled = false\n[lora]\nenabled = false\n[api]\nenabled = false\n"
        "[sim]\nsupply_cuts = [[1.5, 1.0]]\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "wisgate", "run", "--sim", "--config", str(config), "--duration", "4"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    log = proc.stdout + proc.stderr
    assert "power supply lost: running on the ultracapacitors" in log
    back = re.search(r"power supply back after ([0-9.]+) s", log)
    assert back and float(back.group(1)) == pytest.approx(1.0, abs=0.1), log
