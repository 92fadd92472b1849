"""Bit fields of a register word, declared once as data (as datasheet register tables list them).

``MUX = Field(12, 3)`` reads like the table row "bits 14:12 MUX"; :meth:`Field.get` extracts the
field from a register value and :meth:`Field.put` returns the value with the field replaced.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Field:
    """``width`` bits starting at bit ``shift`` (bit 0 = least significant)."""

    shift: int
    width: int = 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.shift

    @property
    def limit(self) -> int:
        """The largest value the field holds."""
        return (1 << self.width) - 1

    def get(self, word: int) -> int:
        return (word >> self.shift) & self.limit

    def put(self, word: int, value: int) -> int:
        if not 0 <= value <= self.limit:
            raise ValueError(f"{value} does not fit a {self.width}-bit field")
        return (word & ~self.mask) | (value << self.shift)
