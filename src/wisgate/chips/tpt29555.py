"""TPT29555 16-bit GPIO expander (PCA9555/TCA9555 compatible): two on the RAK7391, 0x27 and 0x26.

Datasheet (PCA9555 family) "Register descriptions"; notes in chips.md. Registers come in pairs
(port 0, port 1) and a transfer alternates within the pair, so this driver moves both ports in one
2-byte transfer, as Linux gpio-pca953x's bulk accesses do, and changes a single pin by reading the
pair, changing one bit and writing the pair back (no cache: another bus master's changes are kept;
Linux instead updates one cached byte). Pins 0-15: port 0 is 0-7 (IO0_x), port 1 is 8-15.

On RAKPiOS the kernel's gpio-pca953x driver owns both chips (raw access fails with
DeviceBusyError); use the gpiochip lines there, or remove the overlays to use this driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from wisgate.bus.i2c import I2CBus
from wisgate.chips.device import I2CDevice
from wisgate.clock import Clock
from wisgate.errors import ConfigError

INPUT = 0
OUTPUT = 2
POLARITY = 4
CONFIG = 6

PINS = range(16)


def pin_mask(pins: Iterable[int]) -> int:
    mask = 0
    for pin in pins:
        if pin not in PINS:
            raise ConfigError(f"TPT29555 pin {pin} does not exist (0-15)")
        mask |= 1 << pin
    return mask


class TPT29555(I2CDevice):
    chip = "TPT29555"

    def __init__(self, bus: I2CBus, address: int = 0x27, *, clock: Clock | None = None) -> None:
        super().__init__(bus, address, clock=clock)

    # -- register pairs --------------------------------------------------------------------------

    def read_pair(self, register: int) -> int:
        """Both ports of a register pair as one 16-bit word (port 1 in the high byte)."""
        data = self.read_reg(register, 2)
        return data[0] | data[1] << 8

    def write_pair(self, register: int, value: int) -> None:
        self.write_reg(register, bytes([value & 0xFF, value >> 8 & 0xFF]))

    def update_pair(self, register: int, mask: int, value: int) -> None:
        """Set the bits of ``mask`` to those of ``value``, leaving the other pins alone."""
        old = self.read_pair(register)
        new = (old & ~mask | value & mask) & 0xFFFF
        if new != old:
            self.write_pair(register, new)

    # -- ports (8 pins at a time) ----------------------------------------------------------------

    def read_port(self, port: int) -> int:
        """The Input register of ``port``: pin levels XOR polarity inversion."""
        return self.read_u8(INPUT + _port(port))

    def write_port(self, port: int, value: int) -> None:
        """The Output register of ``port`` (drives the pins configured as outputs)."""
        self.write_u8(OUTPUT + _port(port), value)

    def set_port_direction(self, port: int, outputs: int) -> None:
        """Bit n of ``outputs`` set: pin n of ``port`` is an output."""
        self.write_u8(CONFIG + _port(port), ~outputs & 0xFF)

    # -- all pins --------------------------------------------------------------------------------

    def read_pins(self) -> int:
        """All 16 inputs (pin level XOR polarity), bit n = pin n. Reading clears INT."""
        return self.read_pair(INPUT)

    def outputs(self) -> int:
        """Mask of the pins configured as outputs."""
        return ~self.read_pair(CONFIG) & 0xFFFF

    def output_latch(self) -> int:
        """The Output registers (what output pins drive; not the pin levels)."""
        return self.read_pair(OUTPUT)

    def polarity(self) -> int:
        """Mask of the pins whose input reads inverted."""
        return self.read_pair(POLARITY)

    def write_pins(self, levels: Mapping[int, bool]) -> None:
        """Set the Output bits of several pins in one read-modify-write."""
        mask = pin_mask(levels)
        value = pin_mask(pin for pin, level in levels.items() if level)
        self.update_pair(OUTPUT, mask, value)

    # -- one pin ---------------------------------------------------------------------------------

    def read_pin(self, pin: int) -> bool:
        return bool(self.read_pins() & pin_mask([pin]))

    def write_pin(self, pin: int, level: bool) -> None:
        self.write_pins({pin: level})

    def set_direction(self, pin: int, *, output: bool, initial: bool | None = None) -> None:
        """Make ``pin`` an output or an input. For an output, ``initial`` is latched first so the
        pin never drives a stale level."""
        mask = pin_mask([pin])
        if output and initial is not None:
            self.update_pair(OUTPUT, mask, mask if initial else 0)
        self.update_pair(CONFIG, mask, 0 if output else mask)

    def set_polarity(self, pin: int, inverted: bool) -> None:
        mask = pin_mask([pin])
        self.update_pair(POLARITY, mask, mask if inverted else 0)

    def is_output(self, pin: int) -> bool:
        return bool(self.outputs() & pin_mask([pin]))


def _port(port: int) -> int:
    if port not in (0, 1):
        raise ConfigError(f"TPT29555 port {port} does not exist (0 or 1)")
    return port
