"""A 1-bit picture held the way an SSD1306 holds it (datasheet §10.1.3, GDDRAM): page-major, one byte is
eight rows of one column, bit 0 on top.

Neutral ground for the driver (``chips/``, which uploads it), the simulated panel (``sim/``, which shows
one) and the services that mirror the panel as PNG, so none of them needs Pillow (issue 12: the daemon's
memory). :meth:`Frame.image` converts to a Pillow image for code that wants one, loading Pillow only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wisgate.png import encode_gray, row_bytes

if TYPE_CHECKING:
    from PIL import Image

WIDTH = 128
HEIGHT = 64

#: byte value → its bit k, for each k: a page's 128 bytes translate to one row of 0/1 pixels
_BIT_OF = [bytes((value >> bit) & 1 for value in range(256)) for bit in range(8)]
#: 0/1 pixel bytes → ASCII digits, so a row packs MSB-first through int(..., 2)
_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


@dataclass(frozen=True)
class Frame:
    """``data``: GDDRAM bytes, ``width × height / 8`` of them; ``height`` a multiple of 8."""

    data: bytes
    width: int = WIDTH
    height: int = HEIGHT

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.height % 8:
            raise ValueError(f"frame {self.width}×{self.height}: the height must be a positive multiple of 8")
        if len(self.data) != self.width * self.height // 8:
            raise ValueError(f"frame {self.width}×{self.height} takes {self.width * self.height // 8} bytes, "
                             f"not {len(self.data)}")
        object.__setattr__(self, "data", bytes(self.data))

    @classmethod
    def blank(cls, width: int = WIDTH, height: int = HEIGHT) -> Frame:
        return cls(bytes(width * height // 8), width, height)

    @classmethod
    def from_rows(cls, rows: Sequence[bytes]) -> Frame:
        """From rows top to bottom, one byte a pixel (non-zero lit); all rows as wide."""
        height = len(rows)
        width = len(rows[0]) if rows else 0
        if height == 0 or height % 8 or width == 0 or any(len(row) != width for row in rows):
            raise ValueError(f"{height} rows of widths {sorted({len(r) for r in rows})}: need equal rows, "
                             "a multiple of 8 of them")
        ones = bytes([0]) + bytes([1]) * 255
        out = bytearray()
        for page in range(height // 8):
            # each row's bytes are 0 or 1: shifted by 0-7 bits they never carry into the next byte
            combined = 0
            for bit in range(8):
                combined |= int.from_bytes(bytes(rows[page * 8 + bit]).translate(ones)) << bit
            out += combined.to_bytes(width)
        return cls(bytes(out), width, height)

    def rows(self) -> list[bytes]:
        """Rows top to bottom, one byte a pixel, 1 lit."""
        w = self.width
        return [self.data[page * w : (page + 1) * w].translate(_BIT_OF[bit])
                for page in range(self.height // 8) for bit in range(8)]

    def pixel(self, x: int, y: int) -> bool:
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise IndexError(f"pixel ({x}, {y}) is outside the {self.width}×{self.height} frame")
        return bool(self.data[(y // 8) * self.width + x] >> (y % 8) & 1)

    def lit(self) -> int:
        """How many pixels are on."""
        return int.from_bytes(self.data).bit_count()

    def lit_box(self) -> tuple[int, int, int, int] | None:
        """(left, top, right, bottom), exclusive like Pillow's ``getbbox``; None when nothing is lit."""
        lit_rows = [y for y, row in enumerate(self.rows()) if any(row)]
        if not lit_rows:
            return None
        columns = [x for x in range(self.width) if any(self.data[x :: self.width])]
        return columns[0], lit_rows[0], columns[-1] + 1, lit_rows[-1] + 1

    def png(self) -> bytes:
        """A 1-bit grayscale PNG, lit pixels white."""
        width = self.width
        size = row_bytes(width, 1)
        pad = b"\x00" * (size * 8 - width)
        packed = [int((row + pad).translate(_DIGITS), 2).to_bytes(size) for row in self.rows()]
        return encode_gray(width, self.height, packed, bit_depth=1)

    def image(self) -> Image.Image:
        """As a Pillow mode "1" image (loads Pillow: not for the daemon's path)."""
        from PIL import Image

        return Image.frombytes("L", (self.width, self.height), b"".join(self.rows())).point(
            lambda v: 255 if v else 0, mode="1")
