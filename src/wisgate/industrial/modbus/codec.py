"""Registers <-> values: pure functions, no I/O.

A value spans one or more 16-bit registers. ``byte_order`` is the order of the two bytes inside each
register (big: high byte first, as the ModBUS spec sends them), ``word_order`` the order of the registers
of a multi-register value (big: the most significant register first). Devices disagree on both, which
is why ``wisgate modbus read`` shows every combination side by side.

Numbers go through pymodbus's ``convert_from_registers`` / ``convert_to_registers`` (3.10+ API), after
this module has put the bytes of each register in big-endian order; bit patterns and strings are
handled here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

# the types are re-exported: callers that convert registers import them from here
from wisgate.industrial.modbus.datatypes import FLOAT_TYPES as FLOAT_TYPES
from wisgate.industrial.modbus.datatypes import INTEGER_TYPES as INTEGER_TYPES
from wisgate.industrial.modbus.datatypes import ORDERS as ORDERS
from wisgate.industrial.modbus.datatypes import WIDTH as WIDTH
from wisgate.industrial.modbus.datatypes import DataType as DataType
from wisgate.industrial.modbus.datatypes import Encoding as Encoding
from wisgate.industrial.modbus.datatypes import Order as Order
from wisgate.industrial.modbus.datatypes import Value as Value

if TYPE_CHECKING:
    from pymodbus.client.mixin import ModbusClientMixin


@cache
def _pymodbus() -> tuple[type[ModbusClientMixin[object]], dict[DataType, ModbusClientMixin.DATATYPE]]:
    """pymodbus's converter and its name for each numeric type, imported at the first number converted
    (the API and the config need this module's types, not pymodbus)."""
    from pymodbus.client.mixin import ModbusClientMixin

    dt = ModbusClientMixin.DATATYPE
    return ModbusClientMixin, {
        DataType.U16: dt.UINT16, DataType.I16: dt.INT16, DataType.U32: dt.UINT32, DataType.I32: dt.INT32,
        DataType.U64: dt.UINT64, DataType.I64: dt.INT64, DataType.F32: dt.FLOAT32, DataType.F64: dt.FLOAT64,
    }


class CodecError(ValueError):
    """A value that does not fit its encoding, or registers that are not what the encoding needs."""


def _swap_bytes(registers: Sequence[int]) -> list[int]:
    return [((r & 0xFF) << 8) | (r >> 8) for r in registers]


def _check_registers(registers: Sequence[int], encoding: Encoding) -> list[int]:
    if len(registers) != encoding.registers:
        raise CodecError(f"{encoding.dtype} needs {encoding.registers} register(s), got {len(registers)}")
    if any(not 0 <= r <= 0xFFFF for r in registers):
        raise CodecError("registers are 16-bit values (0-65535)")
    return _swap_bytes(registers) if encoding.byte_order == "little" else list(registers)


def to_bytes(registers: Sequence[int], encoding: Encoding) -> bytes:
    """The span as bytes, most significant first (word and byte order undone)."""
    words = _check_registers(registers, encoding)
    if encoding.word_order == "little":
        words.reverse()
    return b"".join(w.to_bytes(2, "big") for w in words)


def decode(registers: Sequence[int], encoding: Encoding) -> Value:
    """The raw value the registers hold (before scale and offset)."""
    dtype = encoding.dtype
    if dtype is DataType.STRING:
        return to_bytes(registers, encoding).rstrip(b"\0").decode("latin-1")
    if dtype in (DataType.BITS, DataType.BOOL):
        value = int.from_bytes(to_bytes(registers, encoding), "big")
        return int(value != 0) if dtype is DataType.BOOL else value
    words = _check_registers(registers, encoding)
    mixin, names = _pymodbus()
    result = mixin.convert_from_registers(words, names[dtype], word_order=encoding.word_order)
    assert isinstance(result, int | float)
    return result


def encode(value: Value, encoding: Encoding) -> list[int]:
    """The registers that hold raw ``value``; a value the type cannot hold is a :class:`CodecError`."""
    dtype = encoding.dtype
    if dtype is DataType.STRING:
        if not isinstance(value, str):
            raise CodecError(f"a string point takes text, not {value!r}")
        try:
            data = value.encode("latin-1")
        except UnicodeEncodeError:
            raise CodecError("a string point takes Latin-1 text") from None
        room = 2 * encoding.registers
        if len(data) > room:
            raise CodecError(f"{len(data)} characters do not fit {encoding.registers} register(s) ({room} bytes)")
        return _from_bytes(data.ljust(room, b"\0"), encoding)
    if isinstance(value, str):
        raise CodecError(f"a {dtype} point takes a number, not {value!r}")
    if dtype in FLOAT_TYPES:
        if not math.isfinite(value):
            raise CodecError(f"{value} is not a finite number")
        if dtype is DataType.F32 and abs(value) > 3.4028234663852886e38:
            raise CodecError(f"{value} is beyond float32's range")
        mixin, names = _pymodbus()
        words = mixin.convert_to_registers(float(value), names[dtype], word_order=encoding.word_order)
        return _swap_bytes(words) if encoding.byte_order == "little" else words
    if isinstance(value, float):
        if not value.is_integer():
            raise CodecError(f"a {dtype} point takes a whole number, not {value}")
        value = int(value)
    low, high = encoding.integer_range() or (0, 1)
    if not low <= value <= high:
        raise CodecError(f"{value} is outside {dtype}'s range {low}..{high}")
    if value < 0:
        value += 1 << (16 * encoding.registers)
    return _from_bytes(value.to_bytes(2 * encoding.registers, "big"), encoding)


def _from_bytes(data: bytes, encoding: Encoding) -> list[int]:
    words = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
    if encoding.word_order == "little":
        words.reverse()
    return _swap_bytes(words) if encoding.byte_order == "little" else words


@dataclass(frozen=True)
class Scaling:
    """Engineering value = raw × scale + offset."""

    scale: float = 1.0
    offset: float = 0.0

    def apply(self, raw: int | float) -> float:
        return raw * self.scale + self.offset

    def raw_for(self, value: float, encoding: Encoding) -> int | float:
        """The raw value to write for engineering ``value`` (rounded for integer types)."""
        raw = (value - self.offset) / self.scale
        if encoding.dtype in FLOAT_TYPES:
            return raw
        if not math.isfinite(raw):
            raise CodecError(f"{value} is not a finite number")
        return round(raw)


def bit_of(value: int, bit: int) -> int:
    return (value >> bit) & 1


def interpretations(registers: Sequence[int], dtype: DataType) -> dict[str, Value | None]:
    """Every byte/word order's reading of ``registers`` as ``dtype``: ``{"big/big": 1.5, ...}``.

    For a first look at an unknown device: the plausible column names the device's order.
    """
    out: dict[str, Value | None] = {}
    for word in ORDERS:
        for byte in ORDERS:
            try:
                out[f"{byte}/{word}"] = decode(registers, Encoding(dtype, len(registers), byte, word))
            except CodecError:
                out[f"{byte}/{word}"] = None
    return out
