"""Regional channel plans (reference §6; LoRaWAN Regional Parameters RP002; TTN lorawan-frequency-plans).

A plan is a list of uplink channels a gateway listens on: 125 kHz multi-SF LoRa channels, at most
one "standard" LoRa channel (250/500 kHz, fixed SF) and one FSK channel per SX130x module, and
fixed-SF 812 kHz channels for the 2.4 GHz SX1280 board. Placing a plan on modules is
:mod:`wisgate.lora.plans.allocation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class ChannelKind(Enum):
    MULTI_SF = "multi-SF"
    LORA_STD = "LoRa std"
    FSK = "FSK"
    LORA_2G4 = "LoRa 2.4 GHz"


@dataclass(frozen=True, slots=True)
class Channel:
    frequency_hz: int
    kind: ChannelKind = ChannelKind.MULTI_SF
    bandwidth_hz: int = 125_000
    spreading_factor: int | None = None
    datarate_bps: int | None = None

    def __str__(self) -> str:
        mhz = f"{self.frequency_hz / 1e6:.4f}".rstrip("0").rstrip(".")
        extra = f" SF{self.spreading_factor}" if self.spreading_factor else ""
        return f"{mhz} MHz {self.kind.value} {self.bandwidth_hz // 1000} kHz{extra}"


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    name: str
    region: str
    channels: tuple[Channel, ...]

    def __add__(self, other: ChannelPlan) -> ChannelPlan:
        return ChannelPlan(f"{self.name}+{other.name}", self.region, self.channels + other.channels)

    def of_kind(self, kind: ChannelKind) -> list[Channel]:
        return sorted((c for c in self.channels if c.kind is kind), key=lambda c: c.frequency_hz)


def _multi(freqs_hz: Sequence[int]) -> tuple[Channel, ...]:
    return tuple(Channel(f) for f in freqs_hz)


def _grid(first_hz: int, step_hz: int, count: int) -> list[int]:
    return [first_hz + i * step_hz for i in range(count)]


EU868_COMMON = [868_100_000, 868_300_000, 868_500_000, *_grid(867_100_000, 200_000, 5)]
EU868_STD = Channel(868_300_000, ChannelKind.LORA_STD, 250_000, spreading_factor=7)
EU868_FSK = Channel(868_800_000, ChannelKind.FSK, 125_000, datarate_bps=50_000)


def eu868(channels: int = 8, *, second_block_hz: int = 863_100_000) -> ChannelPlan:
    """EU868: 8 channels (board A of §6.2), or 16 with a second block of 8 at 200 kHz steps.

    The default second block is TTN's ``EU_863_870_2`` (863.1-864.5 MHz, ETSI band K, 0.1 % for
    devices); 865_100_000 gives the band-L alternative.
    """
    if channels not in (8, 16):
        raise ValueError(f"EU868 plans have 8 or 16 channels, not {channels}")
    freqs = list(EU868_COMMON)
    if channels == 16:
        freqs += _grid(second_block_hz, 200_000, 8)
    name = "EU868" if channels == 8 else f"EU868-{channels}"
    return ChannelPlan(name, "EU868", (*_multi(freqs), EU868_STD, EU868_FSK))


def _fsb_plan(region: str, first_125_hz: int, first_500_hz: int, fsbs: Sequence[int]) -> ChannelPlan:
    if not fsbs:
        raise ValueError(f"{region}: name at least one sub-band (FSB 1..8)")
    channels: list[Channel] = []
    for fsb in fsbs:
        if not 1 <= fsb <= 8:
            raise ValueError(f"{region}: FSB {fsb} out of 1..8")
        channels += _multi(_grid(first_125_hz + (fsb - 1) * 1_600_000, 200_000, 8))
        channels.append(
            Channel(first_500_hz + (fsb - 1) * 1_600_000, ChannelKind.LORA_STD, 500_000, spreading_factor=8)
        )
    name = f"{region} FSB{'+'.join(str(f) for f in fsbs)}"
    return ChannelPlan(name, region, tuple(channels))


def us915(*fsbs: int) -> ChannelPlan:
    """US915 sub-bands: 125 kHz channels 902.3 + 0.2 k MHz, the FSB's 500 kHz channel 903.0 + 1.6 (n-1)."""
    return _fsb_plan("US915", 902_300_000, 903_000_000, fsbs or (2,))


def au915(*fsbs: int) -> ChannelPlan:
    """AU915 sub-bands: 125 kHz channels 915.2 + 0.2 k MHz, the FSB's 500 kHz channel 915.9 + 1.6 (n-1)."""
    return _fsb_plan("AU915", 915_200_000, 915_900_000, fsbs or (2,))


def as923() -> ChannelPlan:
    """AS923-1 as TTN ships it: 922.0-923.4 MHz, SF7/250 kHz at 922.1, FSK at 921.8."""
    return ChannelPlan(
        "AS923",
        "AS923",
        (
            *_multi(_grid(922_000_000, 200_000, 8)),
            Channel(922_100_000, ChannelKind.LORA_STD, 250_000, spreading_factor=7),
            Channel(921_800_000, ChannelKind.FSK, 125_000, datarate_bps=50_000),
        ),
    )


def in865() -> ChannelPlan:
    """IN865 default channels (RP002): 865.0625, 865.4025, 865.985 MHz."""
    return ChannelPlan("IN865", "IN865", _multi([865_062_500, 865_402_500, 865_985_000]))


def kr920() -> ChannelPlan:
    """KR920: the three default channels 922.1/922.3/922.5 plus four more up to 923.3 MHz (TTN)."""
    return ChannelPlan("KR920", "KR920", _multi(_grid(922_100_000, 200_000, 7)))


ISM2400_FREQS = (2_403_000_000, 2_425_000_000, 2_479_000_000)


def ism2400(spreading_factors: Sequence[int] = (12, 12, 12)) -> ChannelPlan:
    """ISM2400: 2403, 2425 and 2479 MHz at 812 kHz; the SX1280 board fixes one SF per channel."""
    if len(spreading_factors) != len(ISM2400_FREQS):
        raise ValueError("ISM2400 needs one spreading factor per channel (3)")
    return ChannelPlan(
        "ISM2400",
        "ISM2400",
        tuple(
            Channel(f, ChannelKind.LORA_2G4, 812_000, spreading_factor=sf)
            for f, sf in zip(ISM2400_FREQS, spreading_factors, strict=True)
        ),
    )
