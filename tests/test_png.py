"""The PNG encoder and the 1-bit frame: what Pillow decodes is exactly what was encoded."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from wisgate.bitmap import Frame
from wisgate.png import SIGNATURE, encode_gray


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk, each CRC checked, read by the spec (§5.3), not by the encoder."""
    assert png[:8] == SIGNATURE
    found, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        found.append((kind, data))
        at += 12 + length
    assert at == len(png)
    return found


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    width = draw(st.integers(1, 140))
    height = 8 * draw(st.integers(1, 9))
    rows = [bytes(draw(st.lists(st.integers(0, 1), min_size=width, max_size=width))) for _ in range(height)]
    return Frame.from_rows(rows)


@settings(max_examples=120, deadline=None)
@given(frame=frames())
def test_a_frame_encodes_to_a_png_that_pillow_reads_back_pixel_for_pixel(frame: Frame) -> None:
    png = frame.png()
    kinds = [kind for kind, _ in chunks(png)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    with Image.open(io.BytesIO(png)) as image:
        assert (image.size, image.mode) == ((frame.width, frame.height), "1")
        lit = image.convert("L").tobytes()
    assert lit == b"".join(row.replace(b"\x01", b"\xff") for row in frame.rows())
    assert frame.image().convert("L").tobytes() == lit


@settings(max_examples=80, deadline=None)
@given(width=st.integers(1, 70), data=st.data())
def test_an_8_bit_grayscale_picture_reads_back_byte_for_byte(width: int, data: st.DataObject) -> None:
    height = data.draw(st.integers(1, 40))
    rows = [data.draw(st.binary(min_size=width, max_size=width)) for _ in range(height)]
    png = encode_gray(width, height, rows)
    header = dict(chunks(png))[b"IHDR"]
    assert struct.unpack(">IIBBBBB", header) == (width, height, 8, 0, 0, 0, 0)
    with Image.open(io.BytesIO(png)) as image:
        assert (image.size, image.mode) == ((width, height), "L")
        assert image.tobytes() == b"".join(rows)


def test_bad_input_is_refused_with_what_was_wrong() -> None:
    with pytest.raises(ValueError, match="bit depth 4"):
        encode_gray(2, 1, [b"\x00"], bit_depth=4)
    with pytest.raises(ValueError, match="2 rows given for a picture 3 high"):
        encode_gray(8, 3, [b"\x00", b"\x00"], bit_depth=1)
    with pytest.raises(ValueError, match="row 1 has 3 bytes; 9 pixels at 1 bit take 2"):
        encode_gray(9, 2, [b"\x00\x00", b"\x00\x00\x00"], bit_depth=1)
    with pytest.raises(ValueError, match="size 0×1"):
        encode_gray(0, 1, [b""])


# -- the frame --------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(frame=frames())
def test_frame_rows_pixels_and_counts_agree(frame: Frame) -> None:
    rows = frame.rows()
    assert Frame.from_rows(rows) == frame
    assert all(frame.pixel(x, y) == bool(rows[y][x]) for y in range(frame.height) for x in range(frame.width))
    assert frame.lit() == sum(map(sum, rows))
    lit = [(x, y) for y in range(frame.height) for x in range(frame.width) if rows[y][x]]
    box = frame.lit_box()
    if not lit:
        assert box is None
    else:
        xs, ys = [x for x, _ in lit], [y for _, y in lit]
        assert box == (min(xs), min(ys), max(xs) + 1, max(ys) + 1)
        assert box == frame.image().getbbox()


def test_frame_layout_is_gddram() -> None:
    rows = [bytearray(128) for _ in range(64)]
    rows[0][5] = 1
    rows[9][7] = 7  # any non-zero value is lit
    frame = Frame.from_rows([bytes(r) for r in rows])
    assert {i: b for i, b in enumerate(frame.data) if b} == {5: 0x01, 128 + 7: 0x02}
    assert frame != Frame.blank() and Frame.blank().lit() == 0


def test_frame_refuses_wrong_sizes() -> None:
    with pytest.raises(ValueError, match="takes 1024 bytes, not 10"):
        Frame(bytes(10))
    with pytest.raises(ValueError, match="multiple of 8"):
        Frame(bytes(12), 8, 12)
    with pytest.raises(ValueError, match="equal rows"):
        Frame.from_rows([bytes(3)] * 7 + [bytes(4)])
    with pytest.raises(IndexError, match=r"\(128, 0\)"):
        Frame.blank().pixel(128, 0)
