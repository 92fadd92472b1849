"""One error root for the package; each layer adds its family below it.

Errors are also builtins where that helps callers (a NACK is an ``OSError``, a timeout a
``TimeoutError``) and carry the address or code they are about.
"""

from __future__ import annotations


class WisgateError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(WisgateError, ValueError):
    """A configuration or board description is invalid; the message names the field."""


class BusError(WisgateError, OSError):
    """A bus transfer failed."""

    def __init__(self, message: str, *, bus: str = "", address: int | None = None) -> None:
        where = f"{bus} " if bus else ""
        at = f"0x{address:02X}: " if address is not None else ""
        super().__init__(f"{where}{at}{message}".strip())
        self.bus = bus
        self.address = address


class NackError(BusError):
    """The device did not acknowledge a data byte."""


class NoDeviceError(NackError):
    """Nothing acknowledged the address: absent, asleep, busy converting or powered down."""


class BusTimeoutError(BusError, TimeoutError):
    """The transfer did not complete in time (clock stretched too long, controller hung)."""


class BusStuckError(BusError):
    """The bus lines are held low; no transfer can start until the bus is recovered."""


class DeviceBusyError(BusError):
    """A kernel driver owns the device; use the kernel interface instead of raw I2C."""


class UnsupportedError(WisgateError, NotImplementedError):
    """The backend cannot do what was asked; the message names the feature."""


class ChipError(WisgateError):
    """A chip answered, but not as its datasheet says (wrong ID, bad CRC, status code)."""

    def __init__(self, message: str, *, chip: str = "", address: int | None = None) -> None:
        at = f" at 0x{address:02X}" if address is not None else ""
        super().__init__(f"{chip}{at}: {message}" if chip else message)
        self.chip = chip
        self.address = address


class CrcError(ChipError):
    """A checksum sent by the chip did not match its data."""


class WrongChipError(ChipError):
    """The identification registers name another part."""


class ChipTimeoutError(ChipError, TimeoutError):
    """The chip did not finish an operation within its datasheet time plus margin."""
