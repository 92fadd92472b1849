"""Typed readings: a value with its unit, where it came from and when, or the reason there is none.

Services publish readings; text is made only at the edges (OLED, CLI, API) with :func:`format_value`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def slug(name: str) -> str:
    """A reading's dotted name as an id in MQTT topics and Home Assistant unique_ids (``cpu.temperature`` →
    ``cpu_temperature``). Not one-to-one by itself (``modbus.a_b.c`` and ``modbus.a.b_c`` share one), so the
    configuration refuses names that would (industrial/config.py): the ids stay as they always were."""
    return _UNSAFE.sub("_", name)


@dataclass(frozen=True, slots=True)
class Reading:
    #: dotted and stable, for history and metrics: ``cpu.temperature``, ``adc.ain0``, ``fan.rpm``
    name: str
    #: for people: ``CPU temperature``
    label: str
    #: a number, a text (a serial number, a bit pattern), or None with ``error`` saying why
    value: float | str | None
    unit: str
    #: the device it came from (a key of the board's addresses, or ``cpu``/``power``)
    source: str
    #: when it was read, seconds since the epoch (UTC)
    time: float
    error: str | None = None
    #: decimals shown at the edges
    digits: int = 1
    #: the label for a 21-column OLED row (``label`` when it fits)
    short: str = ""

    def __post_init__(self) -> None:
        # NaN and infinities are no measurement (and JSON cannot carry them): an error reading instead
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            object.__setattr__(self, "value", None)
            if self.error is None:
                object.__setattr__(self, "error", f"sensor returned {non_finite_name(value)}")

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def number(self) -> float | None:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)

    def age_s(self, now: float) -> float:
        return max(0.0, now - self.time)

    def stale(self, now: float, max_age_s: float) -> bool:
        return self.age_s(now) > max_age_s


def non_finite_name(value: float) -> str:
    """``NaN``, ``+inf`` or ``-inf``: how a reason names a value that is no number."""
    return "NaN" if math.isnan(value) else ("+inf" if value > 0 else "-inf")


def number(name: str, label: str, value: float, unit: str, source: str, time: float, digits: int = 1,
           short: str = "") -> Reading:
    return Reading(name, label, float(value), unit, source, time, digits=digits, short=short)


def text(name: str, label: str, value: str, source: str, time: float, short: str = "") -> Reading:
    return Reading(name, label, value, "", source, time, short=short)


def failed(name: str, label: str, source: str, time: float, reason: str, unit: str = "") -> Reading:
    return Reading(name, label, None, unit, source, time, error=reason)


def format_value(reading: Reading) -> str:
    """``41.2 °C``, ``0101 0000``, ``ERROR``: the text the OLED, CLI and API show."""
    if reading.error is not None:
        return "ERROR"
    value = reading.number
    if value is None:
        return str(reading.value)
    shown = f"{value:.{reading.digits}f}"
    return f"{shown} {reading.unit}" if reading.unit else shown
