"""Solomon Systech SSD1306 128×64 OLED controller (0x3C), the board's status screen.

Datasheet SSD1306 rev 1.1: §8.1.5 I2C writes (control byte), §9 command table, §10.1 addressing
and GDDRAM layout, application note "SSD1306 128×64 initialisation" (charge pump, COM pins 0x12).

:meth:`SSD1306.show` keeps a shadow of GDDRAM and rewrites only what changed, in the cheapest
addressing (see :mod:`wisgate.chips.ssd1306_plan`); the first upload after :meth:`init`, or after
any bus error, is a full frame because what the controller holds is then unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from wisgate.bitmap import Frame
from wisgate.bus.i2c import I2CBus
from wisgate.chips.device import I2CDevice
from wisgate.chips.font5x7 import CELL_WIDTH, glyph_columns
from wisgate.chips.ssd1306_plan import CONTROL_COMMANDS, FRAME_BYTES, PAGES, WIDTH, Pointer, plan
from wisgate.clock import Clock
from wisgate.errors import ConfigError

if TYPE_CHECKING:
    from PIL import Image

ADDRESS = 0x3C
HEIGHT = PAGES * 8
DEFAULT_CONTRAST = 0xCF
#: Data bytes per write: a whole frame fits one i2c-dev write (its limit is 8 KiB).
DEFAULT_MAX_DATA = 1024

DISPLAY_OFF, DISPLAY_ON = 0xAE, 0xAF
NORMAL, INVERSE = 0xA6, 0xA7
SET_CONTRAST = 0x81

_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def init_sequence(contrast: int = DEFAULT_CONTRAST) -> bytes:
    """Commands that bring a 128×64 panel with internal charge pump from any state to a known one."""
    return bytes([
        DISPLAY_OFF,
        0xD5, 0x80,  # clock: divide 1, oscillator default
        0xA8, HEIGHT - 1,  # multiplex 64
        0xD3, 0x00,  # no display offset
        0x40,  # start line 0
        0x8D, 0x14,  # charge pump on (no external VCC on the module)
        0x20, 0x00,  # horizontal addressing
        0xA1,  # column 127 on SEG0: the module's glass is mounted rotated
        0xC8,  # COM scan from COM63
        0xDA, 0x12,  # alternative COM pin order, as the 128×64 glass is wired
        SET_CONTRAST, contrast,
        0xD9, 0xF1,  # pre-charge 1 / 15 clocks for the internal charge pump
        0xDB, 0x20,  # VCOMH 0.77 × VCC (reset value)
        0x2E,  # stop any scroll left running by a previous program
        0xA4,  # follow RAM
        NORMAL,
        0x21, 0x00, WIDTH - 1,  # full-screen window; homes the pointer
        0x22, 0x00, PAGES - 1,
    ])  # fmt: skip


def pack(image: Frame | Image.Image) -> bytes:
    """A 128×64 frame or Pillow image as GDDRAM bytes: page-major, one byte = 8 rows of a column, bit 0 on
    top (a :class:`Frame` holds them already; Pillow is loaded only for a Pillow image)."""
    if isinstance(image, Frame):
        if (image.width, image.height) != (WIDTH, HEIGHT):
            raise ConfigError(f"frame is {image.width}×{image.height}; the SSD1306 panel is {WIDTH}×{HEIGHT}")
        return image.data
    from PIL import Image

    if image.size != (WIDTH, HEIGHT):
        raise ConfigError(f"image is {image.size[0]}×{image.size[1]}; the SSD1306 panel is {WIDTH}×{HEIGHT}")
    mono = image if image.mode == "1" else image.convert("1", dither=Image.Dither.NONE)
    # transposed, each image row is one column, so each packed byte is 8 rows of that column
    columns = mono.transpose(Image.Transpose.TRANSPOSE).tobytes()
    out = bytearray(FRAME_BYTES)
    for column in range(WIDTH):
        for page in range(PAGES):
            out[page * WIDTH + column] = _BIT_REVERSED[columns[column * PAGES + page]]
    return bytes(out)


#: What fits on the 128x64 panel in our 5×7 font (6-pixel cells, 13-pixel lines): five lines of 21 characters.
TEXT_LINES = 5
TEXT_COLUMNS = 21
#: Text layout: the first line's top row, the line pitch and the first column, so the text sits centred.
TEXT_TOP = 1
LINE_PITCH = 13
TEXT_LEFT = 1


def render_text(lines: Sequence[str]) -> Frame:
    """Lines of text in :mod:`~wisgate.chips.font5x7` on a 128×64 frame; lines past the fifth are dropped and
    characters past the 21st clipped (the CLI and the API refuse such text before it gets here)."""
    # each column of the panel as one int, bit y = row y: a glyph's columns shift down to their line
    panel = [0] * WIDTH
    for number, line in enumerate(lines[:TEXT_LINES]):
        top = TEXT_TOP + number * LINE_PITCH
        for position, char in enumerate(line[:TEXT_COLUMNS]):
            left = TEXT_LEFT + position * CELL_WIDTH
            for offset, bits in enumerate(glyph_columns(char)):
                panel[left + offset] |= bits << top
    data = bytearray(FRAME_BYTES)
    for x, bits in enumerate(panel):
        if bits:
            data[x::WIDTH] = bits.to_bytes(PAGES, "little")  # byte k: rows 8k..8k+7, page k
    return Frame(bytes(data))


class SSD1306(I2CDevice):
    chip = "SSD1306"

    def __init__(
        self,
        bus: I2CBus,
        address: int = ADDRESS,
        *,
        clock: Clock | None = None,
        max_data: int = DEFAULT_MAX_DATA,
    ) -> None:
        super().__init__(bus, address, clock=clock)
        if max_data < 4:
            raise ConfigError(f"SSD1306 max_data {max_data}: a write must carry at least 4 bytes")
        self.max_data = max_data
        self.pointer = Pointer()
        self.shadow: bytes | None = None
        self.display_on = False
        self.inverted = False
        self.contrast_value = DEFAULT_CONTRAST
        #: Bytes on the wire (address bytes included) of the last :meth:`show`.
        self.last_upload_bytes = 0

    def command(self, *commands: int) -> None:
        for offset in range(0, len(commands), self.max_data):
            self.write(bytes([CONTROL_COMMANDS, *commands[offset : offset + self.max_data]]))

    def init(self, image: Frame | Image.Image | None = None, *, contrast: int = DEFAULT_CONTRAST) -> None:
        """Configure the panel, upload ``image`` (blank if None), then switch the display on."""
        self._check_contrast(contrast)
        self.shadow = None
        self.pointer = Pointer()
        self.command(*init_sequence(contrast))
        self.pointer = Pointer(mode=0x00, columns=(0, WIDTH - 1), pages=(0, PAGES - 1), page=0, column=0)
        self.display_on = False
        self.inverted = False
        self.contrast_value = contrast
        self.show(image if image is not None else Frame.blank(WIDTH, HEIGHT))
        self.wake()

    def show(self, image: Frame | Image.Image) -> int:
        """Upload ``image`` (a 128×64 :class:`Frame`, or a Pillow image of any mode, non-zero lit), sending
        only what changed.

        Returns the bytes it put on the wire, address bytes included.
        """
        frame = pack(image)
        writes = plan(self.shadow, frame, self.pointer, self.max_data)
        try:
            for message in writes.messages:
                self.write(message)
        except Exception:
            # part of the frame may have landed: forget what the controller holds
            self.shadow = None
            self.pointer = Pointer()
            raise
        self.shadow = frame
        self.pointer = writes.pointer
        self.last_upload_bytes = writes.wire_bytes
        return writes.wire_bytes

    def contrast(self, value: int) -> None:
        self._check_contrast(value)
        self.command(SET_CONTRAST, value)
        self.contrast_value = value

    def sleep(self) -> None:
        """Display off: the panel goes dark and the controller draws < 10 µA; GDDRAM is kept."""
        self.command(DISPLAY_OFF)
        self.display_on = False

    def wake(self) -> None:
        self.command(DISPLAY_ON)
        self.display_on = True

    def invert(self, on: bool = True) -> None:
        self.command(INVERSE if on else NORMAL)
        self.inverted = on

    def _check_contrast(self, value: int) -> None:
        if not 0 <= value <= 0xFF:
            raise ConfigError(f"SSD1306 contrast {value} is outside 0-255")
