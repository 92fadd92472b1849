"""A byte-register chip: pointer write, auto-increment, read-only bits, hooks.

Most of the board's chips (expanders, RTC, fan controller) work this way: the first byte of a
write sets the register pointer, further bytes write registers, reads return registers, and the
pointer moves after each byte by the chip's own rule (:meth:`next_pointer`).
"""

from __future__ import annotations

from wisgate.clock import SimClock
from wisgate.sim.device import I2CModel


class ByteRegisterModel(I2CModel):
    #: Number of register addresses (pointer wraps or stops by :meth:`next_pointer`).
    size = 256
    #: Power-on values; addresses not listed reset to 0.
    resets: dict[int, int] = {}
    #: Bits software may write, per register; registers not listed are fully writable.
    writable: dict[int, int] = {}

    def __init__(self, clock: SimClock, address: int) -> None:
        super().__init__(clock, address)
        self.regs = bytearray(self.size)
        self.pointer = 0
        self._fresh = True
        self.power_on_reset()

    def power_on_reset(self) -> None:
        self.regs[:] = bytes(self.size)
        for reg, value in self.resets.items():
            self.regs[reg] = value
        self.pointer = 0

    def ack_address(self, read: bool) -> bool:
        self._fresh = not read
        return True

    def write(self, data: bytes) -> None:
        for byte in data:
            if self._fresh:
                self.pointer = byte % self.size
                self._fresh = False
                self.on_pointer(self.pointer)
                continue
            reg = self.pointer
            mask = self.writable.get(reg, 0xFF)
            old = self.regs[reg]
            new = (old & ~mask) | (byte & mask)
            self.regs[reg] = new
            self.on_write(reg, new, byte)
            self.pointer = self.next_pointer(reg)

    def read(self, length: int) -> bytes:
        out = bytearray()
        for _ in range(length):
            reg = self.pointer
            out.append(self.on_read(reg) & 0xFF)
            self.pointer = self.next_pointer(reg)
        return bytes(out)

    def next_pointer(self, reg: int) -> int:
        return (reg + 1) % self.size

    def on_pointer(self, reg: int) -> None:
        """The host set the pointer (before any data)."""

    def on_write(self, reg: int, value: int, written: int) -> None:
        """``reg`` now holds ``value`` (``written`` is the raw byte before read-only masking)."""

    def on_read(self, reg: int) -> int:
        return self.regs[reg]
