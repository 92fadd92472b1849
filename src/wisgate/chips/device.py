"""Common ground of the chip drivers: a bus (borrowed, never closed), an address, a clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from wisgate.bus.i2c import I2CBus
from wisgate.clock import Clock, WallClock
from wisgate.errors import NoDeviceError

T = TypeVar("T")


class I2CDevice:
    """One chip at one address on a borrowed bus."""

    chip: str = "I2C device"

    def __init__(self, bus: I2CBus, address: int, *, clock: Clock | None = None) -> None:
        self.bus = bus
        self.address = address
        self.clock: Clock = clock or WallClock()

    def write(self, data: bytes | bytearray | Iterable[int]) -> None:
        self.bus.write(self.address, data)

    def read(self, length: int) -> bytes:
        return self.bus.read(self.address, length)

    def write_read(self, data: bytes | bytearray | Iterable[int], length: int) -> bytes:
        return self.bus.write_read(self.address, data, length)

    def read_reg(self, register: int, length: int = 1) -> bytes:
        return self.write_read(bytes([register]), length)

    def read_u8(self, register: int) -> int:
        return self.read_reg(register, 1)[0]

    def write_reg(self, register: int, data: bytes | bytearray | Iterable[int]) -> None:
        self.write(bytes([register]) + bytes(data))

    def write_u8(self, register: int, value: int) -> None:
        self.write_reg(register, bytes([value & 0xFF]))

    def update_u8(self, register: int, mask: int, value: int) -> None:
        """Read-modify-write the bits of ``mask``."""
        old = self.read_u8(register)
        self.write_u8(register, (old & ~mask) | (value & mask))

    def poll_while_nack(self, action: Callable[[], T], *, timeout: float, interval: float, what: str) -> T:
        """Retry ``action`` while the chip NACKs (busy converting); after ``timeout`` s the NACK is raised."""
        deadline = self.clock.monotonic() + timeout
        while True:
            try:
                return action()
            except NoDeviceError:
                if self.clock.monotonic() >= deadline:
                    # still NACKing long after the datasheet time: gone, not busy
                    raise
                self.clock.sleep(interval)
