"""Linux backend: ``/dev/i2c-N`` through smbus2's ``i2c_rdwr`` (combined transactions).

Where a kernel driver is bound to an address (RAKPiOS binds rtc-pcf85063 at 0x51 and pca953x at
0x26/0x27), raw transfers would race the kernel, so they are refused with
:class:`DeviceBusyError` naming the driver; use the kernel interface for those chips.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wisgate.bus.i2c import I2CBus, Message, Read, Write, check_address
from wisgate.errors import (
    BusError,
    BusStuckError,
    BusTimeoutError,
    ConfigError,
    DeviceBusyError,
    NoDeviceError,
    UnsupportedError,
)

SYSFS_I2C = Path("/sys/bus/i2c/devices")


def bus_number(path: str) -> int:
    match = re.fullmatch(r"/dev/i2c-(\d+)", path)
    if not match:
        raise ConfigError(f"{path!r} is not an I2C device path like /dev/i2c-1")
    return int(match.group(1))


class LinuxI2CBus(I2CBus):
    """A Linux I2C adapter. Opened here, closed by :meth:`close`."""

    def __init__(
        self, path: str = "/dev/i2c-1", *, sysfs: Path = SYSFS_I2C, smbus_factory: Callable[[int], Any] | None = None
    ) -> None:
        if smbus_factory is None:
            try:
                from smbus2 import SMBus
            except ImportError as exc:  # pragma: no cover - smbus2 is a dependency
                raise UnsupportedError("the Linux I2C backend needs the smbus2 package") from exc
            smbus_factory = SMBus
        self.name = path
        self._number = bus_number(path)
        self._sysfs = sysfs
        try:
            self._smbus = smbus_factory(self._number)
        except FileNotFoundError as exc:
            raise BusError(f"no such I2C bus (is i2c enabled in config.txt?): {exc}", bus=path) from exc
        except PermissionError as exc:
            raise BusError(f"permission denied (add your user to the i2c group): {exc}", bus=path) from exc

    @property
    def number(self) -> int:
        """N of /dev/i2c-N."""
        return self._number

    def bound_driver(self, address: int) -> str | None:
        """Name of the kernel driver owning ``address``, if any."""
        link = self._sysfs / f"{self._number}-{address:04x}" / "driver"
        try:
            return os.path.basename(os.readlink(link))
        except OSError:
            return None

    def transfer(self, messages: Sequence[Message]) -> list[bytes]:
        from smbus2 import i2c_msg

        for message in messages:
            check_address(message.address)
            driver = self.bound_driver(message.address)
            if driver:
                raise DeviceBusyError(
                    f"owned by kernel driver {driver}; use its kernel interface", bus=self.name,
                    address=message.address,
                )
        raw = [
            i2c_msg.write(m.address, m.data) if isinstance(m, Write) else i2c_msg.read(m.address, m.length)
            for m in messages
        ]
        try:
            self._smbus.i2c_rdwr(*raw)
        except OSError as exc:
            raise self._error(exc, messages[0].address) from exc
        return [bytes(r) for m, r in zip(messages, raw, strict=True) if isinstance(m, Read)]

    def probe(self, address: int) -> bool:
        if self.bound_driver(address):
            return True
        try:
            if 0x30 <= address <= 0x37 or 0x50 <= address <= 0x5F:
                # i2cdetect reads here: a quick write could corrupt EEPROMs
                self._smbus.read_byte(address)
            else:
                self._smbus.write_quick(address)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.EREMOTEIO, errno.EIO):
                return False
            raise self._error(exc, address) from exc
        return True

    def _error(self, exc: OSError, address: int) -> BusError:
        code = exc.errno
        if code in (errno.ENXIO, errno.EREMOTEIO):
            return NoDeviceError("no acknowledge", bus=self.name, address=address)
        if code == errno.ETIMEDOUT:
            return BusTimeoutError("transfer timed out", bus=self.name, address=address)
        if code == errno.EBUSY:
            return DeviceBusyError("device or bus busy", bus=self.name, address=address)
        if code == errno.EAGAIN:
            return BusStuckError("arbitration lost or bus held low", bus=self.name, address=address)
        return BusError(f"{exc.strerror or exc}", bus=self.name, address=address)

    def close(self) -> None:
        self._smbus.close()
