"""The types the gateway core shares with its backends and backhauls: uplinks and downlink requests.

A backend turns what its modules report into :class:`UplinkFrame`; the core merges copies into an
:class:`Uplink` and hands a :class:`ReceivedUplink` to every backhaul. A backhaul turns a server's
downlink into a :class:`TxRequest` and gets a :class:`TxResult` back (reference §3.1, Concentratord
``gw.proto``, Semtech ``jitqueue.c``).

The uplink types mirror ChirpStack's ``gw.UplinkFrame`` closely so a backend maps one onto the other field by
field: ``phy_payload``; ``tx_info.frequency`` and ``tx_info.modulation`` (LoRa bandwidth / SF /
code rate, or FSK datarate); ``rx_info`` board, antenna, channel, rf_chain, rssi, snr, crc_status
and ``context`` (the 4-byte big-endian ``count_us`` the SX1302 build puts there).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from wisgate.clock import Clock
from wisgate.lora.core.stats import GatewayStats
from wisgate.lora.frames.airtime import LI_FEC, lora_airtime, sx1280_airtime
from wisgate.lora.frames.phy import Frame
from wisgate.lora.plans.channels import Channel, ChannelPlan

# bandwidths a sub-GHz LoRa modem offers; the SX1280 uses 203/406/812/1625 kHz instead
SUB_GHZ_BANDWIDTHS_HZ = frozenset({7_800, 10_400, 15_600, 20_800, 31_250, 41_700, 62_500, 125_000, 250_000, 500_000})
# LoRaWAN FSK framing: 5-byte preamble, 3-byte sync word, length byte, CRC-16
FSK_OVERHEAD_BYTES = 5 + 3 + 1 + 2


#: Airtimes with a CRC and the LoRaWAN preamble, by (SF, bandwidth, code rate, size); bounded whatever modules report.
_UPLINK_AIRTIMES: dict[tuple[int, int, str, int], float] = {}
AIRTIME_CACHE_MAX = 16_384


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
        if crc and preamble == 8:  # every uplink asks this twice (channel stats, dedup window): remembered
            key = (self.spreading_factor, self.bandwidth_hz, self.code_rate, size)
            seconds = _UPLINK_AIRTIMES.get(key)
            if seconds is None:
                seconds = self._airtime(size, crc=crc, preamble=preamble)
                if len(_UPLINK_AIRTIMES) < AIRTIME_CACHE_MAX:
                    _UPLINK_AIRTIMES[key] = seconds
            return seconds
        return self._airtime(size, crc=crc, preamble=preamble)

    def _airtime(self, size: int, *, crc: bool, preamble: int) -> float:
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


def datarate(modulation: Modulation) -> str:
    """The data rate as GWMP's ``datr`` writes it: ``SF7BW125`` for LoRa, the bit rate (``50000``) for FSK."""
    return str(modulation.datarate_bps) if isinstance(modulation, FskModulation) else modulation.datr


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
    #: SX1302 extras, None when the module does not report them: signal (not channel) RSSI, the
    #: frequency offset it measured, and the demodulator (0-15 multi-SF, 16 single-SF LoRa, 17 FSK).
    rssi_signal: float | None = None
    freq_offset_hz: int | None = None
    modem_id: int | None = None

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
        # Field by field rather than dataclasses.replace: this runs for every uplink, and replace
        # (which looks the fields up each call) takes twice as long.
        rx = self.rx_info
        return UplinkFrame(self.phy_payload, self.frequency_hz, self.modulation, RxInfo(
            rx.board, rx.count_us, rx.rssi, rx.snr, rx.channel, rx.rf_chain, rx.antenna, rx.crc_status, time_us,
            rx.rssi_signal, rx.freq_offset_hz, rx.modem_id))


@dataclass(frozen=True, slots=True)
class Malformed:
    """An event a backend could not turn into an :class:`UplinkFrame`; ``reason`` says what was wrong."""

    board: int
    reason: str


@dataclass(frozen=True, slots=True)
class Uplink:
    """One transmission: the best copy first, every reception as metadata."""

    receptions: tuple[UplinkFrame, ...]
    first_seen: float

    @property
    def best(self) -> UplinkFrame:
        return self.receptions[0]

    @property
    def phy_payload(self) -> bytes:
        return self.receptions[0].phy_payload


