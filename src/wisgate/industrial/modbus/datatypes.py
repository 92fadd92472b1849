"""ModBUS value types as plain data: names, register widths and encodings, no pymodbus.

The config schema validates points against these; only the codec (:mod:`.codec`), which converts
registers, imports pymodbus, so a daemon with no ModBUS device configured never loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Order = Literal["big", "little"]
ORDERS: tuple[Order, Order] = ("big", "little")
Value = int | float | str


class DataType(StrEnum):
    U16 = "u16"
    I16 = "i16"
    U32 = "u32"
    I32 = "i32"
    U64 = "u64"
    I64 = "i64"
    F32 = "f32"
    F64 = "f64"
    STRING = "string"
    #: an unsigned bit pattern over the span (one bit of it with ``bit``)
    BITS = "bits"
    #: a coil or discrete input: 0 or 1
    BOOL = "bool"


#: registers a fixed-width type spans (strings and bit patterns: as many as the point says)
WIDTH: dict[DataType, int] = {
    DataType.U16: 1, DataType.I16: 1, DataType.U32: 2, DataType.I32: 2, DataType.U64: 4, DataType.I64: 4,
    DataType.F32: 2, DataType.F64: 4, DataType.BOOL: 1,
}

INTEGER_TYPES = frozenset({DataType.U16, DataType.I16, DataType.U32, DataType.I32, DataType.U64, DataType.I64,
                           DataType.BITS})
FLOAT_TYPES = frozenset({DataType.F32, DataType.F64})


@dataclass(frozen=True)
class Encoding:
    dtype: DataType
    #: registers spanned (for strings and bit patterns; fixed-width types know theirs)
    count: int = 0
    byte_order: Order = "big"
    word_order: Order = "big"

    @property
    def registers(self) -> int:
        return WIDTH.get(self.dtype, self.count) or 1

    def integer_range(self) -> tuple[int, int] | None:
        """The raw values an integer type can hold."""
        bits = 16 * self.registers
        if self.dtype in (DataType.I16, DataType.I32, DataType.I64):
            return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if self.dtype in INTEGER_TYPES:
            return 0, (1 << bits) - 1
        return None
