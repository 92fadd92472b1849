"""Linux backend logic that needs no hardware: errno mapping, kernel-owned devices, message building.

The SMBus object is replaced by a recorder standing in for the kernel's i2c-dev (the real smbus2
``i2c_msg`` objects are still built and filled), and sysfs by a temporary directory.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from wisgate.bus.i2c import Read, Write
from wisgate.bus.linux import LinuxI2CBus, bus_number
from wisgate.errors import BusError, BusStuckError, BusTimeoutError, DeviceBusyError, NoDeviceError


class KernelStandIn:
    def __init__(self, number: int) -> None:
        self.number = number
        self.fail: int | None = None
        self.calls: list[list[tuple[int, int, bytes]]] = []
        self.closed = False

    def i2c_rdwr(self, *msgs: Any) -> None:
        if self.fail is not None:
            raise OSError(self.fail, os.strerror(self.fail))
        self.calls.append([(m.addr, m.flags, bytes(m) if not m.flags & 1 else b"") for m in msgs])
        for m in msgs:
            if m.flags & 1:  # I2C_M_RD: answer with a counting pattern
                for i in range(m.len):
                    m.buf[i] = bytes([i + 1])

    def write_quick(self, address: int) -> None:
        if address != 0x3C:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")

    def read_byte(self, address: int) -> int:
        if address != 0x50:
            raise OSError(errno.ENXIO, "No such device or address")
        return 0

    def close(self) -> None:
        self.closed = True


def make(tmp_path: Path) -> tuple[LinuxI2CBus, KernelStandIn]:
    holder: list[KernelStandIn] = []

    def factory(number: int) -> KernelStandIn:
        holder.append(KernelStandIn(number))
        return holder[0]

    bus = LinuxI2CBus("/dev/i2c-1", sysfs=tmp_path, smbus_factory=factory)
    return bus, holder[0]


def test_bus_number_parsing() -> None:
    assert bus_number("/dev/i2c-10") == 10
    with pytest.raises(ValueError, match="not an I2C device path"):
        bus_number("/dev/spidev0.0")


def test_combined_transaction_is_one_rdwr_call(tmp_path: Path) -> None:
    bus, kernel = make(tmp_path)
    assert kernel.number == 1
    result = bus.transfer([Write(0x4B, b"\x00"), Read(0x4B, 2)])
    assert result == [b"\x01\x02"]
    assert kernel.calls == [[(0x4B, 0, b"\x00"), (0x4B, 1, b"")]]


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (errno.ENXIO, NoDeviceError),
        (errno.EREMOTEIO, NoDeviceError),
        (errno.ETIMEDOUT, BusTimeoutError),
        (errno.EAGAIN, BusStuckError),
        (errno.EIO, BusError),
    ],
)
def test_errno_maps_to_typed_error(tmp_path: Path, code: int, error: type[Exception]) -> None:
    bus, kernel = make(tmp_path)
    kernel.fail = code
    with pytest.raises(error, match="/dev/i2c-1 0x2F"):
        bus.read(0x2F, 1)


def test_kernel_owned_address_is_refused_with_driver_name(tmp_path: Path) -> None:
    bus, kernel = make(tmp_path)
    device = tmp_path / "1-0051"
    device.mkdir()
    (device / "driver").symlink_to(tmp_path / "rtc-pcf85063")
    with pytest.raises(DeviceBusyError, match="rtc-pcf85063"):
        bus.write_read(0x51, b"\x04", 7)
    assert kernel.calls == []
    assert bus.probe(0x51)  # i2cdetect shows it as UU: present


def test_scan_uses_quick_write_and_read_byte_ranges(tmp_path: Path) -> None:
    bus, _ = make(tmp_path)
    assert bus.scan() == [0x3C, 0x50]


def test_close_closes_the_adapter(tmp_path: Path) -> None:
    bus, kernel = make(tmp_path)
    with bus:
        pass
    assert kernel.closed


def test_missing_bus_is_a_clear_error() -> None:
    with pytest.raises(BusError, match="no such I2C bus"):
        LinuxI2CBus("/dev/i2c-97")


def test_kernel_owned_expander_goes_through_its_gpiochip(tmp_path: Path) -> None:
    from wisgate.errors import WisgateError
    from wisgate.hardware import HardwareTarget

    bus, kernel = make(tmp_path)
    device = tmp_path / "1-0026"
    device.mkdir()
    (device / "driver").symlink_to(tmp_path / "pca953x")
    target = HardwareTarget(bus, addresses={"expander2": 0x26, "expander1": 0x27})
    # no libgpiod / no gpiochip labelled 1-0026 on this machine: the error names the kernel path, not I2C
    with pytest.raises(WisgateError, match=r"gpiod|1-0026"):
        target.expander("expander2")
    assert kernel.calls == []
    # the other expander has no kernel driver: raw I2C through our driver
    from wisgate.chips.tpt29555 import TPT29555

    assert isinstance(target.expander("expander1"), TPT29555)
