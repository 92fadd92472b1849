"""The simulated bus: routing, timing, stats and every injected fault."""

from __future__ import annotations

import pytest

from wisgate.bus.i2c import Read, Write
from wisgate.clock import SimClock
from wisgate.errors import BusStuckError, BusTimeoutError, NackError, NoDeviceError
from wisgate.sim.bus import SimI2CBus
from wisgate.sim.device import DataNack
from wisgate.sim.registers import ByteRegisterModel


class Scratch(ByteRegisterModel):
    size = 16
    resets = {0: 0xAA}
    writable = {1: 0x0F}


class Picky(ByteRegisterModel):
    def write(self, data: bytes) -> None:
        if len(data) > 2:
            raise DataNack(2)
        super().write(data)


def make() -> tuple[SimClock, SimI2CBus]:
    clock = SimClock()
    bus = SimI2CBus(clock)
    bus.attach(Scratch(clock, 0x10))
    bus.attach(Picky(clock, 0x11))
    return clock, bus


def test_register_pointer_autoincrement_and_readonly_bits() -> None:
    _, bus = make()
    bus.write(0x10, [1, 0xFF, 0x55])
    assert bus.write_read(0x10, [0], 3) == bytes([0xAA, 0x0F, 0x55])
    # pointer wraps at the end of the register file
    bus.write(0x10, [15, 0x77])
    assert bus.write_read(0x10, [15], 2) == bytes([0x77, 0xAA])


def test_scan_finds_attached_models_only() -> None:
    _, bus = make()
    assert bus.scan() == [0x10, 0x11]


def test_missing_device_raises_no_device_with_address() -> None:
    _, bus = make()
    with pytest.raises(NoDeviceError, match="0x42"):
        bus.read(0x42, 1)


def test_data_nack_is_a_nack_but_not_no_device() -> None:
    _, bus = make()
    with pytest.raises(NackError) as info:
        bus.write(0x11, [0, 1, 2])
    assert not isinstance(info.value, NoDeviceError)


def test_transfer_takes_wire_time() -> None:
    clock, bus = make()
    bus.transfer([Write(0x10, bytes(99)), Read(0x10, 0)])
    # 1 + 99 bytes, then 1 address byte: 101 * 9 bits at 400 kHz
    assert clock.monotonic() == pytest.approx(101 * 9 / 400_000)
    assert bus.stats[0x10].written == 99


def test_nack_fault_counts_down() -> None:
    _, bus = make()
    bus.faults.nack(0x10, count=2)
    for _ in range(2):
        with pytest.raises(NoDeviceError):
            bus.read(0x10, 1)
    assert bus.read(0x10, 1) == b"\xaa"


def test_timeout_fault_raises_timeout_error_and_spends_time() -> None:
    clock, bus = make()
    bus.faults.timeout(0x10, count=1)
    with pytest.raises(BusTimeoutError) as info:
        bus.read(0x10, 1)
    assert isinstance(info.value, TimeoutError)
    assert clock.monotonic() >= 0.035


def test_vanish_and_restore() -> None:
    _, bus = make()
    bus.faults.vanish(0x10)
    assert bus.scan() == [0x11]
    bus.faults.restore(0x10)
    assert bus.scan() == [0x10, 0x11]


def test_stuck_bus_fails_every_transfer_until_released() -> None:
    _, bus = make()
    bus.faults.stick()
    with pytest.raises(BusStuckError):
        bus.read(0x11, 1)
    with pytest.raises(BusStuckError):
        bus.scan()
    bus.faults.release()
    assert bus.scan() == [0x10, 0x11]


def test_corrupt_flips_last_byte_once() -> None:
    _, bus = make()
    bus.faults.corrupt(0x10, xor=0xFF)
    assert bus.write_read(0x10, [0], 1) == b"\x55"
    assert bus.write_read(0x10, [0], 1) == b"\xaa"


def test_attach_twice_names_the_occupant() -> None:
    clock, bus = make()
    with pytest.raises(ValueError, match="0x10"):
        bus.attach(Scratch(clock, 0x10))


def test_realtime_clock_observer_may_ask_the_time() -> None:
    from wisgate.clock import RealtimeSimClock

    clock = RealtimeSimClock()
    seen: list[float] = []
    clock.observe(lambda now: seen.append(clock.monotonic() - now))
    clock.advance(1.0)
    assert clock.monotonic() >= 1.0
    assert seen and all(delta == 0 for delta in seen)
