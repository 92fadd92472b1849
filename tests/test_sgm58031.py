"""SGM58031 ADC: driver against the model, exact codes, timing, continuous mode, comparator, faults."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wisgate.chips.sgm58031 import FULL_SCALES, RATES, SGM58031, Comparator
from wisgate.clock import SimClock
from wisgate.errors import BusTimeoutError, ChipTimeoutError, ConfigError, NackError, NoDeviceError, WrongChipError
from wisgate.sim.board import SimBoard
from wisgate.sim.bus import SimI2CBus
from wisgate.sim.chips.sgm58031 import SGM58031Model
from wisgate.sim.device import I2CModel

ADC = 0x4B


def adc(board: SimBoard, **kwargs: float) -> SGM58031:
    return SGM58031(board.bus, ADC, clock=board.clock, **kwargs)


def model(board: SimBoard) -> SGM58031Model:
    chip = board.models["adc"]
    assert isinstance(chip, SGM58031Model)
    return chip


def reg(board: SimBoard, pointer: int) -> int:
    return int.from_bytes(board.bus.write_read(ADC, [pointer], 2), "big")


def alert_levels(board: SimBoard) -> list[bool]:
    return [level for _, level in board.lines.line("adc.ALERT").history]


# -- registers ---------------------------------------------------------------------------------


def test_power_on_registers(board: SimBoard) -> None:
    assert [reg(board, p) for p in range(7)] == [0x0000, 0x8583, 0x8000, 0x7FFF, 0x0000, 0x0080, 0x0000]


def test_open_checks_the_chip_id(board: SimBoard) -> None:
    assert SGM58031.open(board.bus, ADC, clock=board.clock).read_chip_id() == 0x0080


def test_open_rejects_another_chip(board: SimBoard) -> None:
    board.bus.attach(I2CModel(board.clock, 0x48))  # answers 0xFFFF everywhere
    with pytest.raises(WrongChipError, match=r"SGM58031 at 0x48: Chip ID register reads 0xFFFF"):
        SGM58031.open(board.bus, 0x48, clock=board.clock)


def test_read_without_pointer_reads_the_last_selected_register(board: SimBoard) -> None:
    assert board.bus.write_read(ADC, [3], 2) == b"\x7f\xff"
    assert board.bus.read(ADC, 2) == b"\x7f\xff"
    board.bus.write(ADC, [5])
    assert board.bus.read(ADC, 2) == b"\x00\x80"


def test_register_updates_only_on_its_second_byte(board: SimBoard) -> None:
    board.bus.write(ADC, [2, 0x12])
    assert reg(board, 2) == 0x8000
    board.bus.write(ADC, [2, 0x12, 0x34, 0x56])
    assert reg(board, 2) == 0x1234


def test_read_only_registers_and_reserved_bits(board: SimBoard) -> None:
    board.bus.write(ADC, [5, 0x12, 0x34])
    board.bus.write(ADC, [0, 0x12, 0x34])
    board.bus.write(ADC, [4, 0xFF, 0xFF])
    assert reg(board, 5) == 0x0080
    assert reg(board, 0) == 0x0000
    assert reg(board, 4) == 0x01F8


def test_unknown_pointer_is_nacked(board: SimBoard) -> None:
    with pytest.raises(NackError) as info:
        board.bus.write(ADC, [7])
    assert not isinstance(info.value, NoDeviceError)


# -- conversions -------------------------------------------------------------------------------


def test_exact_code_for_1v234_on_ain1(board: SimBoard) -> None:
    board.env.analog.set_volts(1, 1.234)
    dev = adc(board)
    # LSB = 2.048 V / 32768 = 62.5 µV; 1.234 V / 62.5 µV = 19744 = 0x4D20
    assert dev.read_raw(1, gain=2.048) == 19744
    assert reg(board, 0) == 0x4D20
    assert dev.read_volts(1, gain=2.048) == pytest.approx(1.234, abs=1e-9)


@pytest.mark.parametrize(
    ("gain", "code"),
    [(6.144, 5333), (4.096, 8000), (2.048, 16000), (1.024, 32000), (0.512, 32767), (0.256, 32767)],
)
def test_every_gain_for_one_volt(board: SimBoard, gain: float, code: int) -> None:
    board.env.analog.set_volts(2, 1.0)
    assert adc(board).read_raw(2, gain=gain) == code


def test_saturation_at_both_ends(board: SimBoard) -> None:
    board.env.analog.set_volts(0, 3.0)
    board.env.analog.set_volts(1, 0.0)
    dev = adc(board)
    assert dev.read_raw((0, 1), gain=2.048) == 32767
    assert dev.read_raw(1, gain=2.048) == 0
    board.env.analog.set_volts(0, 0.0)
    board.env.analog.set_volts(1, 3.0)
    assert dev.read_raw((0, 1), gain=2.048) == -32768
    assert reg(board, 0) == 0x8000


def test_differential_pairs(board: SimBoard) -> None:
    board.env.analog.set_volts(0, 2.0)
    board.env.analog.set_volts(1, 0.5)
    board.env.analog.set_volts(2, 0.25)
    board.env.analog.set_volts(3, 1.0)
    dev = adc(board, gain=4.096)
    assert dev.read_volts((0, 1)) == pytest.approx(1.5)
    assert dev.read_volts((0, 3)) == pytest.approx(1.0)
    assert dev.read_raw((1, 3)) == -4000
    assert dev.read_volts((2, 3)) == pytest.approx(-0.75)
    assert [dev.read_volts(ch) for ch in range(4)] == pytest.approx([2.0, 0.5, 0.25, 1.0])


def test_invalid_channel_gain_and_rate(board: SimBoard) -> None:
    dev = adc(board)
    with pytest.raises(ConfigError, match="AIN1-AIN2"):
        dev.read_raw((1, 2))
    with pytest.raises(ConfigError, match="channel 4"):
        dev.read_raw(4)
    with pytest.raises(ConfigError, match="gain"):
        dev.read_raw(0, gain=3.0)
    with pytest.raises(ConfigError, match="860"):
        dev.read_raw(0, rate=860)


def test_conversion_averages_the_input_over_its_period(board: SimBoard) -> None:
    start = board.clock.monotonic()
    # 0 V for the first half of the 10 ms conversion, 1 V for the second half
    board.env.analog.set_volts(0, lambda t: 1.0 if t >= start + 0.005 else 0.0)
    assert adc(board).read_volts(0, gain=2.048, rate=100) == pytest.approx(0.5, abs=1e-3)


# -- timing ------------------------------------------------------------------------------------


def test_os_reads_zero_while_converting(board: SimBoard) -> None:
    board.bus.write(ADC, [1, 0xC5, 0x83])  # OS=1, AIN0, ±2.048 V, single-shot, 100 SPS
    assert reg(board, 1) == 0x4583
    board.advance(0.0095)
    assert reg(board, 1) & 0x8000 == 0
    board.advance(0.0005)
    assert reg(board, 1) == 0xC583


def test_writing_os_while_converting_has_no_effect(board: SimBoard) -> None:
    board.env.analog.set_volts(0, 1.0)
    board.bus.write(ADC, [1, 0xC5, 0x83])
    board.advance(0.006)
    board.bus.write(ADC, [1, 0xC5, 0x83])
    board.advance(0.0045)
    assert reg(board, 1) & 0x8000
    assert model(board).results[-1][1] == 16000
    assert len(model(board).results) == 1


@pytest.mark.parametrize("rate", RATES)
def test_single_shot_takes_one_period(board: SimBoard, rate: float) -> None:
    dev = adc(board)
    start = board.clock.monotonic()
    dev.read_raw(0, rate=rate)
    elapsed = board.clock.monotonic() - start
    # the conversion itself plus a handful of bus transfers (~0.1 ms each) and poll steps
    assert 1 / rate <= elapsed < 1 / rate + 0.0015


def test_dr_sel_picks_the_second_rate_table(board: SimBoard) -> None:
    dev = adc(board)
    dev.read_raw(0, rate=960)
    assert reg(board, 4) == 0x0080
    assert (reg(board, 1) >> 5) & 7 == 7
    dev.read_raw(0, rate=6.25)
    assert reg(board, 4) == 0x0000
    assert model(board).period() == pytest.approx(0.16)


def test_legacy_fixed_wait_shorter_than_a_conversion_reads_the_previous_result(board: SimBoard) -> None:
    # RAK's old test: Config with OS=1, DR code 100 ("128 SPS"), sleep 7.9 ms, read without polling
    board.env.analog.set_volts(0, 1.0)
    adc(board).read_raw(0)
    board.env.analog.set_volts(0, 0.5)
    board.bus.write(ADC, [1, 0xC5, 0x83])
    board.advance(1 / 128 + 0.0001)
    assert reg(board, 0) == 16000  # still the 1.0 V result
    board.advance(0.0025)
    assert reg(board, 0) == 8000


def test_stopped_oscillator_times_out(board: SimBoard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model(board), "period", lambda: 1.0)
    start = board.clock.monotonic()
    with pytest.raises(ChipTimeoutError, match="SGM58031 at 0x4B: conversion not done"):
        adc(board).read_raw(0, rate=100)
    assert board.clock.monotonic() - start < 0.02


# -- continuous mode ---------------------------------------------------------------------------


def test_continuous_mode_follows_the_input(board: SimBoard) -> None:
    board.env.analog.set_volts(3, lambda t: 0.1 * t)
    dev = adc(board, gain=4.096, rate=200)
    dev.start_continuous(3)
    assert reg(board, 1) & 0x8000 == 0  # always converting
    board.advance(10.0)
    now = board.clock.monotonic()
    # the newest finished conversion averaged the ramp over the 5 ms before it ended
    assert dev.read_latest_volts() == pytest.approx(0.1 * now, abs=0.1 * 0.005 + 1.25e-4)
    dev.stop_continuous()
    board.advance(0.006)
    assert reg(board, 1) & 0x8100 == 0x8100  # single-shot mode, powered down
    count = len(model(board).results)
    board.advance(0.1)
    assert len(model(board).results) == count


def test_read_too_early_after_a_channel_change_is_stale(board: SimBoard) -> None:
    board.env.analog.set_volts(0, 1.0)
    board.env.analog.set_volts(1, 0.25)
    dev = adc(board, gain=2.048, rate=100)
    dev.start_continuous(0)
    assert dev.read_latest_volts() == pytest.approx(1.0)
    board.advance(0.004)  # part way into a conversion of AIN0
    dev.start_continuous(1, settle=False)
    assert dev.read_latest_volts() == pytest.approx(1.0)
    board.advance(0.0065)  # the AIN0 conversion ended; the AIN1 one is running
    assert dev.read_latest_volts() == pytest.approx(1.0)
    board.advance(0.010)
    assert dev.read_latest_volts() == pytest.approx(0.25)


def test_linux_ads1115_wait_can_be_too_short(board: SimBoard) -> None:
    # Linux ti-ads1015 sleeps 1/DR_old + 1/DR_new + 10 % from the ADS1115 table (128 SPS at DR code 4):
    # 17.2 ms, less than the SGM58031's worst case of two 10 ms periods
    board.env.analog.set_volts(0, 1.0)
    board.env.analog.set_volts(1, 0.25)
    board.bus.write(ADC, [1, 0x44, 0x83])  # continuous, AIN0, ±2.048 V, DR code 4
    board.advance(0.0101)  # a conversion just ended; the next one of AIN0 has begun
    board.bus.write(ADC, [1, 0x54, 0x83])  # AIN1
    board.advance((2 / 128) * 1.1)
    assert reg(board, 0) == 16000  # still AIN0
    board.advance(0.003)
    assert reg(board, 0) == 4000


def test_start_continuous_settles_on_the_new_channel(board: SimBoard) -> None:
    board.env.analog.set_volts(0, 1.0)
    board.env.analog.set_volts(1, 0.25)
    dev = adc(board, gain=2.048, rate=100)
    dev.start_continuous(0)
    board.advance(0.004)
    dev.start_continuous(1)
    assert dev.read_latest_volts() == pytest.approx(0.25)


def test_single_shot_after_continuous_is_fresh(board: SimBoard) -> None:
    board.env.analog.set_volts(0, 1.0)
    board.env.analog.set_volts(2, 0.5)
    dev = adc(board, gain=2.048)
    dev.start_continuous(0)
    assert dev.read_volts(2) == pytest.approx(0.5)


def test_long_idle_in_continuous_mode_is_cheap(board: SimBoard) -> None:
    board.env.analog.set_volts(0, 0.75)
    dev = adc(board, rate=960)
    dev.start_continuous(0)
    board.advance(3600.0)
    assert dev.read_latest_volts() == pytest.approx(0.75, abs=1e-4)


# -- comparator --------------------------------------------------------------------------------


def _profile(board: SimBoard, steps: list[tuple[float, float]]) -> float:
    """AIN0 follows (seconds from now, volts) steps; returns the start time."""
    start = board.clock.monotonic()

    def source(t: float) -> float:
        volts = steps[0][1]
        for at, value in steps:
            if t - start >= at:
                volts = value
        return volts

    board.env.analog.set_volts(0, source)
    return start


def test_thresholds_are_written_as_codes(board: SimBoard) -> None:
    dev = adc(board, gain=2.048)
    dev.set_comparator(Comparator(low=0.5, high=1.0))
    assert dev.thresholds() == (8000, 16000)
    assert reg(board, 1) & 0x1F == 0b00000
    with pytest.raises(ConfigError, match="above"):
        dev.set_comparator(Comparator(low=1.0, high=0.5))
    with pytest.raises(ConfigError, match="queue 3"):
        dev.set_comparator(Comparator(low=0.0, high=0.5, queue=3))


def test_traditional_comparator_has_hysteresis(board: SimBoard) -> None:
    _profile(board, [(0, 0.2), (0.1, 1.2), (0.2, 0.7), (0.3, 0.3)])
    dev = adc(board, gain=2.048, rate=800)
    dev.set_comparator(Comparator(low=0.5, high=1.0))
    dev.start_continuous(0)
    line = board.lines.line("adc.ALERT")
    board.advance(0.09)
    assert line.read() is True
    board.advance(0.02)
    assert line.read() is False  # above Hi: asserted (active low)
    board.advance(0.1)
    assert line.read() is False  # between Lo and Hi: stays asserted
    board.advance(0.1)
    assert line.read() is True  # below Lo: released
    assert alert_levels(board) == [True, False, True]


def test_window_comparator_polarity_high(board: SimBoard) -> None:
    _profile(board, [(0, 0.7), (0.1, 0.2), (0.2, 0.7), (0.3, 1.5)])
    dev = adc(board, gain=2.048, rate=800)
    dev.set_comparator(Comparator(low=0.5, high=1.0, window=True, active_high=True))
    dev.start_continuous(0)
    line = board.lines.line("adc.ALERT")
    board.advance(0.09)
    assert line.read() is False
    board.advance(0.02)
    assert line.read() is True  # below the window
    board.advance(0.1)
    assert line.read() is False  # inside again
    board.advance(0.1)
    assert line.read() is True  # above


def test_latching_comparator_holds_until_the_conversion_is_read(board: SimBoard) -> None:
    _profile(board, [(0, 0.2), (0.1, 1.2), (0.2, 0.2)])
    dev = adc(board, gain=2.048, rate=800)
    dev.set_comparator(Comparator(low=0.5, high=1.0, latching=True))
    dev.start_continuous(0)
    line = board.lines.line("adc.ALERT")
    board.advance(0.15)
    assert line.read() is False
    board.advance(0.1)
    assert line.read() is False  # back below Lo, still latched
    assert dev.read_latest_volts() == pytest.approx(0.2)
    assert line.read() is True


def test_queue_needs_consecutive_conversions(board: SimBoard) -> None:
    start = _profile(board, [(0, 0.2), (0.1, 1.2)])
    dev = adc(board, gain=2.048, rate=100)
    dev.set_comparator(Comparator(low=0.5, high=1.0, queue=4))
    dev.start_continuous(0)
    board.advance(0.3)
    history = board.lines.line("adc.ALERT").history
    assert [level for _, level in history] == [True, False]
    over = [t for t, code in model(board).results if code > 16000]
    assert history[1][0] == pytest.approx(over[3])
    assert over[0] - start == pytest.approx(0.1, abs=0.011)


def test_conversion_ready_in_single_shot(board: SimBoard) -> None:
    dev = adc(board)
    dev.enable_conversion_ready()
    assert reg(board, 2) == 0x0000
    assert reg(board, 3) == 0x8000
    line = board.lines.line("adc.ALERT")
    assert line.read() is True
    dev.read_raw(0)
    assert line.read() is False  # ready (active low) until the next start
    board.bus.write(ADC, [1, 0xC5, 0x80])
    assert line.read() is True
    board.advance(0.011)
    assert line.read() is False


def test_conversion_ready_pulses_in_continuous_mode(board: SimBoard) -> None:
    dev = adc(board, rate=100)
    dev.enable_conversion_ready()
    dev.start_continuous(0, settle=False)
    start = board.clock.monotonic()
    board.advance(0.1)
    history = [(t, level) for t, level in board.lines.line("adc.ALERT").history if t > start]
    falls = [t for t, level in history if not level]
    rises = [t for t, level in history if level]
    assert len(falls) == len(rises) == 10
    assert all(r - f == pytest.approx(8e-6) for f, r in zip(falls, rises, strict=True))
    assert falls[1] - falls[0] == pytest.approx(0.01)


def test_disabled_comparator_leaves_alert_high(board: SimBoard) -> None:
    board.env.analog.set_volts(0, 1.5)
    dev = adc(board, gain=2.048)
    dev.set_comparator(Comparator(low=0.5, high=1.0))
    dev.read_raw(0)
    assert board.lines.line("adc.ALERT").read() is False
    dev.disable_comparator()
    assert board.lines.line("adc.ALERT").read() is True
    assert reg(board, 1) & 3 == 3


# -- faults ------------------------------------------------------------------------------------


def test_vanished_adc_raises_no_device(board: SimBoard) -> None:
    board.bus.faults.vanish(ADC)
    with pytest.raises(NoDeviceError, match="0x4B"):
        adc(board).read_volts(0)


def test_bus_timeout_surfaces(board: SimBoard) -> None:
    board.bus.faults.timeout(ADC, count=1)
    with pytest.raises(BusTimeoutError, match="0x4B"):
        adc(board).read_volts(0)
    board.env.analog.set_volts(0, 0.5)
    assert adc(board).read_volts(0) == pytest.approx(0.5)


def test_alternative_address(board: SimBoard) -> None:
    moved = SimBoard(addresses={"adc": 0x48})
    moved.env.analog.set_volts(1, 1.0)
    assert SGM58031.open(moved.bus, 0x48, clock=moved.clock).read_volts(1) == pytest.approx(1.0)
    assert ADC not in moved.bus.scan()


# -- any voltage, any gain ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    gain=st.sampled_from(FULL_SCALES),
    fraction=st.floats(-1.0, 32767 / 32768),
    rate=st.sampled_from(RATES),
)
def test_any_voltage_round_trips_within_one_lsb(gain: float, fraction: float, rate: float) -> None:
    clock = SimClock()
    bus = SimI2CBus(clock)
    volts = fraction * gain
    bus.attach(SGM58031Model(clock, ADC, volts=lambda ch, t: volts if ch == 2 else 0.0))
    dev = SGM58031(bus, ADC, clock=clock)
    assert abs(dev.read_volts(2, gain=gain, rate=rate) - volts) <= gain / 32768
    assert abs(dev.read_volts((2, 3), gain=gain, rate=rate) - volts) <= gain / 32768
