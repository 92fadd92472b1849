"""SSD1306 128×64 OLED controller model (Solomon Systech SSD1306 datasheet rev 1.1).

§8.1.5 I2C interface: every transaction starts with a control byte (Co bit 7, D/C# bit 6);
Co = 0 makes the rest of the transaction a command or data stream, Co = 1 sends one byte and
expects another control byte. §9/§10: command table, GDDRAM pages and the three addressing modes;
§10.1.3-10.1.5 pointer wrap rules; §10.1.12-10.1.18 hardware configuration (remap, multiplex,
offset, COM pins) that decides which RAM bit lights which pixel.

The command decoder is independent of transactions, so a command's arguments may arrive in later
transactions (drivers that send every byte as its own ``0x80`` pair rely on this).

:meth:`SSD1306Model.screen` renders what a viewer sees on the module glass. The module is mounted
the way the usual 128×64 modules are (and the way every driver configures them, ``0xA1`` + ``0xC8``):
SEG0 at the viewer's right, COM0 at the bottom, rows wired for the alternative COM pin order (``0xDA
0x12``). Other settings therefore show mirrored or interleaved pictures, as the real glass would.

Not modelled: scrolling (set-up commands are accepted and stored; the picture does not move),
brightness (``contrast`` is a property, the image is 1-bit), the GDDRAM read path. The I2C read of
the status byte (bit 6 = display off, other bits 0) follows §8.1.5 but the reserved bits are
unconfirmed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wisgate.bitmap import Frame
from wisgate.clock import SimClock
from wisgate.sim.device import I2CModel

if TYPE_CHECKING:
    from PIL import Image

WIDTH = 128
HEIGHT = 64
PAGES = HEIGHT // 8

HORIZONTAL, VERTICAL, PAGE = 0, 1, 2

#: Argument bytes that follow each multi-byte command (§9, command table).
ARGUMENTS = {
    0x20: 1, 0x21: 2, 0x22: 2,  # addressing
    0x26: 6, 0x27: 6, 0x29: 5, 0x2A: 5, 0xA3: 2,  # scroll set-up
    0x81: 1, 0x8D: 1, 0xA8: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1, 0xDB: 1,
}


@dataclass
class Settings:
    """Registers after RESET (§9 command table, "Reset" column)."""

    contrast: int = 0x7F
    display_on: bool = False
    entire_on: bool = False  # 0xA5: all pixels on regardless of RAM
    inverse: bool = False
    segment_remap: bool = False  # 0xA1: column 127 drives SEG0
    com_scan_remapped: bool = False  # 0xC8: scan from COM[N-1] to COM0
    multiplex: int = 64  # 0xA8 argument + 1
    display_offset: int = 0
    start_line: int = 0
    clock_divide: int = 0x80
    com_pins: int = 0x12
    precharge: int = 0x22
    vcomh: int = 0x20
    charge_pump: bool = False  # 0x8D 0x10 at reset: the panel stays dark without its supply
    addressing_mode: int = PAGE
    column_start: int = 0
    column_end: int = WIDTH - 1
    page_start: int = 0
    page_end: int = PAGES - 1
    scrolling: bool = False
    scroll_setup: tuple[int, ...] = ()


def _alternative_row_pin(row: int) -> int:
    """COM pin of panel row ``row`` in the alternative COM pin order (§10.1.18, table 10-3)."""
    return row // 2 + 32 * (row % 2)


#: rows of one byte a pixel (as :meth:`Frame.rows`): all lit, all dark, and a lit/dark swap
_ALL_ON = bytes([1]) * WIDTH
_ALL_OFF = bytes(WIDTH)
_INVERT = bytes.maketrans(b"\x00\x01", b"\x01\x00")

#: Panel row wired to each COM pin (the glass is made for the alternative order, 0xDA 0x12).
_PIN_TO_PANEL_ROW = {_alternative_row_pin(row): row for row in range(HEIGHT)}


class SSD1306Model(I2CModel):
    part = "SSD1306"

    def __init__(self, clock: SimClock, address: int = 0x3C, *, seed: int = 0x1306) -> None:
        super().__init__(clock, address)
        self._seed = seed
        self.power_on_reset()

    def power_on_reset(self) -> None:
        self.settings = Settings()
        # GDDRAM content is undefined at power-up; noise makes a driver that forgets to clear visible
        noise = random.Random(self._seed)
        self.ram = bytearray(noise.getrandbits(8) for _ in range(WIDTH * PAGES))
        self.page = 0
        self.column = 0
        self._pending: list[int] = []  # command opcode and the arguments received so far
        self._control = True  # the next byte is a control byte
        self._stream: bool | None = None  # None: single byte (Co = 1); True data / False commands
        self._single_is_data = False

    # -- bus side ---------------------------------------------------------------------------

    def ack_address(self, read: bool) -> bool:
        self._control = True
        self._stream = None
        return True

    def write(self, data: bytes) -> None:
        for byte in data:
            if self._control:
                self._control = False
                if byte & 0x80:  # Co = 1: one byte, then another control byte
                    self._stream = None
                    self._single_is_data = bool(byte & 0x40)
                else:
                    self._stream = bool(byte & 0x40)
                continue
            if self._stream is None:
                self._control = True
                is_data = self._single_is_data
            else:
                is_data = self._stream
            if is_data:
                self._write_ram(byte)
            else:
                self._command_byte(byte)

    def read(self, length: int) -> bytes:
        status = 0x00 if self.settings.display_on else 0x40
        return bytes([status]) * length

    # -- GDDRAM -----------------------------------------------------------------------------

    def _write_ram(self, byte: int) -> None:
        s = self.settings
        self.ram[self.page * WIDTH + self.column] = byte
        if s.addressing_mode == PAGE:
            self.column = (self.column + 1) % WIDTH  # wraps within the page (§10.1.3)
        elif s.addressing_mode == HORIZONTAL:
            self.column += 1
            if self.column > s.column_end or self.column >= WIDTH:
                self.column = s.column_start
                self.page += 1
                if self.page > s.page_end or self.page >= PAGES:
                    self.page = s.page_start
        else:
            self.page += 1
            if self.page > s.page_end or self.page >= PAGES:
                self.page = s.page_start
                self.column += 1
                if self.column > s.column_end or self.column >= WIDTH:
                    self.column = s.column_start

    # -- command decoder --------------------------------------------------------------------

    def _command_byte(self, byte: int) -> None:
        self._pending.append(byte)
        opcode = self._pending[0]
        if len(self._pending) <= ARGUMENTS.get(opcode, 0):
            return
        command, self._pending = self._pending, []
        self._execute(command[0], command[1:])

    def _execute(self, op: int, args: list[int]) -> None:
        s = self.settings
        if op <= 0x0F:
            if s.addressing_mode == PAGE:
                self.column = (self.column & 0xF0) | op
        elif op <= 0x1F:
            if s.addressing_mode == PAGE:
                self.column = ((op & 0x07) << 4) | (self.column & 0x0F)
        elif op == 0x20:
            mode = args[0] & 0x03
            if mode != 0x03:  # 11b is invalid and ignored
                s.addressing_mode = mode
        elif op == 0x21:
            s.column_start, s.column_end = args[0] & 0x7F, args[1] & 0x7F
            if s.addressing_mode != PAGE:
                self.column = s.column_start
        elif op == 0x22:
            s.page_start, s.page_end = args[0] & 0x07, args[1] & 0x07
            if s.addressing_mode != PAGE:
                self.page = s.page_start
        elif op in (0x26, 0x27, 0x29, 0x2A, 0xA3):
            s.scroll_setup = (op, *args)
        elif op == 0x2E:
            s.scrolling = False
        elif op == 0x2F:
            s.scrolling = True
        elif 0x40 <= op <= 0x7F:
            s.start_line = op & 0x3F
        elif op == 0x81:
            s.contrast = args[0]
        elif op == 0x8D:
            s.charge_pump = bool(args[0] & 0x04)
        elif op in (0xA0, 0xA1):
            s.segment_remap = op == 0xA1
        elif op in (0xA4, 0xA5):
            s.entire_on = op == 0xA5
        elif op in (0xA6, 0xA7):
            s.inverse = op == 0xA7
        elif op == 0xA8:
            ratio = args[0] & 0x3F
            if ratio >= 15:  # 0-14 are invalid
                s.multiplex = ratio + 1
        elif op in (0xAE, 0xAF):
            s.display_on = op == 0xAF
        elif 0xB0 <= op <= 0xB7:
            if s.addressing_mode == PAGE:
                self.page = op & 0x07
        elif 0xC0 <= op <= 0xCF:
            s.com_scan_remapped = bool(op & 0x08)
        elif op == 0xD3:
            s.display_offset = args[0] & 0x3F
        elif op == 0xD5:
            s.clock_divide = args[0]
        elif op == 0xD9:
            s.precharge = args[0]
        elif op == 0xDA:
            s.com_pins = (args[0] & 0x30) | 0x02
        elif op == 0xDB:
            s.vcomh = args[0] & 0x70
        # 0xE3 (NOP) and unknown opcodes do nothing

    # -- what a viewer sees -----------------------------------------------------------------

    @property
    def contrast(self) -> int:
        return self.settings.contrast

    @property
    def display_on(self) -> bool:
        return self.settings.display_on

    @property
    def lit(self) -> bool:
        """The panel shows something: display on and its charge pump running."""
        return self.settings.display_on and self.settings.charge_pump

    @property
    def inverse(self) -> bool:
        return self.settings.inverse

    @property
    def addressing_mode(self) -> int:
        return self.settings.addressing_mode

    @property
    def pointer(self) -> tuple[int, int]:
        """(page, column) the next data byte goes to."""
        return self.page, self.column

    def pixel(self, x: int, y: int) -> bool:
        """GDDRAM bit of column ``x``, row ``y`` (no display mapping)."""
        return bool(self.ram[(y // 8) * WIDTH + x] >> (y % 8) & 1)

    def _panel_rows(self) -> dict[int, int]:
        """Panel row (0 = chip's COM0 side) → GDDRAM row, for the rows the multiplex scans."""
        s = self.settings
        mux = s.multiplex
        rows: dict[int, int] = {}
        for line in range(mux):
            ram_row = (line + s.start_line) % HEIGHT
            com = (line - s.display_offset) % HEIGHT
            if s.com_scan_remapped:
                com = (mux - 1 - com) % HEIGHT
            if s.com_pins & 0x10:
                com = _alternative_row_pin(com)
            if s.com_pins & 0x20:  # COM left/right remap swaps the two pin halves
                com ^= 32
            rows[_PIN_TO_PANEL_ROW[com]] = ram_row
        return rows

    def ram_frame(self) -> Frame:
        """GDDRAM as a 128×64 frame (column x, row y), without the display mapping."""
        return Frame(bytes(self.ram), WIDTH, HEIGHT)

    def screen(self) -> Frame:
        """The visible display as a 128×64 frame (lit pixels on)."""
        s = self.settings
        if not self.lit:
            return Frame.blank(WIDTH, HEIGHT)
        if s.entire_on:
            source = [_ALL_ON] * HEIGHT
        else:
            source = self.ram_frame().rows()
            if s.inverse:
                source = [row.translate(_INVERT) for row in source]
        if not s.segment_remap:
            # SEG0 (RAM column 0) sits at the viewer's right on this module
            source = [row[::-1] for row in source]
        out = [_ALL_OFF] * HEIGHT
        for panel_row, ram_row in self._panel_rows().items():
            out[HEIGHT - 1 - panel_row] = source[ram_row]  # COM0 at the viewer's bottom
        return Frame.from_rows(out)

    def framebuffer(self) -> Image.Image:
        """:meth:`ram_frame` as a Pillow image (loads Pillow: for tests and users' code, not the daemon)."""
        return self.ram_frame().image()

    def image(self) -> Image.Image:
        """:meth:`screen` as a Pillow 1-bit image, white = lit (loads Pillow, as :meth:`framebuffer`)."""
        return self.screen().image()

    def save_png(self, path: str | Path) -> None:
        Path(path).write_bytes(self.screen().png())
