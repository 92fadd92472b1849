"""PCF85063A driver against its model: time, calendar, STOP, OS, alarm + INT, timer, CLKOUT, offset, reset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wisgate.chips.pcf85063a import (
    PCF85063A,
    ClkoutFrequency,
    OscillatorStoppedError,
    TimerSource,
)
from wisgate.clock import SimClock
from wisgate.errors import BusStuckError, BusTimeoutError, ChipError, NoDeviceError
from wisgate.sim.board import SimBoard
from wisgate.sim.bus import SimI2CBus
from wisgate.sim.chips.pcf85063a import PCF85063AModel
from wisgate.sim.lines import SimLine

START = datetime(2026, 11, 25, 12, 0, 0)


@dataclass
class Rig:
    """A bus with only the RTC: no board physics, so days of simulated time cost milliseconds."""

    clock: SimClock
    bus: SimI2CBus
    line: SimLine
    model: PCF85063AModel
    rtc: PCF85063A

    def low_times(self) -> list[float]:
        return [t for t, level in self.line.history if not level]

    def high_times(self) -> list[float]:
        return [t for t, level in self.line.history[1:] if level]


def make_rig(start: datetime | None = START) -> Rig:
    clock = SimClock()
    bus = SimI2CBus(clock)
    line = SimLine(clock, "rtc.INT")
    model = PCF85063AModel(clock, 0x51, interrupt=line)
    bus.attach(model)
    if start is not None:
        model.set_time(start)  # next tick exactly 1 s from now (t = 1.0)
    return Rig(clock, bus, line, model, PCF85063A(bus, clock=clock))


@pytest.fixture
def rig() -> Rig:
    return make_rig()


# ---- time and calendar --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)),
    twelve=st.booleans(),
)
def test_set_and_read_round_trip(when: datetime, twelve: bool) -> None:
    rig = make_rig()
    rig.rtc.set_twelve_hour(twelve)
    rig.rtc.set_time(when)
    assert rig.rtc.read_time() == when.replace(microsecond=0)
    assert rig.model.regs[0x08] == (when.weekday() + 1) % 7


def test_set_time_writes_seven_bytes_under_stop(rig: Rig) -> None:
    seen: list[bytes] = []
    rig.bus.listeners.append(lambda msgs: seen.extend(m.data for m in msgs if hasattr(m, "data")))
    rig.rtc.set_time(datetime(2031, 7, 4, 21, 5, 9))
    assert seen[-3:] == [b"\x00\x20", bytes([0x04, 0x09, 0x05, 0x21, 0x04, 0x05, 0x07, 0x31]), b"\x00\x00"]


def test_set_time_converts_aware_datetimes_to_utc(rig: Rig) -> None:
    from datetime import timezone

    rig.rtc.set_time(datetime(2030, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=2))))
    assert rig.rtc.read_time() == datetime(2030, 1, 1, 7, 0)


@pytest.mark.parametrize("year", [1999, 2100])
def test_years_outside_the_chip_range_are_refused(rig: Rig, year: int) -> None:
    with pytest.raises(ValueError, match="2000-2099"):
        rig.rtc.set_time(datetime(year, 6, 1))


def test_first_tick_comes_half_a_second_after_stop_is_released(rig: Rig) -> None:
    rig.rtc.set_time(datetime(2030, 5, 5, 5, 5, 5))
    rig.clock.advance(0.50)
    assert rig.rtc.read_time().second == 5
    rig.clock.advance(0.01)
    assert rig.rtc.read_time().second == 6
    rig.clock.advance(1.0)
    assert rig.rtc.read_time().second == 7


@pytest.mark.parametrize(
    ("start", "expected", "weekday"),
    [
        (datetime(2026, 11, 25, 12, 0, 59), datetime(2026, 11, 25, 12, 1, 0), 3),
        (datetime(2026, 11, 25, 12, 59, 59), datetime(2026, 11, 25, 13, 0, 0), 3),
        (datetime(2026, 11, 25, 23, 59, 59), datetime(2026, 11, 26, 0, 0, 0), 4),
        (datetime(2026, 4, 30, 23, 59, 59), datetime(2026, 5, 1, 0, 0, 0), 5),
        (datetime(2026, 12, 31, 23, 59, 59), datetime(2027, 1, 1, 0, 0, 0), 5),
        (datetime(2024, 2, 28, 23, 59, 59), datetime(2024, 2, 29, 0, 0, 0), 4),
        (datetime(2024, 2, 29, 23, 59, 59), datetime(2024, 3, 1, 0, 0, 0), 5),
        (datetime(2023, 2, 28, 23, 59, 59), datetime(2023, 3, 1, 0, 0, 0), 3),
        (datetime(2000, 2, 28, 23, 59, 59), datetime(2000, 2, 29, 0, 0, 0), 2),
        # years wrap 99 -> 00; the weekday counter just counts on (Thursday -> Friday)
        (datetime(2099, 12, 31, 23, 59, 59), datetime(2000, 1, 1, 0, 0, 0), 5),
    ],
)
def test_one_tick_carries_across_boundaries(start: datetime, expected: datetime, weekday: int) -> None:
    rig = make_rig(start)
    rig.clock.advance(0.999)
    assert rig.rtc.read_time() == start
    rig.clock.advance(0.002)
    assert rig.rtc.read_time() == expected
    assert rig.model.regs[0x08] == weekday  # 0 = Sunday


@pytest.mark.parametrize("seconds", [59.0, 3_600.0, 86_400.0 * 3, 86_400.0 * 800])
def test_long_runs_keep_calendar_time(seconds: float) -> None:
    rig = make_rig(datetime(2027, 12, 30, 22, 10, 0))
    rig.clock.advance(seconds + 0.5)
    expected = datetime(2027, 12, 30, 22, 10, 0) + timedelta(seconds=seconds)
    assert rig.rtc.read_time() == expected
    assert rig.model.regs[0x08] == (expected.weekday() + 1) % 7


def test_multi_byte_read_is_frozen_while_the_transaction_lasts(rig: Rig) -> None:
    rig.model.set_time(datetime(2026, 1, 1, 10, 59, 59))
    model = rig.model
    model.ack_address(False)
    model.write(b"\x04")
    model.ack_address(True)
    first = model.read(2)  # seconds, minutes
    rig.clock.advance(1.5)  # the tick lands in the middle of the transaction
    rest = model.read(5)
    model.stop()
    assert first + rest == bytes([0x59, 0x59, 0x10, 0x01, 0x04, 0x01, 0x26])
    # the tick held back by the transaction is counted afterwards
    assert rig.rtc.read_time() == datetime(2026, 1, 1, 11, 0, 0)


def test_writing_seconds_restarts_the_divider(rig: Rig) -> None:
    rig.clock.advance(0.9)
    rig.bus.write(0x51, [0x04, 0x30])
    rig.clock.advance(0.9)
    assert rig.rtc.read_time().second == 30
    rig.clock.advance(0.11)
    assert rig.rtc.read_time().second == 31


def test_stop_freezes_time(rig: Rig) -> None:
    rig.bus.write(0x51, [0x00, 0x20])
    rig.clock.advance(100)
    assert rig.rtc.read_time() == START
    rig.bus.write(0x51, [0x00, 0x00])
    rig.clock.advance(0.6)
    assert rig.rtc.read_time() == START + timedelta(seconds=1)


def test_invalid_bcd_is_stored_and_counted_on(rig: Rig) -> None:
    rig.bus.write(0x51, [0x04, 0x4A])  # "4A" seconds: not BCD
    assert rig.bus.write_read(0x51, [0x04], 1) == b"\x4a"
    rig.clock.advance(1.0)
    assert rig.bus.write_read(0x51, [0x04], 1) == b"\x4b"
    with pytest.raises(ChipError, match="seconds register holds 0x4B"):
        rig.rtc.read_time()


def test_twelve_hour_mode_registers_and_noon_midnight() -> None:
    rig = make_rig(datetime(2026, 3, 3, 23, 59, 59))
    rig.rtc.set_twelve_hour(True)
    assert rig.rtc.twelve_hour()
    assert rig.model.regs[0x06] == 0x20 | 0x11  # 11 PM
    rig.clock.advance(1.0)
    assert rig.model.regs[0x06] == 0x12  # 12 AM
    assert rig.rtc.read_time() == datetime(2026, 3, 4, 0, 0, 0)
    rig.rtc.set_time(datetime(2026, 3, 4, 11, 59, 59))
    rig.clock.advance(0.6)  # first tick 0.508 s after set_time releases STOP
    assert rig.model.regs[0x06] == 0x20 | 0x12  # 12 PM
    assert rig.rtc.read_time() == datetime(2026, 3, 4, 12, 0, 0)
    rig.rtc.set_twelve_hour(False)
    assert rig.model.regs[0x06] == 0x12
    assert rig.rtc.read_time() == datetime(2026, 3, 4, 12, 0, 0)


# ---- oscillator-stopped flag and reset ----------------------------------------------------------


def test_power_on_sets_os_and_read_time_refuses() -> None:
    rig = make_rig(None)
    assert rig.rtc.oscillator_stopped()
    with pytest.raises(OscillatorStoppedError, match="oscillator stopped, time invalid until set"):
        rig.rtc.read_time()
    rig.rtc.set_time(START)
    assert not rig.rtc.oscillator_stopped()
    assert rig.rtc.read_time() == START


def test_os_comes_back_when_the_oscillator_fails(rig: Rig) -> None:
    rig.model.oscillator_fail()
    assert rig.rtc.oscillator_stopped()
    # the seconds keep counting with OS set, and OS survives the ticks
    rig.clock.advance(1.0)
    assert rig.model.regs[0x04] == 0x81


def test_software_reset_restores_reset_values(rig: Rig) -> None:
    rig.rtc.set_clkout(ClkoutFrequency.OFF)
    rig.rtc.set_ram(0xA5)
    rig.rtc.set_alarm(minute=5)
    rig.rtc.set_timer(10, TimerSource.HZ_1)
    rig.rtc.set_offset_ppm(20)
    rig.rtc.reset()
    regs = rig.bus.write_read(0x51, [0x00], 0x12)
    assert regs == bytes([0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x01, 0x06, 0x01, 0x00,
                          0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x18])
    assert rig.rtc.clkout() is ClkoutFrequency.HZ_32768
    assert rig.rtc.oscillator_stopped()
    assert rig.line.read()


def test_register_pointer_wraps_from_0x11_to_0x00(rig: Rig) -> None:
    rig.bus.write(0x51, [0x10, 0x07, 0x1A, 0x02])  # timer value, timer mode, then Control_1 (12 h)
    assert rig.bus.write_read(0x51, [0x10], 3) == bytes([0x07, 0x1A, 0x02])
    assert rig.rtc.twelve_hour()


def test_ram_byte(rig: Rig) -> None:
    rig.rtc.set_ram(0x3C)
    assert rig.rtc.ram() == 0x3C
    with pytest.raises(ValueError):
        rig.rtc.set_ram(256)


# ---- CLKOUT and offset --------------------------------------------------------------------------


def test_clkout_starts_at_32768_and_turns_off(rig: Rig) -> None:
    assert rig.model.clkout_hz == 32768
    rig.rtc.set_clkout(ClkoutFrequency.OFF)
    assert rig.rtc.clkout() is ClkoutFrequency.OFF
    assert rig.model.clkout_hz == 0
    rig.rtc.set_clkout(ClkoutFrequency.from_hz(1024))
    assert rig.model.clkout_hz == 1024
    with pytest.raises(ValueError, match="CLKOUT cannot run at 1000 Hz"):
        ClkoutFrequency.from_hz(1000)


def test_clkout_change_keeps_the_alarm_flag(rig: Rig) -> None:
    rig.model.regs[0x01] |= 0x40
    rig.rtc.set_clkout(ClkoutFrequency.OFF)
    assert rig.rtc.alarm_flag()


@pytest.mark.parametrize(("ppm", "fast", "raw", "applied"), [
    (21.7, False, 0x05, 21.7), (-8.68, False, 0x7E, -8.68), (40.69, True, 0x8A, 40.69), (0.0, False, 0x00, 0.0),
])
def test_offset_register_encoding(rig: Rig, ppm: float, fast: bool, raw: int, applied: float) -> None:
    assert rig.rtc.set_offset_ppm(ppm, fast_mode=fast) == pytest.approx(applied)
    assert rig.model.regs[0x02] == raw
    assert rig.rtc.offset_ppm() == pytest.approx(applied)


def test_offset_out_of_range(rig: Rig) -> None:
    with pytest.raises(ValueError, match="outside"):
        rig.rtc.set_offset_ppm(300)


def test_offset_corrects_a_fast_crystal() -> None:
    rig = make_rig()
    rig.model.drift_ppm = 100.0
    rig.clock.advance(100_000)
    assert rig.rtc.read_time() == START + timedelta(seconds=100_010)  # 100 ppm fast
    rig = make_rig()
    rig.model.drift_ppm = 100.0
    rig.rtc.set_offset_ppm(100.0)  # 23 × 4.34 = 99.82 ppm slower
    rig.clock.advance(100_000)
    assert rig.rtc.read_time() == START + timedelta(seconds=100_000)


# ---- alarm --------------------------------------------------------------------------------------


def test_alarm_raises_af_and_drives_int_low_at_the_matching_second(rig: Rig) -> None:
    rig.rtc.set_alarm(minute=1, second=30)  # 12:01:30, 90 s after START
    assert rig.rtc.alarm().minute == 1
    rig.clock.advance(300)
    assert rig.rtc.alarm_flag()
    assert not rig.line.read()
    assert rig.low_times() == [pytest.approx(90.0)]


def test_alarm_flag_clears_on_zero_and_stays_on_one(rig: Rig) -> None:
    rig.rtc.set_alarm(second=5)
    rig.clock.advance(6)
    assert rig.rtc.alarm_flag()
    rig.bus.write(0x51, [0x01, 0x40 | 0x80])  # AF written 1: unchanged
    assert rig.rtc.alarm_flag()
    assert not rig.line.read()
    rig.rtc.clear_alarm_flag()
    assert not rig.rtc.alarm_flag()
    assert rig.line.read()
    assert rig.rtc.alarm_interrupt()  # AIE untouched


def test_minute_alarm_fires_once_when_the_minute_starts(rig: Rig) -> None:
    rig.rtc.set_alarm(minute=2)
    rig.clock.advance(120.5)
    assert rig.rtc.alarm_flag()
    rig.rtc.clear_alarm_flag()
    rig.clock.advance(30)  # still minute 2: no new edge
    assert not rig.rtc.alarm_flag()
    assert rig.low_times() == [pytest.approx(120.0)]


def test_alarm_without_interrupt_keeps_int_high(rig: Rig) -> None:
    rig.rtc.set_alarm(second=3, interrupt=False)
    rig.clock.advance(5)
    assert rig.rtc.alarm_flag()
    assert rig.line.read()


def test_day_hour_weekday_alarm(rig: Rig) -> None:
    # Friday 27 Nov 2026, 07:15:00
    alarm = rig.rtc.set_alarm(second=0, minute=15, hour=7, day=27, weekday=5)
    assert rig.rtc.alarm() == alarm
    assert str(alarm) == "07:15:00 on day 27 on Friday"
    rig.clock.advance(3 * 86_400)
    expected = (datetime(2026, 11, 27, 7, 15) - START).total_seconds()
    assert rig.low_times() == [pytest.approx(expected)]


def test_hour_alarm_in_twelve_hour_mode(rig: Rig) -> None:
    rig.rtc.set_twelve_hour(True)
    rig.rtc.set_alarm(hour=13, minute=0, second=0)
    assert rig.model.regs[0x0D] == 0x21
    assert rig.rtc.alarm().hour == 13
    rig.clock.advance(3601)
    assert rig.low_times() == [pytest.approx(3600.0)]


def test_clear_alarm(rig: Rig) -> None:
    rig.rtc.set_alarm(second=1)
    rig.clock.advance(2)
    rig.rtc.clear_alarm()
    assert not rig.rtc.alarm().enabled
    assert not rig.rtc.alarm_flag()
    assert rig.line.read()
    rig.clock.advance(120)
    assert not rig.rtc.alarm_flag()


def test_alarm_arguments_are_checked(rig: Rig) -> None:
    with pytest.raises(ValueError, match="at least one"):
        rig.rtc.set_alarm()
    with pytest.raises(ValueError, match="hour must be 0-23"):
        rig.rtc.set_alarm(hour=24)


# ---- timer and minute interrupts ----------------------------------------------------------------


def test_countdown_sets_tf_and_holds_int_low(rig: Rig) -> None:
    rig.rtc.set_timer(5, TimerSource.HZ_1)
    assert rig.rtc.timer().period == 5.0
    rig.clock.advance(3.5)
    assert rig.rtc.timer_remaining() == 2
    assert not rig.rtc.timer_flag()
    rig.clock.advance(2)
    assert rig.rtc.timer_flag()
    assert rig.low_times() == [pytest.approx(5.0, abs=1e-3)]
    rig.rtc.clear_timer_flag()
    assert rig.line.read()
    rig.clock.advance(5)  # reloads and fires again
    assert rig.rtc.timer_flag()
    assert rig.low_times()[-1] == pytest.approx(10.0, abs=1e-3)


def test_countdown_pulse_mode(rig: Rig) -> None:
    rig.rtc.set_timer(16, TimerSource.HZ_64, pulse=True)  # every 0.25 s, pulses of 1/64 s
    rig.clock.advance(1.03)
    lows, highs = rig.low_times(), rig.high_times()
    assert lows == pytest.approx([0.25, 0.5, 0.75, 1.0], abs=1e-3)
    assert [h - low for low, h in zip(lows, highs, strict=False)] == pytest.approx([1 / 64] * 4, abs=1e-6)
    assert rig.rtc.timer_flag()


def test_stopped_timer_and_timer_without_interrupt(rig: Rig) -> None:
    rig.rtc.set_timer(2, TimerSource.HZ_1, interrupt=False)
    rig.clock.advance(2.5)
    assert rig.rtc.timer_flag()
    assert rig.line.read()
    rig.rtc.clear_timer_flag()
    rig.rtc.stop_timer()
    rig.clock.advance(10)
    assert not rig.rtc.timer_flag()
    with pytest.raises(ValueError):
        rig.rtc.set_timer(0, TimerSource.HZ_1)


def test_minute_and_half_minute_interrupts(rig: Rig) -> None:
    rig.rtc.set_minute_interrupts(half_minute=True)
    rig.bus.write(0x51, [0x11, 0x18 | 0x01])  # TI_TP: pulses
    rig.clock.advance(61)
    assert rig.low_times() == pytest.approx([30.0, 60.0])
    assert rig.high_times() == pytest.approx([30 + 1 / 64, 60 + 1 / 64])
    assert rig.rtc.timer_flag()


def test_minute_interrupt_level_mode(rig: Rig) -> None:
    rig.rtc.set_minute_interrupts(minute=True)
    rig.clock.advance(59.5)
    assert rig.line.read()
    rig.clock.advance(1)
    assert not rig.line.read()
    rig.rtc.clear_timer_flag()
    assert rig.line.read()


# ---- faults and the board -----------------------------------------------------------------------


def test_vanished_rtc_raises_no_device(rig: Rig) -> None:
    rig.bus.faults.vanish(0x51)
    with pytest.raises(NoDeviceError, match="0x51"):
        rig.rtc.read_time()


def test_board_wires_the_rtc_and_its_int_line() -> None:
    board = SimBoard(rtc_time=datetime(2030, 6, 1, 8, 0, 0))
    rtc = PCF85063A(board.bus, board.addresses["rtc"], clock=board.clock)
    assert board.models["rtc"] is board.rtc
    assert rtc.read_time() == datetime(2030, 6, 1, 8, 0, 0)
    rtc.set_alarm(second=2)
    board.advance(2.5)
    assert not board.lines.line("rtc.INT").read()


def test_board_rtc_follows_the_host_clock_by_default() -> None:
    board = SimBoard()
    rtc = PCF85063A(board.bus, clock=board.clock)
    assert abs((rtc.read_time() - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) < 5


def test_int_edge_callback_reads_the_chip_as_it_was_at_the_edge(rig: Rig) -> None:
    seen: list[datetime] = []
    rig.line.on_edge(lambda level, _t: None if level else seen.append(rig.rtc.read_time()))
    rig.rtc.set_alarm(minute=0, second=42)
    rig.clock.advance(600)  # one long advance; the alarm edge comes 42 s in
    assert seen == [START + timedelta(seconds=42)]
    assert rig.rtc.read_time() == START + timedelta(seconds=600)


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2096, 12, 31)).map(
        lambda d: d.replace(microsecond=0)),
    seconds=st.one_of(st.integers(0, 4_000), st.integers(0, 3 * 366 * 86_400)),
    twelve=st.booleans(),
)
def test_calendar_matches_the_gregorian_calendar(start: datetime, seconds: int, twelve: bool) -> None:
    rig = make_rig(start)
    rig.rtc.set_twelve_hour(twelve)
    rig.clock.advance(seconds + 0.5)
    expected = start + timedelta(seconds=seconds)
    assert rig.rtc.read_time() == expected
    assert rig.model.regs[0x08] == (expected.weekday() + 1) % 7


@pytest.mark.parametrize(("inject", "error"), [
    (lambda bus: bus.faults.nack(0x51, 1), NoDeviceError),
    (lambda bus: bus.faults.timeout(0x51, 1), BusTimeoutError),
    (lambda bus: bus.faults.stick(), BusStuckError),
])
def test_bus_faults_are_typed_and_recoverable(rig: Rig, inject: Callable[[SimI2CBus], None],
                                              error: type[Exception]) -> None:
    inject(rig.bus)
    with pytest.raises(error):
        rig.rtc.read_time()
    rig.bus.faults.clear()
    assert rig.rtc.read_time() >= START


def test_timer_keeps_counting_while_tf_is_left_set(rig: Rig) -> None:
    rig.rtc.set_timer(64, TimerSource.HZ_64)  # 1 s period
    rig.clock.advance(3600.5)  # 3600 underflows, TF set at the first
    assert rig.rtc.timer_flag()
    assert rig.low_times() == [pytest.approx(1.0, abs=1e-3)]
    assert 31 <= rig.rtc.timer_remaining() <= 33
