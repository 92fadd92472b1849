"""GPIO lines beside I2C: the power-fail input (CM4 GPIO16), the buzzer (GPIO13), chip INT pins.

A backend **must** implement :meth:`GpioLine.read`; an output line **must** implement
:meth:`GpioLine.write`; a line that can report edges **may** implement :meth:`on_edge`
(the default raises :class:`UnsupportedError`) and :meth:`recorded_edges`. Devices get lines from
the target (:meth:`wisgate.target.Target.line`), the way gpiozero devices get pins from a pin factory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from wisgate.errors import UnsupportedError

EdgeCallback = Callable[[bool, float], None]
"""Called with (new level, timestamp in seconds of the provider's clock)."""


class GpioLine(ABC):
    name: str = "line"

    @abstractmethod
    def read(self) -> bool:
        """Current level (True = high)."""

    def write(self, value: bool) -> None:
        raise UnsupportedError(f"line {self.name} is an input")

    def on_edge(self, callback: EdgeCallback) -> None:
        raise UnsupportedError(f"line {self.name} cannot report edges on this backend")

    def recorded_edges(self) -> list[tuple[float, bool]] | None:
        """(time, level) of the line's changes where the backend records them (a simulated line); else None."""
        return None

    def close(self) -> None:
        """Release the line."""


class LineProvider(ABC):
    """Hands out lines by name (``GPIO16``, ``rtc.int``...)."""

    @abstractmethod
    def line(self, name: str, *, output: bool = False, initial: bool = False) -> GpioLine:
        """The line called ``name``; raises :class:`KeyError` naming known lines if absent."""
