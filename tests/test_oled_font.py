"""The OLED's 5×7 font and ``render_text``: glyph shapes, where each pixel lands, what does not fit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wisgate.chips.font5x7 import GLYPHS, PLACEHOLDER, columns
from wisgate.chips.ssd1306 import LINE_PITCH, TEXT_COLUMNS, TEXT_LEFT, TEXT_LINES, TEXT_TOP, render_text

PRINTABLE = [chr(code) for code in range(32, 127)]
PLACEHOLDER_PAIR = "\u2603\u2603"  # two characters without a glyph


def expected_pixels(lines: list[str]) -> set[tuple[int, int]]:
    """Where each glyph's '#' should land, worked out from the glyph strings alone."""
    lit = set()
    for number, line in enumerate(lines):
        for position, char in enumerate(line):
            for y, row in enumerate(GLYPHS.get(char, PLACEHOLDER).split()):
                for x, dot in enumerate(row):
                    if dot == "#":
                        lit.add((TEXT_LEFT + 6 * position + x, TEXT_TOP + LINE_PITCH * number + y))
    return lit


def lit_pixels(lines: list[str]) -> set[tuple[int, int]]:
    frame = render_text(lines)
    return {(x, y) for y in range(64) for x in range(128) if frame.pixel(x, y)}


def test_every_glyph_is_7_rows_of_5_and_printable_ascii_is_complete() -> None:
    assert set(PRINTABLE) <= set(GLYPHS)
    for char, glyph in GLYPHS.items():
        rows = glyph.split()
        assert len(rows) == 7 and all(len(row) == 5 and set(row) <= {"#", "."} for row in rows), char
        assert all(bits < 1 << 7 for bits in columns(glyph))
        assert ("#" in glyph) == (char != " "), char
    # what the board's readings and messages print beyond ASCII
    assert set("°µ³Ω…Á") <= set(GLYPHS)


def test_distinct_characters_have_distinct_glyphs_and_none_looks_like_the_placeholder() -> None:
    shapes = list(GLYPHS.values())
    assert len(set(shapes)) == len(shapes)
    assert PLACEHOLDER not in shapes


def test_malformed_glyph_data_is_refused() -> None:
    with pytest.raises(ValueError, match="not 7 rows of 5"):
        columns("##### #...#")


def test_each_character_lands_in_its_cell_of_6_by_13() -> None:
    lines = ["wisgate 12:34:56  1/5", "CPU temp    41.2 °C", "", "jgpqy {}[]|~", "µs m³ Ω Á …"]
    assert lit_pixels(lines) == expected_pixels(lines)
    # first line's ink on row 1, the fifth line's last row on 59: five lines fill the 64 rows
    ys = sorted(y for _, y in lit_pixels(lines))
    assert ys[0] == TEXT_TOP == 1 and ys[-1] == TEXT_TOP + 4 * LINE_PITCH + 6 == 59


def test_a_gap_column_separates_characters_and_21_columns_fit_128_pixels() -> None:
    frame = render_text(["#" * TEXT_COLUMNS, "M" * TEXT_COLUMNS])
    xs = {x for x in range(128) if any(frame.pixel(x, y) for y in range(64))}
    assert min(xs) == TEXT_LEFT and max(xs) == TEXT_LEFT + 6 * (TEXT_COLUMNS - 1) + 4 == 125
    assert all(not frame.pixel(TEXT_LEFT + 6 * n + 5, y) for n in range(TEXT_COLUMNS) for y in range(64))


def test_unknown_characters_show_a_hollow_box() -> None:
    box = {(TEXT_LEFT + 6 + x, TEXT_TOP + y) for x in range(5) for y in range(7) if x in (0, 4) or y in (0, 6)}
    assert lit_pixels([" ☺"]) == box
    assert lit_pixels(["a☺b"]) == expected_pixels(["a b"]) | box
    assert lit_pixels(["\t\x00"]) == expected_pixels([PLACEHOLDER_PAIR])


def test_lines_past_the_fifth_are_dropped_and_characters_past_the_21st_clipped() -> None:
    assert render_text(["x"] * TEXT_LINES) != render_text(["x"] * (TEXT_LINES - 1))
    assert render_text(["x"] * (TEXT_LINES + 3)) == render_text(["x"] * TEXT_LINES)
    assert render_text(["x" * TEXT_COLUMNS]) != render_text(["x" * (TEXT_COLUMNS - 1)])
    assert render_text(["x" * (TEXT_COLUMNS + 9)]) == render_text(["x" * TEXT_COLUMNS])


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.text(max_size=30), max_size=7))
def test_any_text_renders_without_error_inside_the_text_area(lines: list[str]) -> None:
    shown = [line[:TEXT_COLUMNS] for line in lines[:TEXT_LINES]]
    assert lit_pixels(lines) == expected_pixels(shown)
