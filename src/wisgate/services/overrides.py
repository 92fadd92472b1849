"""Manual overrides in the board state: a fan duty or OLED text that holds until a deadline.

The HTTP API puts them in; the fan and display services read them on each cycle and fall back to
their own logic once the deadline (on the target's clock) has passed.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass

FAN_KEY = "fan.override"
OLED_KEY = "display.override"


@dataclass(frozen=True)
class FanOverride:
    duty: float
    until: float


@dataclass(frozen=True)
class OledOverride:
    lines: tuple[str, ...]
    until: float


def fan_override(state: MutableMapping[str, object], now: float) -> float | None:
    """The manual duty while it holds; an expired one is removed."""
    override = state.get(FAN_KEY)
    if not isinstance(override, FanOverride):
        return None
    if now >= override.until:
        del state[FAN_KEY]
        return None
    return override.duty


def oled_override(state: MutableMapping[str, object], now: float) -> list[str] | None:
    """The text to show while it holds; an expired one is removed."""
    override = state.get(OLED_KEY)
    if not isinstance(override, OledOverride):
        return None
    if now >= override.until:
        del state[OLED_KEY]
        return None
    return list(override.lines)
