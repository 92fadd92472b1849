"""WisBlock IO modules in the RAK7391's two IO slots: 4-20 mA and 0-5 V inputs, relay outputs.

The slot wiring is RAK's own examples' (rak-software.md §5; the lines and channels are configurable
per module because a 2022 revision of those examples used others): on expander 0x26 slot 1 owns lines
0-7 and slot 2 lines 8-15; the module enable line is 1 / 9, the relay 4 / 12; the analog input reaches
the SGM58031 on channel 1 / 3. RAK5801: loop current = V / 149.9 Ω; RAK5811: input = V / 0.6.
Loop limits follow NAMUR NE 43: below 3.8 mA the loop is taken as broken, above 20.5 mA as over range.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from wisgate.board.expander_lines import (
    MODULE_ENABLE_LINE,
    RAK5801_OHMS,
    RAK5811_RATIO,
    RELAY_LINE,
    SLOT_LINE_OFFSET,
    WISBLOCK_ADC_CHANNEL,
)
from wisgate.industrial.config import WisblockSection
from wisgate.services.readings import Reading

#: the expander the WisBlock lines are on (0x26)
EXPANDER = "expander2"
BROKEN_LOOP_MA = 3.8
OVER_RANGE_MA = 20.5
#: RAK5811: a little beyond 0-5 V is noise, more is a wrong signal
VOLTS_MARGIN = 0.1
ANALOG = ("RAK5801", "RAK5811")

Condition = Literal["ok", "broken", "under", "over"]


@dataclass(frozen=True)
class Wiring:
    adc_channel: int
    enable_line: int
    relay_line: int


def wiring(module: WisblockSection) -> Wiring:
    offset = SLOT_LINE_OFFSET[module.slot]
    return Wiring(
        module.adc_channel if module.adc_channel is not None else WISBLOCK_ADC_CHANNEL[module.slot],
        module.enable_line if module.enable_line is not None else MODULE_ENABLE_LINE + offset,
        module.relay_line if module.relay_line is not None else RELAY_LINE + offset,
    )


@dataclass(frozen=True)
class Signal:
    """What an analog module measured: the signal (mA or V), its engineering value and its condition."""

    signal: float
    unit: str
    value: float | None
    condition: Condition


def signal_of(module: WisblockSection, adc_volts: float) -> Signal:
    """Pure conversion of the ADC voltage into the module's signal, engineering value and condition."""
    if module.module == "RAK5801":
        milliamps = adc_volts / RAK5801_OHMS * 1000
        low, high, unit = 4.0, 20.0, "mA"
        condition: Condition = ("broken" if milliamps < BROKEN_LOOP_MA else
                                "over" if milliamps > OVER_RANGE_MA else "ok")
        signal = milliamps
    else:
        signal = adc_volts / RAK5811_RATIO
        low, high, unit = 0.0, 5.0, "V"
        condition = ("under" if signal < -VOLTS_MARGIN else "over" if signal > high + VOLTS_MARGIN else "ok")
    value = None
    if module.range is not None and condition != "broken":
        bottom, top = module.range
        value = bottom + (signal - low) * (top - bottom) / (high - low)
    return Signal(signal, unit, value, condition)


@dataclass
class Debouncer:
    """A level that changes only once a new value has held ``hold_s`` (contact bounce, noise)."""

    hold_s: float
    level: bool | None = None
    _candidate: bool | None = None
    _since: float = 0.0

    def sample(self, raw: bool, now: float) -> bool | None:
        """The new stable level when it changes with this sample, else None (the first sample sets it)."""
        if self.level is None:
            self.level = raw
            return None
        if raw == self.level:
            self._candidate = None
            return None
        if self._candidate != raw:
            self._candidate, self._since = raw, now
        if now - self._since >= self.hold_s:
            self.level, self._candidate = raw, None
            return raw
        return None


def readings_of(module: WisblockSection, measured: Signal) -> list[Reading]:
    now = time.time()
    base = f"wisblock.{module.name}"
    source = f"wisblock{module.slot}"
    quantity = "current" if measured.unit == "mA" else "voltage"
    out = [Reading(f"{base}.{quantity}", f"{module.name} {quantity}", measured.signal, measured.unit, source, now,
                   digits=3)]
    if module.range is not None:
        error = "broken loop (under 3.8 mA)" if measured.condition == "broken" else None
        out.append(Reading(f"{base}.value", module.name, measured.value, module.unit, source, now, error=error,
                           digits=module.digits))
    return out


def condition_text(module: WisblockSection, measured: Signal) -> str:
    shown = f"{measured.signal:.2f} {measured.unit}"
    return {
        "broken": f"{module.name}: broken loop ({shown}, under {BROKEN_LOOP_MA} mA)",
        "over": f"{module.name}: over range ({shown})",
        "under": f"{module.name}: under range ({shown})",
        "ok": f"{module.name}: back in range ({shown})",
    }[measured.condition]
