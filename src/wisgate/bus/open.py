"""Which bus to use when the user names none."""

from __future__ import annotations

import os

DEFAULT_HARDWARE_BUS = "/dev/i2c-1"


def default_bus_spec() -> str:
    """``/dev/i2c-1`` on a board that has it, else the simulated board."""
    return DEFAULT_HARDWARE_BUS if os.path.exists(DEFAULT_HARDWARE_BUS) else "sim"
