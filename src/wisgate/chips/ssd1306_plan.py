"""Partial SSD1306 updates: which GDDRAM rectangles to rewrite, and the cheapest bytes that do it.

SSD1306 datasheet §8.1.5.2 (control byte), §10.1.3-10.1.5 (page / horizontal addressing and their
pointer wrap rules), §10.1.1-10.1.4 (column / page / window commands).

Each candidate plan (page-mode runs, per-page horizontal windows, rectangles spanning several pages,
with small gaps between runs merged or not) is emitted as real bus writes while tracking what the
controller's pointer and windows will be; the plan with the fewest bytes on the wire wins. Tracking
the pointer lets a repeated update of the same rectangle (a ticking clock) skip every command: in
horizontal mode the pointer returns to the window's start after the last byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

WIDTH = 128
PAGES = 8
FRAME_BYTES = WIDTH * PAGES

HORIZONTAL = 0x00
PAGE = 0x02

CONTROL_COMMANDS = 0x00
CONTROL_DATA = 0x40
CONTROL_ONE_COMMAND = 0x80

#: Gaps (unchanged columns) between changed runs of one page that candidate plans bridge.
MERGE_GAPS = (0, 3, 6, 12, WIDTH)
#: Rough command + transaction overhead of one more rectangle, for grouping pages.
RECT_OVERHEAD = 10


@dataclass
class Pointer:
    """What the driver knows of the controller's addressing registers; None = unknown."""

    mode: int | None = None
    columns: tuple[int, int] | None = None
    pages: tuple[int, int] | None = None
    page: int | None = None
    column: int | None = None

    def copy(self) -> Pointer:
        return dataclasses.replace(self)

    def advance(self, count: int) -> None:
        """Move as the controller does after ``count`` data bytes."""
        if self.page is None or self.column is None:
            return
        if self.mode == PAGE:
            self.column = (self.column + count) % WIDTH
            return
        if self.mode != HORIZONTAL or self.columns is None or self.pages is None:
            self.page = self.column = None
            return
        (c0, c1), (p0, p1) = self.columns, self.pages
        if not (c0 <= self.column <= c1 and p0 <= self.page <= p1):
            self.page = self.column = None
            return
        width = c1 - c0 + 1
        index = ((self.page - p0) * width + self.column - c0 + count) % ((p1 - p0 + 1) * width)
        self.page, self.column = p0 + index // width, c0 + index % width


@dataclass(frozen=True)
class Rect:
    """Pages ``page0..page1`` × columns ``col0..col1`` (inclusive)."""

    page0: int
    page1: int
    col0: int
    col1: int

    def data(self, frame: bytes) -> bytes:
        """The rectangle's bytes in horizontal-addressing order."""
        rows = range(self.page0, self.page1 + 1)
        return b"".join(frame[p * WIDTH + self.col0 : p * WIDTH + self.col1 + 1] for p in rows)

    def pages(self) -> Iterator[Rect]:
        for page in range(self.page0, self.page1 + 1):
            yield Rect(page, page, self.col0, self.col1)


FULL_FRAME = Rect(0, PAGES - 1, 0, WIDTH - 1)


def changed_runs(old: bytes, new: bytes, page: int) -> list[tuple[int, int]]:
    """Inclusive column runs of ``page`` whose bytes differ."""
    runs: list[tuple[int, int]] = []
    base = page * WIDTH
    start: int | None = None
    for column in range(WIDTH):
        if old[base + column] != new[base + column]:
            if start is None:
                start = column
        elif start is not None:
            runs.append((start, column - 1))
            start = None
    if start is not None:
        runs.append((start, WIDTH - 1))
    return runs


