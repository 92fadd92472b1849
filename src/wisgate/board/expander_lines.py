"""What the RAK7391 wires to its two TPT29555 expanders' lines (rak7391-board.md, rak-software.md §5).

Expander 1 (0x27): the two LEDs on port 0 pins 6 and 7, active low (RAK's factory test drives
them low to light them; the polarity is inferred). Expander 2 (0x26): the WisBlock IO slots,
slot 1 on lines 0-7 and slot 2 on lines 8-15 (RAK's current Python examples; a 2022 revision
used other lines, so treat this map as configuration, not fact).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExpanderLine:
    expander: str  # key in the board's address map
    pin: int
    name: str
    active_low: bool = False


LED_LINES: tuple[ExpanderLine, ...] = (
    ExpanderLine("expander1", 6, "LED IO0_6", active_low=True),
    ExpanderLine("expander1", 7, "LED IO0_7", active_low=True),
)

#: Slot 2's line = slot 1's line + 8.
SLOT_LINE_OFFSET = {1: 0, 2: 8}
MODULE_ENABLE_LINE = 1
RELAY_LINE = 4

WISBLOCK_LINES: tuple[ExpanderLine, ...] = tuple(
    ExpanderLine("expander2", offset + line, f"WisBlock {slot} {what}")
    for slot, offset in SLOT_LINE_OFFSET.items()
    for line, what in ((MODULE_ENABLE_LINE, "module enable"), (RELAY_LINE, "relay / DO"))
)

#: WisBlock slot -> SGM58031 channel of its analog input (AIN1 in RAK's current examples).
WISBLOCK_ADC_CHANNEL = {1: 1, 2: 3}

#: RAK5801 4-20 mA module: loop current through this shunt (RAK's examples).
RAK5801_OHMS = 149.9
#: RAK5811 0-5 V module: the ADC sees this fraction of the input (RAK's examples divide by 0.6).
RAK5811_RATIO = 0.6

EXPANDER_LINES: tuple[ExpanderLine, ...] = LED_LINES + WISBLOCK_LINES


def line_name(expander: str, pin: int) -> str:
    """The board's name for ``pin`` of ``expander`` ("" for an unassigned line)."""
    for line in EXPANDER_LINES:
        if line.expander == expander and line.pin == pin:
            return line.name
    return ""
