"""Uplink and modulation types shared by the pipeline stages (reference §3.1, Concentratord ``gw.proto``).

They mirror ChirpStack's ``gw.UplinkFrame`` closely so a backend maps one onto the other field by
field: ``phy_payload``; ``tx_info.frequency`` and ``tx_info.modulation`` (LoRa bandwidth / SF /
code rate, or FSK datarate); ``rx_info`` board, antenna, channel, rf_chain, rssi, snr, crc_status
and ``context`` (the 4-byte big-endian ``count_us`` the SX1302 build puts there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from wisgate.lora.frames.airtime import LI_FEC, lora_airtime, sx1280_airtime

# bandwidths a sub-GHz LoRa modem offers; the SX1280 uses 203/406/812/1625 kHz instead
SUB_GHZ_BANDWIDTHS_HZ = frozenset({7_800, 10_400, 15_600, 20_800, 31_250, 41_700, 62_500, 125_000, 250_000, 500_000})
# LoRaWAN FSK framing: 5-byte preamble, 3-byte sync word, length byte, CRC-16
FSK_OVERHEAD_BYTES = 5 + 3 + 1 + 2


@dataclass(frozen=True, slots=True)
class LoraModulation:
    spreading_factor: int
    bandwidth_hz: int
    code_rate: str = "4/5"

    @property
    def is_2g4(self) -> bool:
        return self.code_rate in LI_FEC or self.bandwidth_hz not in SUB_GHZ_BANDWIDTHS_HZ

    @property
    def datr(self) -> str:
        """GWMP data-rate string, e.g. ``SF7BW125`` or ``SF12BW812``."""
        return f"SF{self.spreading_factor}BW{self.bandwidth_hz // 1000}"

    def airtime(self, size: int, *, crc: bool = True, preamble: int = 8) -> float:
        if self.is_2g4:
            return sx1280_airtime(
                size, self.spreading_factor, self.bandwidth_hz, code_rate=self.code_rate, crc=crc, preamble=preamble
            )
        return lora_airtime(
            size, self.spreading_factor, self.bandwidth_hz, code_rate=self.code_rate, crc=crc, preamble=preamble
        )


@dataclass(frozen=True, slots=True)
class FskModulation:
    datarate_bps: int
    freq_deviation_hz: int = 25_000

    def airtime(self, size: int, *, crc: bool = True, preamble: int = 5) -> float:
        overhead = FSK_OVERHEAD_BYTES - 5 + preamble - (0 if crc else 2)
        return (size + overhead) * 8 / self.datarate_bps


Modulation = LoraModulation | FskModulation


class CrcStatus(Enum):
    OK = "ok"
    BAD = "bad"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class RxInfo:
    """One reception's metadata; ``time_us`` is the board's extended counter, set by the timebase stage."""

    board: int
    count_us: int
    rssi: float
    snr: float
    channel: int = 0
    rf_chain: int = 0
    antenna: int = 0
    crc_status: CrcStatus = CrcStatus.OK
    time_us: int | None = None

    @property
    def context(self) -> bytes:
        """Concentratord's opaque ``context``: the counter as 4 big-endian bytes."""
        return self.count_us.to_bytes(4, "big")


@dataclass(frozen=True, slots=True)
class UplinkFrame:
    phy_payload: bytes
    frequency_hz: int
    modulation: Modulation
    rx_info: RxInfo

    def airtime(self) -> float:
        return self.modulation.airtime(len(self.phy_payload))

    def with_time(self, time_us: int) -> UplinkFrame:
        return replace(self, rx_info=replace(self.rx_info, time_us=time_us))
