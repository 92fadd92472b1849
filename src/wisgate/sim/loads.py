"""Simple loads on the simulated expanders' pins: the two LEDs and the WisBlock slots' outputs.

Each load follows its pin's level (not the register): an LED lights when its active-low pin is
low, a relay coil is energised while its line is high. Lit/energised states are also SimLines
(``LED IO0_6``...) so tests and services can watch their history.
"""

from __future__ import annotations

from dataclasses import dataclass

from wisgate.board.expander_lines import LED_LINES, MODULE_ENABLE_LINE, RELAY_LINE, SLOT_LINE_OFFSET
from wisgate.sim.chips.tpt29555 import TPT29555Model
from wisgate.sim.lines import SimLine, SimLines


@dataclass(frozen=True)
class SlotOutputs:
    module_enabled: bool
    relay_on: bool


class ExpanderLoads:
    def __init__(self, lines: SimLines, expanders: dict[str, TPT29555Model]) -> None:
        self.expanders = expanders
        self.led_lines: dict[str, SimLine] = {}
        for led in LED_LINES:
            self.led_lines[led.name] = lines.add(led.name, level=False)
        for name in sorted({led.expander for led in LED_LINES}):
            expanders[name].on_pins_changed(lambda _levels: self._update())
        self._update()

    def leds(self) -> dict[str, bool]:
        """LED name -> lit."""
        result: dict[str, bool] = {}
        for led in LED_LINES:
            level = self.expanders[led.expander].level(led.pin)
            result[led.name] = level != led.active_low
        return result

    def slot(self, slot: int) -> SlotOutputs:
        """What the expander drives into WisBlock IO slot 1 or 2."""
        expander = self.expanders["expander2"]
        offset = SLOT_LINE_OFFSET[slot]
        return SlotOutputs(
            module_enabled=expander.level(offset + MODULE_ENABLE_LINE),
            relay_on=expander.level(offset + RELAY_LINE),
        )

    def _update(self) -> None:
        for name, lit in self.leds().items():
            self.led_lines[name].drive(lit)