@dataclass(frozen=True, slots=True)
class ReceivedUplink:
    uplink: Uplink
    frame: Frame | None
    parse_error: str = ""


# downlinks


class TxClass(Enum):
    A = "A"  # timestamped, answer to an uplink
    B = "B"  # timestamped, ping slot
    C = "C"  # immediate
    BEACON = "beacon"


class TxOutcome(Enum):
    """Concentratord's ``TxAckStatus`` names (GWMP ``txpk_ack`` errors are the same words)."""

    OK = "OK"
    TOO_LATE = "TOO_LATE"
    TOO_EARLY = "TOO_EARLY"
    COLLISION_PACKET = "COLLISION_PACKET"
    COLLISION_BEACON = "COLLISION_BEACON"
    TX_FREQ = "TX_FREQ"
    TX_POWER = "TX_POWER"
    DUTY_CYCLE = "DUTY_CYCLE"


@dataclass(frozen=True, slots=True)
class TxRequest:
    """One downlink item (Concentratord ``DownlinkTxInfo``): ``count_us`` is None only for class C."""

    payload: bytes
    frequency_hz: int
    power_dbm: float
    modulation: Modulation
    tx_class: TxClass = TxClass.A
    count_us: int | None = None
    board: int | None = None
    antenna: int = 0
    preamble: int | None = None  # symbols (LoRa) or bytes (FSK); None: the modulation's LoRaWAN default
    #: LoRaWAN downlinks invert the IQ (so other gateways do not hear them) and carry no PHY CRC.
    invert_iq: bool = True
    crc: bool = False

    def airtime_us(self) -> int:
        size = len(self.payload)
        if self.preamble is None:
            seconds = self.modulation.airtime(size, crc=self.crc)
        else:
            seconds = self.modulation.airtime(size, crc=self.crc, preamble=self.preamble)
        return math.ceil(seconds * 1_000_000)


@dataclass(frozen=True, slots=True)
class TxResult:
    outcome: TxOutcome
    board: int | None = None
    count_us: int | None = None
    power_dbm: float | None = None
    warning: TxOutcome | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is TxOutcome.OK


class ModuleBackend(Protocol):
    """One concentrator module as the gateway core drives it (Concentratord over ZeroMQ, real or simulated)."""

    board: int

    def events(self) -> AsyncIterator[UplinkFrame | Malformed]:
        """Uplinks as the module reports them, and what could not be read."""
        ...

    async def send_downlink(self, request: TxRequest, *, gateway_id: str, downlink_id: int) -> TxResult:
        """Hand over a request the JIT queue accepted (``board`` set; ``count_us`` too, except for class C,
        which the module sends as soon as it can on its own counter); the module's verdict.

        Raises :class:`~wisgate.lora.errors.BackendError` when the module does not answer.
        """
        ...

    async def gateway_id(self) -> str:
        """Ask the module who it is: raises :class:`~wisgate.lora.errors.BackendError` when it does not answer."""
        ...

    async def configure(self, channels: Sequence[Channel], *, version: str) -> None:
        """Make the module listen on ``channels`` (its share of a plan) without a restart.

        Raises :class:`~wisgate.lora.errors.BackendError` when the module does not take it.
        """
        ...

    def close(self) -> None: ...


class GatewayPort(Protocol):
    """The gateway as every backhaul (Semtech UDP, ChirpStack MQTT, Basics Station) sees it."""

    gateway_id: str
    clock: Clock
    stats: GatewayStats

    @property
    def boards(self) -> Collection[int]:
        """The modules' board numbers (a downlink may name one)."""
        ...

    def uplinks(self) -> AsyncIterator[ReceivedUplink]:
        """Every merged uplink from this call on."""
        ...

    def uplink_batches(self) -> AsyncIterator[list[ReceivedUplink]]:
        """Every merged uplink from this call on, in lists of what came since the reader last looked."""
        ...

    async def send_downlink(self, request: TxRequest) -> TxResult: ...

    async def apply_plan(self, plan: ChannelPlan, *, version: str) -> None:
        """Listen on ``plan`` from now on, split over the installed modules (remote configuration).

        Raises :class:`~wisgate.lora.errors.PlanError` (nothing changed) when it does not fit the radios, or
        :class:`~wisgate.lora.errors.BackendError` naming the modules that did not take their share.
        """
        ...
