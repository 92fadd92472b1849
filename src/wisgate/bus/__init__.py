"""Buses: the I2C protocol every driver speaks, its backends, adapters and GPIO lines."""

from wisgate.bus.i2c import I2CBus, Read, Write

__all__ = ["I2CBus", "Read", "Write"]
