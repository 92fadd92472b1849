"""Which bus to use: the user's spelling of it, or the default when they name none."""

from __future__ import annotations

import os
import re

DEFAULT_HARDWARE_BUS = "/dev/i2c-1"


def default_bus_spec() -> str:
    """``/dev/i2c-1`` on a board that has it, else the simulated board."""
    return DEFAULT_HARDWARE_BUS if os.path.exists(DEFAULT_HARDWARE_BUS) else "sim"


def bus_spec(text: str) -> str:
    """``sim`` or ``/dev/i2c-N`` from ``sim``, ``N``, ``i2c-N`` or ``/dev/i2c-N`` (as i2cdetect takes N).

    Raises ValueError with a one-line reason for anything else (``/dev/null``, ``com3``).
    """
    value = text.strip()
    if value == "sim":
        return value
    match = re.fullmatch(r"(?:/dev/)?(?:i2c-)?(\d{1,3})", value)
    if match:
        return f"/dev/i2c-{int(match.group(1))}"
    raise ValueError(f"{text!r} is not an I2C bus; give sim, a bus number (1), i2c-1 or /dev/i2c-1")
