"""SHTC3 driver against its model: conversions, CRC errors, sleep, NACK while measuring."""

from __future__ import annotations

import pytest

from wisgate.chips.shtc3 import SHTC3
from wisgate.crc import crc8_sensirion
from wisgate.errors import CrcError, NackError, NoDeviceError
from wisgate.sim.board import SimBoard


def test_crc8_datasheet_vector() -> None:
    assert crc8_sensirion(b"\xbe\xef") == 0x92


def test_measure_reads_the_pcb_climate(board: SimBoard) -> None:
    board.env.climate.ambient_c = 30.0
    board.env.climate.pcb_c = 41.25
    sensor = SHTC3(board.bus, clock=board.clock)
    reading = sensor.measure()
    assert reading.temperature_c == pytest.approx(41.25, abs=0.01)
    assert reading.humidity_rh == pytest.approx(board.env.climate.pcb_rh, abs=0.01)


def test_measure_takes_the_datasheet_time(board: SimBoard) -> None:
    sensor = SHTC3(board.bus, clock=board.clock)
    start = board.clock.monotonic()
    sensor.measure()
    assert 0.0121 <= board.clock.monotonic() - start < 0.016


def test_read_id(board: SimBoard) -> None:
    assert SHTC3(board.bus, clock=board.clock).read_id() & 0x083F == 0x0807


def test_chip_sleeps_after_measuring_and_nacks_reads(board: SimBoard) -> None:
    SHTC3(board.bus, clock=board.clock).measure()
    with pytest.raises(NoDeviceError):
        board.bus.read(0x70, 6)
    # asleep, any command but wakeup is NACKed on its data
    with pytest.raises(NackError):
        board.bus.write(0x70, b"\xef\xc8")


def test_read_during_measurement_is_nacked(board: SimBoard) -> None:
    board.bus.write(0x70, b"\x78\x66")
    with pytest.raises(NoDeviceError):
        board.bus.read(0x70, 6)
    board.advance(0.013)
    data = board.bus.read(0x70, 6)
    assert crc8_sensirion(data[0:2]) == data[2]


def test_clock_stretching_command_waits_inside_the_read(board: SimBoard) -> None:
    board.bus.write(0x70, b"\x7c\xa2")
    start = board.clock.monotonic()
    data = board.bus.read(0x70, 6)
    assert board.clock.monotonic() - start >= 0.0121
    assert crc8_sensirion(data[3:5]) == data[5]


def test_corrupted_crc_raises_crc_error(board: SimBoard) -> None:
    board.bus.faults.corrupt(0x70, count=1)
    with pytest.raises(CrcError, match="humidity"):
        SHTC3(board.bus, clock=board.clock).measure()
    # and the next measurement is good again
    SHTC3(board.bus, clock=board.clock).measure()


def test_vanished_sensor_raises_no_device(board: SimBoard) -> None:
    board.bus.faults.vanish(0x70)
    with pytest.raises(NoDeviceError, match="0x70"):
        SHTC3(board.bus, clock=board.clock).measure()


def test_low_power_mode_is_faster(board: SimBoard) -> None:
    sensor = SHTC3(board.bus, clock=board.clock, low_power=True)
    start = board.clock.monotonic()
    sensor.measure()
    assert board.clock.monotonic() - start < 0.003
