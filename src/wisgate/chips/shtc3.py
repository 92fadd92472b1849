"""Sensirion SHTC3 temperature and humidity sensor (0x70), the board's PCB climate sensor.

Datasheet SHTC3 §5 (commands, timing), §5.9 (CRC-8), §5.11 (conversion formulas).
Each measurement wakes the chip, measures without clock stretching (polling while it NACKs),
checks both CRCs, and puts it back to sleep (0.3 µA instead of 45 µA idle).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from wisgate.bus.i2c import I2CBus
from wisgate.chips.device import I2CDevice
from wisgate.clock import Clock
from wisgate.crc import crc8_sensirion
from wisgate.errors import CrcError, NackError, WrongChipError

ADDRESS = 0x70

WAKEUP = 0x3517
SLEEP = 0xB098
SOFT_RESET = 0x805D
READ_ID = 0xEFC8
MEASURE_T_FIRST = 0x7866
MEASURE_T_FIRST_LOW_POWER = 0x609C

WAKEUP_TIME = 0.000240
MEASURE_TIME = 0.0121
MEASURE_TIME_LOW_POWER = 0.0008


@dataclass(frozen=True)
class ClimateReading:
    temperature_c: float
    humidity_rh: float


def split_word(data: bytes, offset: int, what: str, address: int) -> int:
    """The 16-bit value at ``offset``, after checking the CRC byte that follows it."""
    word = data[offset : offset + 2]
    if crc8_sensirion(word) != data[offset + 2]:
        raise CrcError(
            f"{what}: CRC 0x{data[offset + 2]:02X} does not match data {word.hex()} "
            f"(expected 0x{crc8_sensirion(word):02X})",
            chip="SHTC3",
            address=address,
        )
    return int.from_bytes(word, "big")


class SHTC3(I2CDevice):
    chip = "SHTC3"

    def __init__(
        self, bus: I2CBus, address: int = ADDRESS, *, clock: Clock | None = None, low_power: bool = False
    ) -> None:
        super().__init__(bus, address, clock=clock)
        self.low_power = low_power

    def command(self, code: int) -> None:
        self.write(code.to_bytes(2, "big"))

    def wake(self) -> None:
        self.command(WAKEUP)
        self.clock.sleep(WAKEUP_TIME)

    def sleep(self) -> None:
        self.command(SLEEP)

    def reset(self) -> None:
        self.wake()
        self.command(SOFT_RESET)
        self.clock.sleep(WAKEUP_TIME)

    def read_id(self) -> int:
        """The ID register; raises :class:`WrongChipError` if it does not name an SHTC3."""
        self.wake()
        try:
            data = self.write_read(READ_ID.to_bytes(2, "big"), 3)
            ident = split_word(data, 0, "ID", self.address)
        finally:
            self.sleep()
        if ident & 0x083F != 0x0807:
            raise WrongChipError(f"ID 0x{ident:04X} is not an SHTC3's", chip=self.chip, address=self.address)
        return ident

    def measure(self) -> ClimateReading:
        """One temperature + humidity measurement."""
        self.wake()
        try:
            code, duration = (
                (MEASURE_T_FIRST_LOW_POWER, MEASURE_TIME_LOW_POWER)
                if self.low_power
                else (MEASURE_T_FIRST, MEASURE_TIME)
            )
            self.command(code)
            self.clock.sleep(duration)
            data = self.poll_while_nack(
                lambda: self.read(6), timeout=duration + 0.010, interval=0.001, what="measurement"
            )
            raw_t = split_word(data, 0, "temperature", self.address)
            raw_rh = split_word(data, 3, "humidity", self.address)
        finally:
            with contextlib.suppress(NackError):
                self.sleep()  # a failure here would hide the one that got us here
        return ClimateReading(
            temperature_c=-45 + 175 * raw_t / 65536,
            humidity_rh=100 * raw_rh / 65536,
        )