def merge_runs(runs: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Join runs separated by at most ``gap`` unchanged columns."""
    merged: list[tuple[int, int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] - 1 <= gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def per_page_rects(runs: dict[int, list[tuple[int, int]]]) -> list[Rect]:
    return [Rect(page, page, a, b) for page in sorted(runs) for a, b in runs[page]]


def grouped_rects(runs: dict[int, list[tuple[int, int]]]) -> list[Rect]:
    """Cover the runs with rectangles spanning consecutive pages where that is estimated cheaper."""
    unreached: list[Rect] = []
    best: list[tuple[int, list[Rect]]] = [(0, []), *[(1 << 30, unreached)] * PAGES]
    for i in range(PAGES):
        cost, rects = best[i]
        alone = sum(RECT_OVERHEAD + b - a + 1 for a, b in runs.get(i, []))
        if cost + alone < best[i + 1][0]:
            best[i + 1] = (cost + alone, rects + [Rect(i, i, a, b) for a, b in runs.get(i, [])])
        if not runs.get(i):
            continue
        low, high = WIDTH, -1
        for j in range(i, PAGES):
            for a, b in runs.get(j, []):
                low, high = min(low, a), max(high, b)
            if j == i or not runs.get(j):
                continue
            total = cost + RECT_OVERHEAD + (j - i + 1) * (high - low + 1)
            if total < best[j + 1][0]:
                best[j + 1] = (total, [*rects, Rect(i, j, low, high)])
    return best[PAGES][1]


class Emitter:
    """Turns rectangles into bus writes, tracking the controller's pointer as it goes."""

    def __init__(self, pointer: Pointer, frame: bytes, max_data: int) -> None:
        self.pointer = pointer.copy()
        self.frame = frame
        self.max_data = max_data
        self.messages: list[bytes] = []

    @property
    def wire_bytes(self) -> int:
        """Bytes on the bus, counting each write's address byte."""
        return sum(len(m) + 1 for m in self.messages)

    def emit(self, rect: Rect, mode: int) -> None:
        if mode == PAGE:
            for row in rect.pages():
                self._send(self._page_commands(row), row.data(self.frame))
        else:
            self._send(self._horizontal_commands(rect), rect.data(self.frame))

    def _switch(self, mode: int) -> list[int]:
        if self.pointer.mode == mode:
            return []
        # whether the pointer survives a mode change is not documented: forget it
        self.pointer = Pointer(mode=mode, columns=self.pointer.columns, pages=self.pointer.pages)
        return [0x20, mode]

    def _horizontal_commands(self, rect: Rect) -> list[int]:
        commands = self._switch(HORIZONTAL)
        p = self.pointer
        if p.columns != (rect.col0, rect.col1) or p.column != rect.col0:
            commands += [0x21, rect.col0, rect.col1]
            p.columns, p.column = (rect.col0, rect.col1), rect.col0
        inside = p.pages is not None and p.pages[0] <= rect.page0 and rect.page1 <= p.pages[1]
        if not inside or p.page != rect.page0:
            commands += [0x22, rect.page0, rect.page1]
            p.pages, p.page = (rect.page0, rect.page1), rect.page0
        return commands

    def _page_commands(self, row: Rect) -> list[int]:
        commands = self._switch(PAGE)
        p = self.pointer
        if p.page != row.page0:
            commands.append(0xB0 | row.page0)
            p.page = row.page0
        if p.column != row.col0:
            if p.column is None or p.column & 0x0F != row.col0 & 0x0F:
                commands.append(row.col0 & 0x0F)
            if p.column is None or p.column >> 4 != row.col0 >> 4:
                commands.append(0x10 | row.col0 >> 4)
            p.column = row.col0
        return commands

    def _send(self, commands: list[int], data: bytes) -> None:
        # one command rides in the data write as a Co=1 pair (2 bytes, not 3); more get a write of their own
        inline = len(commands) <= 1 and len(commands) * 2 < self.max_data
        head = b""
        if commands and inline:
            head = b"".join(bytes([CONTROL_ONE_COMMAND, c]) for c in commands)
        elif commands:
            self.command(commands)
        first = max(1, self.max_data - len(head))
        self.messages.append(head + bytes([CONTROL_DATA]) + data[:first])
        for offset in range(first, len(data), self.max_data):
            self.messages.append(bytes([CONTROL_DATA]) + data[offset : offset + self.max_data])
        self.pointer.advance(len(data))

    def command(self, commands: list[int]) -> None:
        for offset in range(0, len(commands), self.max_data):
            self.messages.append(bytes([CONTROL_COMMANDS, *commands[offset : offset + self.max_data]]))


def candidates(old: bytes, new: bytes) -> Iterator[tuple[list[Rect], int]]:
    """Rectangle lists with the addressing mode to write them in."""
    exact = {page: changed_runs(old, new, page) for page in range(PAGES)}
    exact = {page: runs for page, runs in exact.items() if runs}
    if not exact:
        return
    for gap in MERGE_GAPS:
        runs = {page: merge_runs(r, gap) for page, r in exact.items()}
        rects = per_page_rects(runs)
        yield rects, PAGE
        yield rects, HORIZONTAL
        yield grouped_rects(runs), HORIZONTAL
    yield [FULL_FRAME], HORIZONTAL


def plan(old: bytes | None, new: bytes, pointer: Pointer, max_data: int) -> Emitter:
    """The cheapest writes that turn GDDRAM ``old`` (None = unknown: full frame) into ``new``."""
    if old is None:
        options: Iterator[tuple[list[Rect], int]] = iter([([FULL_FRAME], HORIZONTAL)])
    else:
        options = candidates(old, new)
    best = Emitter(pointer, new, max_data)
    best_cost: int | None = None
    for rects, mode in options:
        emitter = Emitter(pointer, new, max_data)
        for rect in rects:
            emitter.emit(rect, mode)
        if best_cost is None or emitter.wire_bytes < best_cost:
            best, best_cost = emitter, emitter.wire_bytes
    return best
