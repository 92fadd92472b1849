"""The TPT29555 expanders when the kernel owns them (RAKPiOS binds pca953x at 0x26 and 0x27).

Raw I2C would race the kernel's driver, so the same pin operations go through the gpiochip the
driver registered, labelled with its I2C device name (``1-0027``), via libgpiod. Lines are requested
for one operation and released; the pca953x driver keeps an output's level after release.
Polarity inversion is the kernel's business (active-low flags), so it reads as none here.
"""

from __future__ import annotations

from typing import Any, Protocol

from wisgate.bus.gpiod_lines import CONSUMER, _gpiod, find_chip

PINS = 16


class Expander(Protocol):
    """What the CLI and services use of an expander, raw-I2C or kernel-owned."""

    address: int

    def read_pins(self) -> int: ...
    def outputs(self) -> int: ...
    def polarity(self) -> int: ...
    def read_pin(self, pin: int) -> bool: ...
    def is_output(self, pin: int) -> bool: ...
    def set_direction(self, pin: int, *, output: bool, initial: bool | None = None) -> None: ...


def kernel_label(bus_number: int, address: int) -> str:
    return f"{bus_number}-{address:04x}"


class KernelExpander:
    def __init__(self, bus_number: int, address: int) -> None:
        self.address = address
        self.label = kernel_label(bus_number, address)
        self._path = find_chip(self.label)

    def _request(self, settings: dict[Any, Any]) -> Any:
        gpiod = _gpiod()
        return gpiod.request_lines(self._path, consumer=CONSUMER, config=settings)

    def read_pins(self) -> int:
        gpiod = _gpiod()
        from gpiod.line import Direction, Value

        request = self._request({tuple(range(PINS)): gpiod.LineSettings(direction=Direction.AS_IS)})
        try:
            values = request.get_values(list(range(PINS)))
        finally:
            request.release()
        return sum(1 << n for n, value in enumerate(values) if value == Value.ACTIVE)

    def outputs(self) -> int:
        gpiod = _gpiod()
        from gpiod.line import Direction

        with gpiod.Chip(self._path) as chip:
            return sum(1 << n for n in range(PINS) if chip.get_line_info(n).direction == Direction.OUTPUT)

    def polarity(self) -> int:
        return 0

    def read_pin(self, pin: int) -> bool:
        return bool(self.read_pins() >> pin & 1)

    def is_output(self, pin: int) -> bool:
        return bool(self.outputs() >> pin & 1)

    def set_direction(self, pin: int, *, output: bool, initial: bool | None = None) -> None:
        gpiod = _gpiod()
        from gpiod.line import Direction, Value

        if output:
            level = Value.ACTIVE if initial else Value.INACTIVE
            settings = gpiod.LineSettings(direction=Direction.OUTPUT, output_value=level)
        else:
            settings = gpiod.LineSettings(direction=Direction.INPUT)
        self._request({pin: settings}).release()
