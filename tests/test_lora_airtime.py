"""Time on air against hand-computed Semtech formula values and the reference's table."""

from __future__ import annotations

import pytest

from wisgate.lora.core.types import LoraModulation
from wisgate.lora.frames.airtime import lora_airtime, sx1280_airtime


@pytest.mark.parametrize(
    ("size", "sf", "bw", "ms"),
    [
        (13, 7, 125_000, 46.336),  # (8+4.25+33) * 1.024 ms
        (51, 12, 125_000, 2465.792),  # LDRO on: (12.25+63) * 32.768 ms
        (23, 7, 125_000, 61.696),
        (23, 8, 125_000, 113.152),
        (23, 9, 125_000, 205.824),
        (23, 10, 125_000, 370.688),
        (23, 11, 125_000, 823.296),
        (23, 12, 125_000, 1482.752),
        (51, 7, 125_000, 102.656),
        (23, 8, 500_000, 28.288),
        (51, 8, 500_000, 46.208),
    ],
)
def test_sub_ghz_airtime(size: int, sf: int, bw: int, ms: float) -> None:
    assert lora_airtime(size, sf, bw) * 1000 == pytest.approx(ms, abs=0.001)


def test_ldro_rule_and_override() -> None:
    # SF11 at 125 kHz: 16.384 ms symbols switch LDRO on; forcing it off shortens the packet
    with_ldro = lora_airtime(51, 11, 125_000)
    without = lora_airtime(51, 11, 125_000, ldro=False)
    assert with_ldro * 1000 == pytest.approx(1314.816, abs=0.001)
    assert without < with_ldro
    # SF10 at 125 kHz (8.192 ms symbols) has no LDRO
    assert lora_airtime(51, 10, 125_000) == lora_airtime(51, 10, 125_000, ldro=False)


def test_downlink_without_crc_and_coding_rate() -> None:
    # 12-byte ACK at SF9/125: CRC off saves 16 bits, 4/8 costs more parity symbols
    assert lora_airtime(12, 9, 125_000, crc=False) * 1000 == pytest.approx(144.384, abs=0.001)
    assert lora_airtime(12, 9, 125_000, code_rate="4/8") * 1000 == pytest.approx(181.248, abs=0.001)
    assert lora_airtime(13, 9, 125_000, explicit_header=False) < lora_airtime(13, 9, 125_000)


def test_zero_length_payload_floors_at_eight_symbols() -> None:
    # numerator < 0 at SF12 implicit header: payload part clamps to 8 symbols
    t = lora_airtime(0, 12, 125_000, crc=False, explicit_header=False)
    assert t == pytest.approx((8 + 4.25 + 8) * 4096 / 125_000)


def test_sx1280_reference_values() -> None:
    # reference §6.4: 23 bytes, 4/8LI at 812 kHz: SF12 ~284 ms, SF7 ~12 ms, SF5 ~4 ms
    assert sx1280_airtime(23, 12) * 1000 == pytest.approx(56.25 * 4096 / 812, abs=1e-6)
    assert sx1280_airtime(23, 12) * 1000 == pytest.approx(283.7, abs=0.1)
    assert sx1280_airtime(23, 7) * 1000 == pytest.approx(78.25 * 128 / 812, abs=1e-6)  # 12.3 ms
    assert sx1280_airtime(23, 5) * 1000 == pytest.approx(102.25 * 32 / 812, abs=1e-6)  # 4.0 ms


def test_sx1280_normal_interleaving_and_implicit_header() -> None:
    normal = sx1280_airtime(23, 9, code_rate="4/5")
    li = sx1280_airtime(23, 9, code_rate="4/8LI")
    assert normal < li
    assert sx1280_airtime(23, 9, explicit_header=False) <= li


@pytest.mark.parametrize(
    ("sf", "bw", "cr"), [(4, 125_000, "4/5"), (13, 125_000, "4/5"), (7, 0, "4/5"), (7, 125_000, "5/4")]
)
def test_invalid_parameters(sf: int, bw: int, cr: str) -> None:
    with pytest.raises(ValueError):
        lora_airtime(10, sf, bw, code_rate=cr)


def test_modulation_picks_the_formula_by_band() -> None:

    assert LoraModulation(12, 812_000, "4/8LI").airtime(23) == sx1280_airtime(23, 12)
    assert LoraModulation(12, 812_000, "4/7LI").airtime(23) == sx1280_airtime(23, 12)
    assert LoraModulation(7, 125_000).airtime(13) == lora_airtime(13, 7, 125_000)
    assert LoraModulation(7, 250_000).datr == "SF7BW250"


def test_remembered_uplink_airtimes_are_the_computed_ones() -> None:
    from wisgate.lora.core.types import LoraModulation

    for sf in range(5, 13):
        for bandwidth in (125_000, 250_000, 500_000, 812_000):
            for code_rate in ("4/5", "4/8", "4/8LI"):
                modulation = LoraModulation(sf, bandwidth, code_rate)
                for size in (0, 13, 51, 255):
                    first, again = modulation.airtime(size), modulation.airtime(size)
                    assert first == again == modulation._airtime(size, crc=True, preamble=8)
                    assert modulation.airtime(size, crc=False) == modulation._airtime(size, crc=False, preamble=8)
