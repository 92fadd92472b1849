"""A PNG encoder for grayscale pictures (PNG spec, ISO/IEC 15948: §5 chunks, §11.2.2 IHDR, §9 filtering).

Pure: bytes in, bytes out, stdlib zlib only. The daemon serves the OLED's picture with it and so never loads
Pillow (about 4.6 MB of its memory, issue 12). Every row uses filter type 0 (None): the pictures are small
and mostly flat, and deflate does the rest.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRAYSCALE = 0
BIT_DEPTHS = (1, 8)


def chunk(kind: bytes, data: bytes) -> bytes:
    """Length, type, data, then the CRC-32 of type and data (§5.3)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def row_bytes(width: int, bit_depth: int) -> int:
    return (width * bit_depth + 7) // 8


def encode_gray(width: int, height: int, rows: Sequence[bytes], *, bit_depth: int = 8) -> bytes:
    """A grayscale PNG of ``rows``, top to bottom, each packed as PNG stores it.

    Bit depth 8: one byte a pixel (0 black, 255 white). Bit depth 1: eight pixels a byte, the leftmost in
    the most significant bit, 1 white; a row's unused low bits are ignored by decoders.
    """
    if bit_depth not in BIT_DEPTHS:
        raise ValueError(f"PNG bit depth {bit_depth}: this encoder writes {BIT_DEPTHS}")
    if not (0 < width < 2**31 and 0 < height < 2**31):
        raise ValueError(f"PNG size {width}×{height}: both must be 1 to 2^31-1")
    if len(rows) != height:
        raise ValueError(f"{len(rows)} rows given for a picture {height} high")
    size = row_bytes(width, bit_depth)
    for n, line in enumerate(rows):
        if len(line) != size:
            raise ValueError(f"row {n} has {len(line)} bytes; {width} pixels at {bit_depth} bit take {size}")
    header = struct.pack(">IIBBBBB", width, height, bit_depth, GRAYSCALE, 0, 0, 0)
    scanlines = b"".join(b"\x00" + bytes(line) for line in rows)  # filter type 0 before each row
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(scanlines, 9)) + chunk(b"IEND", b"")
