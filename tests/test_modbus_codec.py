"""Register codecs: round trips for every type and order, and agreement with struct's independent packing."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wisgate.industrial.modbus.codec import (
    ORDERS,
    CodecError,
    DataType,
    Encoding,
    Order,
    Scaling,
    decode,
    encode,
    interpretations,
    to_bytes,
)

STRUCT = {DataType.U16: "H", DataType.I16: "h", DataType.U32: "I", DataType.I32: "i", DataType.U64: "Q",
          DataType.I64: "q", DataType.F32: "f", DataType.F64: "d"}
orders = st.sampled_from(ORDERS)


def value_for(dtype: DataType) -> st.SearchStrategy[int | float]:
    if dtype is DataType.F32:
        return st.floats(width=32, allow_nan=False, allow_infinity=False)
    if dtype is DataType.F64:
        return st.floats(allow_nan=False, allow_infinity=False)
    low, high = Encoding(dtype).integer_range() or (0, 0)
    return st.integers(low, high)


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[Encoding, int | float]:
    dtype = draw(st.sampled_from(sorted(STRUCT)))
    encoding = Encoding(dtype, byte_order=draw(orders), word_order=draw(orders))
    return encoding, draw(value_for(dtype))


@given(typed_values())
def test_numbers_round_trip(case: tuple[Encoding, int | float]) -> None:
    encoding, value = case
    registers = encode(value, encoding)
    assert len(registers) == encoding.registers
    assert all(0 <= r <= 0xFFFF for r in registers)
    assert decode(registers, encoding) == value


def by_struct(value: int | float, dtype: DataType, byte_order: Order, word_order: Order) -> list[int]:
    """The wire registers built the long way: struct's big-endian bytes, then the device's orders."""
    data = struct.pack(">" + STRUCT[dtype], value)
    words = [data[i:i + 2] for i in range(0, len(data), 2)]
    if word_order == "little":
        words.reverse()
    if byte_order == "little":
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


@given(typed_values())
def test_numbers_match_struct(case: tuple[Encoding, int | float]) -> None:
    encoding, value = case
    assert encode(value, encoding) == by_struct(value, encoding.dtype, encoding.byte_order, encoding.word_order)


def test_known_float_layouts() -> None:
    # 123.456 as IEEE float32 is 0x42F6E979; the four layouts devices use (ABCD, CDAB, BADC, DCBA)
    assert encode(123.456, Encoding(DataType.F32)) == [0x42F6, 0xE979]
    assert encode(123.456, Encoding(DataType.F32, word_order="little")) == [0xE979, 0x42F6]
    assert encode(123.456, Encoding(DataType.F32, byte_order="little")) == [0xF642, 0x79E9]
    assert encode(123.456, Encoding(DataType.F32, byte_order="little", word_order="little")) == [0x79E9, 0xF642]
    assert decode([0xFFFF], Encoding(DataType.I16)) == -1
    assert decode([0x0001, 0x0000], Encoding(DataType.U32, word_order="little")) == 1


@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255), max_size=20), st.integers(10, 12),
       orders, orders)
def test_strings_round_trip(text: str, count: int, byte_order: Order, word_order: Order) -> None:
    encoding = Encoding(DataType.STRING, count, byte_order, word_order)
    registers = encode(text, encoding)
    assert len(registers) == count
    assert decode(registers, encoding) == text


def test_string_byte_swap() -> None:
    # "ABCD" from a device that swaps the bytes of each register
    assert decode([0x4241, 0x4443], Encoding(DataType.STRING, 2, byte_order="little")) == "ABCD"
    with pytest.raises(CodecError, match="do not fit"):
        encode("ABCDE", Encoding(DataType.STRING, 2))


@given(st.integers(1, 4).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, (1 << (16 * n)) - 1))),
       orders, orders)
def test_bits_round_trip(case: tuple[int, int], byte_order: Order, word_order: Order) -> None:
    count, value = case
    encoding = Encoding(DataType.BITS, count, byte_order, word_order)
    assert decode(encode(value, encoding), encoding) == value


@given(st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2))
def test_orders_are_permutations_of_the_bytes(registers: list[int]) -> None:
    spans = {byte + word: to_bytes(registers, Encoding(DataType.U32, 2, byte, word))
             for byte in ORDERS for word in ORDERS}
    assert len({sorted(s).__repr__() for s in spans.values()}) == 1
    assert spans["bigbig"] == b"".join(r.to_bytes(2, "big") for r in registers)


@pytest.mark.parametrize(("value", "encoding", "message"), [
    (70000, Encoding(DataType.U16), "outside u16's range"),
    (-1, Encoding(DataType.U32), "outside u32's range"),
    (1.5, Encoding(DataType.I16), "whole number"),
    (math.inf, Encoding(DataType.F32), "not a finite number"),
    (1e39, Encoding(DataType.F32), "beyond float32"),
    ("x", Encoding(DataType.U16), "takes a number"),
])
def test_values_that_do_not_fit(value: int | float | str, encoding: Encoding, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        encode(value, encoding)


def test_wrong_register_count() -> None:
    with pytest.raises(CodecError, match="needs 2 register"):
        decode([1], Encoding(DataType.F32))


@given(st.integers(-32768, 32767), st.sampled_from([0.1, 0.01, 2.0, 10.0]), st.sampled_from([0.0, -40.0, 5.5]))
def test_scaling_round_trip(raw: int, scale: float, offset: float) -> None:
    scaling = Scaling(scale, offset)
    assert scaling.raw_for(scaling.apply(raw), Encoding(DataType.I16)) == raw


def test_interpretations_show_every_order() -> None:
    seen = interpretations([0x42F6, 0xE979], DataType.F32)
    assert set(seen) == {"big/big", "little/big", "big/little", "little/little"}
    assert seen["big/big"] == pytest.approx(123.456, rel=1e-6)
    assert seen["big/little"] != pytest.approx(123.456, rel=1e-6)
