"""``wisgate gpio``, ``wisgate adc`` and the expander/ADC rows of ``wisgate status`` on the simulated board."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import wisgate.commands._options as options
from wisgate.cli import cli
from wisgate.services.readings import format_value
from wisgate.services.status import read_status
from wisgate.sim.board import SimBoard
from wisgate.sim.chips.tpt29555 import TPT29555Model
from wisgate.sim.target import SimTarget


@pytest.fixture
def target(board: SimBoard, monkeypatch: pytest.MonkeyPatch) -> SimTarget:
    """The commands run against this board, which the test prepares."""
    prepared = SimTarget(board)
    monkeypatch.setattr(options, "open_target", lambda *_args, **_kwargs: prepared)
    return prepared


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_adc_prints_every_channel_in_volts(board: SimBoard, target: SimTarget) -> None:
    for channel, volts in enumerate((0.5, 1.234, 2.0, 3.3)):
        board.env.analog.set_volts(channel, volts)
    out = run("adc", "--sim")
    assert "±4.096 V, 100 SPS" in out
    for channel, volts in enumerate(("0.50000", "1.23400", "2.00000", "3.30000")):
        assert f"AIN{channel}         {volts} V" in out


def test_adc_one_channel_gain_rate_and_rak5801_current(board: SimBoard, target: SimTarget) -> None:
    board.env.analog.set_current_loop(1, 12.0)  # 12 mA through 149.9 ohm = 1.7988 V -> code 28781
    start = board.clock.monotonic()
    out = run("adc", "--sim", "--channel", "1", "--gain", "2.048", "--rate", "960", "--rak5801")
    assert "AIN1         1.79881 V   12.000 mA" in out
    assert "AIN0" not in out
    assert board.clock.monotonic() - start < 0.005  # one 1.04 ms conversion at 960 SPS


def test_adc_differential_and_saturation(board: SimBoard, target: SimTarget) -> None:
    board.env.analog.set_volts(0, 3.0)
    board.env.analog.set_volts(3, 1.0)
    assert "AIN0-AIN3    2.00000 V" in run("adc", "--sim", "--channel", "0-3")
    assert "AIN0         1.02397 V" in run("adc", "--sim", "--channel", "0", "--gain", "1.024")


def test_adc_rejects_a_gain_the_chip_lacks() -> None:
    result = CliRunner().invoke(cli, ["adc", "--sim", "--gain", "3"])
    assert result.exit_code == 2
    assert "'3' is not one of" in result.output


def test_gpio_reads_both_expanders(board: SimBoard, target: SimTarget) -> None:
    expander2 = board.models["expander2"]
    assert isinstance(expander2, TPT29555Model)
    expander2.set_input(12, False)
    out = run("gpio", "--sim")
    assert "expander1 (0x27)" in out and "expander2 (0x26)" in out
    assert "   6  IO0_6  in   1  LED IO0_6" in out
    assert "  12  IO1_4  in   0  WisBlock 2 relay / DO" in out


def test_gpio_drives_one_pin_and_reads_it_back(board: SimBoard, target: SimTarget) -> None:
    out = run("gpio", "--sim", "--expander", "0x27", "6", "0")
    assert "expander1 (0x27) pin 6 (IO0_6, LED IO0_6): driven 0, reads 0" in out
    assert board.loads.leds()["LED IO0_6"] is True
    assert "pin 6 (IO0_6, LED IO0_6): 0 (output)" in run("gpio", "--sim", "--expander", "expander1", "6")


def test_gpio_one_pin_defaults_to_the_wisblock_expander(board: SimBoard, target: SimTarget) -> None:
    run("gpio", "--sim", "4", "1")
    assert board.loads.slot(1).relay_on is True
    assert "expander2 (0x26) pin 9 (IO1_1, WisBlock 2 module enable): 1 (input)" in run("gpio", "--sim", "9")


def test_gpio_unknown_expander_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["gpio", "--sim", "--expander", "0x30"])
    assert result.exit_code == 2
    assert "use one of 0x27 (expander1), 0x26 (expander2)" in result.output


def test_gpio_missing_expander_is_one_error_line(board: SimBoard, target: SimTarget) -> None:
    board.bus.faults.vanish(0x26)
    result = CliRunner().invoke(cli, ["gpio", "--sim", "3"])
    assert result.exit_code != 0
    assert "0x26" in str(result.exception)


def test_status_rows_for_adc_and_expanders(board: SimBoard, target: SimTarget) -> None:
    board.env.analog.set_volts(2, 1.5)
    expander1 = board.models["expander1"]
    assert isinstance(expander1, TPT29555Model)
    expander1.set_input(0, False)
    readings = {row.name: row for row in read_status(target)}
    assert format_value(readings["adc.ain2"]) == "1.5000 V"
    assert readings["adc.ain2"].number == pytest.approx(1.5, abs=1e-3)
    assert format_value(readings["adc.ain0"]) == "0.0000 V"
    assert readings["expander1.port0"].value == "11111110"
    assert readings["expander2.port1"].value == "11111111"


def test_status_reports_a_missing_adc_as_one_row(board: SimBoard, target: SimTarget) -> None:
    board.bus.faults.vanish(0x4B)
    rows = [row for row in read_status(target) if row.source == "adc"]
    assert len(rows) == 1
    assert not rows[0].ok and rows[0].value is None
    assert "0x4B" in (rows[0].error or "")
