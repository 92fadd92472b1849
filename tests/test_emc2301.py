"""EMC2301 driver against its model and the fan/CPU physics of the simulated board."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wisgate.chips.emc2301 import (
    EMC2301,
    FanConfig,
    count_to_rpm,
    duty_to_register,
    join_count,
    register_to_duty,
    rpm_to_count,
    split_count,
)
from wisgate.errors import NoDeviceError, WrongChipError
from wisgate.sim.board import SimBoard
from wisgate.sim.chips.emc2301 import EMC2301Model

ADDRESS = 0x2F


@pytest.fixture
def fan(board: SimBoard) -> EMC2301:
    return EMC2301.open(board.bus, clock=board.clock)


def model(board: SimBoard) -> EMC2301Model:
    chip = board.models["fan"]
    assert isinstance(chip, EMC2301Model)
    return chip


def reg(board: SimBoard, register: int) -> int:
    return board.bus.write_read(ADDRESS, [register], 1)[0]


# ----- identity and registers


def test_open_reads_the_ids_and_revision(board: SimBoard) -> None:
    assert EMC2301(board.bus, clock=board.clock).check_id() == 0x80


def test_wrong_chip_names_what_answered(board: SimBoard) -> None:
    model(board).regs[0xFD] = 0x34  # an EMC2305
    with pytest.raises(WrongChipError, match=r"product ID 0x34.*expected 0x37") as info:
        EMC2301.open(board.bus, clock=board.clock)
    assert info.value.address == ADDRESS


def test_reset_values_and_undefined_registers(board: SimBoard) -> None:
    assert [reg(board, r) for r in (0x20, 0x31, 0x32, 0x33, 0x35, 0x36, 0x37, 0x38, 0x39)] == [
        0x40, 0x01, 0x2B, 0x28, 0x2A, 0x19, 0x10, 0x66, 0xF5,
    ]
    assert board.bus.write_read(ADDRESS, [0x3C], 4) == bytes([0xF8, 0xFF, 0xFF, 0xF8])
    board.bus.write(ADDRESS, [0x21, 0x55])  # undefined: ignored, reads 0
    board.bus.write(ADDRESS, [0x37, 0xFF])  # bits 7:6 are "-"
    assert reg(board, 0x21) == 0x00
    assert reg(board, 0x37) == 0x3F


def test_software_lock_freezes_swl_registers_only(board: SimBoard, fan: EMC2301) -> None:
    fan.lock()
    fan.set_max_step(5)  # SWL: ignored
    fan.set_gains(p=1, i=1, d=1)  # SWL: ignored
    fan.set_polarity(inverted=True)  # not locked
    assert reg(board, 0x37) == 0x10
    assert reg(board, 0x35) == 0x2A
    assert reg(board, 0x2A) == 0x01
    board.bus.write(ADDRESS, [0xEF, 0x00])
    assert reg(board, 0xEF) == 0x01  # only a power cycle unlocks


@pytest.mark.parametrize(("percent", "value"), [(0, 0), (40, 102), (50, 128), (100, 255)])
def test_duty_register_conversion(percent: float, value: int) -> None:
    assert duty_to_register(percent) == value
    assert register_to_duty(value) == pytest.approx(percent, abs=0.2)


@given(st.integers(0, 255))
def test_register_duty_round_trip(value: int) -> None:
    assert duty_to_register(register_to_duty(value)) == value


@given(st.integers(0, 0x1FFF))
def test_tach_count_split_round_trip(count: int) -> None:
    low, high = split_count(count)
    assert low & 0x07 == 0
    assert join_count(high, low) == count


@given(
    st.integers(0, 3).map(lambda i: FanConfig(fsc=False, multiplier=1 << i, edges=5, update_ms=400)),
    st.floats(600, 16_000),
)
def test_rpm_count_round_trip(config: FanConfig, rpm: float) -> None:
    count = rpm_to_count(rpm, config)
    assert rpm_to_count(count_to_rpm(count, config), config) == count
    assert count_to_rpm(count, config) == pytest.approx(rpm, rel=1 / count + 1e-9)
    assert count_to_rpm(count, config) == pytest.approx(3_932_160 * config.multiplier / count)


def test_set_duty_writes_fan_setting(board: SimBoard, fan: EMC2301) -> None:
    fan.set_duty(40)
    board.advance(0.6)  # after the spin-up routine
    assert reg(board, 0x30) == 0x66
    assert fan.read_duty() == pytest.approx(40)


@pytest.mark.parametrize("bad", [-1, 100.5])
def test_duty_out_of_range(fan: EMC2301, bad: float) -> None:
    with pytest.raises(ValueError, match="0-100"):
        fan.set_duty(bad)


def test_pwm_frequency_polarity_and_output(board: SimBoard, fan: EMC2301) -> None:
    fan.set_pwm_frequency(4882, divide=2)
    fan.set_output(push_pull=True)
    assert fan.pwm_frequency() == pytest.approx(2441)
    assert model(board).pwm_frequency_hz == pytest.approx(2441)
    assert model(board).push_pull
    with pytest.raises(ValueError, match="base frequency"):
        fan.set_pwm_frequency(25_000)
    with pytest.raises(ValueError, match="divide"):
        fan.set_pwm_frequency(26_000, divide=0)


def test_inverted_polarity_drives_the_fan_at_the_complement(board: SimBoard, fan: EMC2301) -> None:
    fan.set_polarity(inverted=True)
    fan.set_duty(20)  # the pin is high 80 % of the time
    board.advance(10)
    assert board.fan.duty == pytest.approx(0.8, abs=0.01)
    assert fan.read_rpm() == pytest.approx(4000, rel=0.02)


# ----- TACH and speed


@pytest.mark.parametrize("percent", [30, 50, 80, 100])
def test_rpm_follows_the_duty_after_settling(board: SimBoard, fan: EMC2301, percent: float) -> None:
    fan.set_duty(percent)
    board.advance(10)
    expected = board.fan.max_rpm * duty_to_register(percent) / 255
    assert board.fan.rpm == pytest.approx(expected, rel=0.001)
    assert fan.read_rpm() == pytest.approx(expected, rel=0.005)


def test_fan_has_inertia(board: SimBoard, fan: EMC2301) -> None:
    fan.set_duty(100)
    board.advance(1.0)
    early = fan.read_rpm()
    board.advance(9.0)
    assert 2000 < early < 0.8 * fan.read_rpm()


def test_tach_count_follows_range_and_edges(board: SimBoard, fan: EMC2301) -> None:
    fan.set_duty(60)
    board.advance(10)
    rpm = board.fan.rpm
    assert fan.read_tach_count() == round(3_932_160 * 2 / rpm)  # reset: m = 2, 5 edges
    fan.set_tach(min_rpm=500, edges=9)  # m = 1, 9 edges: twice the time per measurement
    assert fan.read_tach_count() == round(3_932_160 * 2 / rpm)
    fan.set_tach(edges=5)
    assert fan.read_tach_count() == round(3_932_160 / rpm)
    assert fan.read_rpm() == pytest.approx(rpm, rel=0.005)


def test_fan_with_more_poles_needs_matching_edges(board: SimBoard) -> None:
    board.fan.pulses_per_rev = 4
    fan = EMC2301.open(board.bus, clock=board.clock, poles=4)
    fan.set_duty(80)
    board.advance(10)
    fan.set_tach(edges=9)  # 9 edges = one revolution of a 4-pole fan
    assert fan.read_rpm() == pytest.approx(board.fan.rpm, rel=0.005)
    with pytest.raises(ValueError, match="poles"):
        EMC2301(board.bus, clock=board.clock, poles=5)


def test_reading_the_high_byte_latches_the_low_byte(board: SimBoard, fan: EMC2301) -> None:
    fan.set_duty(100)
    board.advance(0.7)
    high = reg(board, 0x3E)
    board.advance(0.5)  # the fan speeds up, the latched low byte stays
    low = reg(board, 0x3F)
    count = (high << 5) | (low >> 3)
    assert model(board).measure_count() < count
    assert low & 0x07 == 0


def test_stopped_fan_reads_0x1fff_and_zero_rpm(fan: EMC2301) -> None:
    assert fan.read_tach_count() == 0x1FFF
    assert fan.read_rpm() == 0.0


def test_rpm_is_zero_below_the_valid_count(board: SimBoard, fan: EMC2301) -> None:
    fan.set_stall_rpm(1500)
    fan.set_duty(25)  # ~1250 RPM: measurable, but slower than "valid"
    board.advance(10)
    assert 1200 < board.fan.rpm < 1300
    assert fan.read_tach_count() == round(3_932_160 * 2 / board.fan.rpm)
    assert fan.read_rpm() == 0.0
    assert fan.status().stalled


def test_config_decodes_reset() -> None:
    assert FanConfig.decode(0x2B) == FanConfig(fsc=False, multiplier=2, edges=5, update_ms=400)


# ----- the chip's RPM loop


@pytest.mark.parametrize("target", [2200, 3000, 4500])
def test_fsc_reaches_the_target_rpm(board: SimBoard, fan: EMC2301, target: float) -> None:
    fan.set_target_rpm(target)
    board.advance(15)
    reading = fan.reading()
    assert reading.fsc
    assert reading.target_rpm == pytest.approx(target, rel=0.01)
    assert reading.rpm == pytest.approx(target, rel=0.02)
    assert board.fan.rpm == pytest.approx(target, rel=0.02)


def test_fsc_ignores_fan_setting_writes(board: SimBoard, fan: EMC2301) -> None:
    fan.set_target_rpm(3000)
    board.advance(15)
    drive = reg(board, 0x30)
    board.bus.write(ADDRESS, [0x30, 0x00])
    assert reg(board, 0x30) == drive
    board.advance(2)
    assert fan.read_rpm() == pytest.approx(3000, rel=0.02)


def test_fsc_respects_the_minimum_drive(board: SimBoard, fan: EMC2301) -> None:
    fan.set_min_drive(60)
    fan.set_target_rpm(2000)  # would need 40 % drive
    board.advance(20)
    assert fan.read_duty() == pytest.approx(60, abs=0.5)
    assert fan.read_rpm() == pytest.approx(3000, rel=0.02)


def test_fsc_target_zero_stops_the_fan(board: SimBoard, fan: EMC2301) -> None:
    fan.set_target_rpm(3000)
    board.advance(10)
    fan.set_target_rpm(0)
    board.advance(15)
    assert fan.read_duty() == 0
    assert fan.read_rpm() == 0
    assert fan.reading().target_rpm is None
    assert fan.status().ok


def test_fsc_settings_change_the_loop(board: SimBoard, fan: EMC2301) -> None:
    fan.set_update_period(1600)
    fan.set_max_step(2)
    fan.set_target_rpm(4500)
    board.advance(6)
    slow = fan.read_rpm()
    fan.set_update_period(100)
    fan.set_max_step(63)
    fan.set_gains(p=8, i=8, d=1)
    board.advance(6)
    assert slow < 3500
    assert fan.read_rpm() == pytest.approx(4500, rel=0.02)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda f: f.set_target_rpm(500), "slowest valid"),
        (lambda f: f.set_target_rpm(-1), "negative"),
        (lambda f: f.set_update_period(250), "update period"),
        (lambda f: f.set_gains(p=3), "proportional gain"),
        (lambda f: f.set_max_step(64), "0-63"),
        (lambda f: f.configure_spin_up(level_percent=70), "spin-up level"),
        (lambda f: f.configure_spin_up(time_ms=300), "spin-up time"),
        (lambda f: f.configure_spin_up(drive_fail_updates=8), "drive fail"),
        (lambda f: f.set_tach(min_rpm=750), "range"),
        (lambda f: f.set_tach(edges=4), "edges"),
        (lambda f: f.set_valid_tach_count(256), "0-255"),
        (lambda f: f.set_drive_fail_band(0x2000), "drive fail band"),
        (lambda f: f.set_stall_rpm(100), "below what the TACH range"),
    ],
)
def test_settings_are_range_checked(fan: EMC2301, call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(fan)  # type: ignore[operator]


# ----- spin-up, stall, drive fail


def test_spin_up_kicks_at_100_percent_then_the_spin_level(board: SimBoard, fan: EMC2301) -> None:
    fan.set_duty(35)
    assert fan.read_duty() == 100  # kick: a quarter of 500 ms
    board.advance(0.2)
    assert fan.read_duty() == pytest.approx(60, abs=0.3)
    board.advance(0.4)
    assert fan.read_duty() == pytest.approx(35, abs=0.3)
    assert fan.status().ok


def test_spin_up_fails_without_kick_on_a_stiff_fan(board: SimBoard, fan: EMC2301) -> None:
    board.fan.start_duty = 0.5  # breaks away only above 50 %
    fan.configure_spin_up(level_percent=30, kick=False)
    fan.set_duty(45)
    board.advance(2)
    status = fan.status()
    assert status.spin_up_failed and status.stalled
    assert fan.read_rpm() == 0
    # with the kick it starts, and the old failure clears once read
    fan.set_duty(0)
    fan.configure_spin_up(level_percent=30, kick=True)
    fan.set_duty(45)
    board.advance(5)
    assert fan.read_rpm() == pytest.approx(2250, rel=0.02)
    assert fan.status().spin_up_failed  # latched until read
    assert fan.status().ok


def test_fsc_retries_spin_up_while_the_fan_is_blocked(board: SimBoard, fan: EMC2301) -> None:
    board.fan.block()
    fan.set_target_rpm(3000)
    board.advance(3)
    assert fan.status().spin_up_failed
    assert fan.read_duty() in (100, 60)  # still kicking
    board.fan.unblock()
    board.advance(15)
    assert fan.read_rpm() == pytest.approx(3000, rel=0.02)
    fan.status()  # the latched failure is reported once
    assert fan.status().ok


@pytest.mark.parametrize("fault", ["block", "unplug"])
def test_stall_sets_the_status_bit_and_rpm_zero(board: SimBoard, fan: EMC2301, fault: str) -> None:
    fan.set_duty(60)
    board.advance(5)
    assert fan.status().ok
    getattr(board.fan, fault)()
    board.advance(3)
    assert fan.read_rpm() == 0
    assert fan.read_tach_count() == 0x1FFF
    status = fan.status()
    assert status.stalled
    assert status.problems() == ["stalled"]
    assert model(board).alert is False  # interrupts masked at reset


def test_status_bits_are_read_clear_once_the_condition_goes(board: SimBoard, fan: EMC2301) -> None:
    fan.set_duty(60)
    board.advance(5)
    board.fan.block()
    board.advance(1)
    assert fan.status().stalled
    assert fan.status().stalled  # still blocked: reading does not clear it
    board.fan.unblock()
    fan.set_duty(0)
    fan.set_duty(60)  # spin up again
    board.advance(5)
    assert fan.status().stalled  # the latched bit, once more
    assert fan.status().ok


def test_drive_fail_when_the_target_is_out_of_reach(board: SimBoard, fan: EMC2301) -> None:
    board.fan.max_rpm = 3000  # an aging fan
    fan.configure_spin_up(drive_fail_updates=16)
    fan.set_drive_fail_band(50)
    fan.set_target_rpm(4000)
    board.advance(10)
    assert fan.read_duty() == 100
    assert not fan.status().drive_failed
    board.advance(7)  # 16 updates of 400 ms at full drive
    status = fan.status()
    assert status.drive_failed
    assert "cannot reach target at full drive" in status.problems()


def test_ramp_rate_control_in_direct_mode(board: SimBoard, fan: EMC2301) -> None:
    fan.set_duty(40)
    board.advance(3)
    fan.set_ramp_rate_control(True)
    fan.set_max_step(5)
    fan.set_duty(100)
    board.advance(2.05)  # 5 updates of 400 ms, 5 steps each
    assert reg(board, 0x30) == 102 + 25


# ----- watchdog


def test_power_up_watchdog_drives_100_percent_when_the_host_is_silent(board: SimBoard, fan: EMC2301) -> None:
    board.advance(3.5)
    assert fan.read_duty() == 0
    board.advance(1.0)
    assert fan.read_duty() == 100
    status = fan.status()
    assert status.watchdog_fired
    assert not fan.status().watchdog_fired  # WATCH clears when read
    fan.set_duty(30)  # reprogramming takes the fan back
    assert fan.read_duty() == pytest.approx(30, abs=0.3)


def test_programming_the_fan_disables_the_power_up_watchdog(board: SimBoard, fan: EMC2301) -> None:
    fan.set_duty(30)
    board.advance(30)
    assert fan.read_duty() == pytest.approx(30, abs=0.3)
    assert not fan.status().watchdog_fired


def test_continuous_watchdog_fires_after_4_s_of_bus_silence(board: SimBoard, fan: EMC2301) -> None:
    fan.set_target_rpm(3000)
    fan.set_watchdog(continuous=True)
    for _ in range(5):
        board.advance(3)
        fan.read_rpm()  # traffic keeps it quiet
    assert not fan.status().watchdog_fired
    board.advance(4.5)
    reading = fan.reading()
    assert reading.duty_percent == 100
    assert not reading.fsc  # the watchdog switched the loop off
    assert fan.status().watchdog_fired


# ----- faults and physics


def test_vanished_chip_raises_no_device(board: SimBoard, fan: EMC2301) -> None:
    board.bus.faults.vanish(ADDRESS)
    with pytest.raises(NoDeviceError, match="0x2F"):
        fan.read_rpm()
    with pytest.raises(NoDeviceError):
        EMC2301.open(board.bus, clock=board.clock)


def test_cpu_heats_with_load_and_cools_with_airflow(board: SimBoard, fan: EMC2301) -> None:
    board.cpu.load = 1.0
    fan.set_duty(0)
    board.advance(1500)
    hot = board.cpu_temperature.read_celsius()
    assert hot == pytest.approx(board.cpu.steady_state_c(board.env.climate.ambient_c, 0), abs=0.5)
    fan.set_duty(100)
    board.advance(600)
    cooled = board.cpu_temperature.read_celsius()
    assert cooled < hot - 30
    board.env.climate.ambient_c += 10
    board.advance(600)
    assert board.cpu_temperature.read_celsius() == pytest.approx(cooled + 10, abs=0.5)


def test_cpu_load_is_range_checked(board: SimBoard) -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        board.cpu.load = 1.5
