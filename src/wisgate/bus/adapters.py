"""Adapters that let third-party drivers run unchanged over any of our I2C backends.

* :class:`SMBusAdapter`: the ``smbus2.SMBus`` API (luma.oled, smbus-based sensor packages).
* :class:`BlinkaI2C`: the CircuitPython ``busio.I2C`` API (Adafruit drivers, via
  ``adafruit_bus_device``), without Blinka's ``board`` module.

Both borrow the bus they are given (``owns_bus=True`` hands it over). See docs/adapters.md.
"""

from __future__ import annotations

from wisgate.bus.blinka_adapter import BlinkaI2C
from wisgate.bus.smbus_adapter import SMBusAdapter

__all__ = ["BlinkaI2C", "SMBusAdapter"]
