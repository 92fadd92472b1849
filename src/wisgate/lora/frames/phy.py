"""LoRaWAN 1.0.x PHYPayload: parse and build frames (LoRaWAN 1.0.4 spec §4, §6.2.4-6.2.5).

Multi-byte fields are little-endian on air; DevAddr, EUIs and DevNonce are held as integers in
their usual big-endian display order. A join-accept stays opaque (it is encrypted end to end),
and a rejoin request (MType 6, LoRaWAN 1.1) is kept as raw body so a gateway can still forward it.
Crypto (MIC, FRMPayload encryption) lives in :mod:`wisgate.lora.frames.crypto`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from wisgate.lora.errors import ParseError

MIC_LEN = 4
FHDR_MIN = 7  # DevAddr(4) FCtrl(1) FCnt(2)
JOIN_REQUEST_LEN = 23  # MHDR + JoinEUI + DevEUI + DevNonce + MIC
JOIN_ACCEPT_LENS = (17, 33)  # MHDR + 16 or 32 encrypted bytes (CFList absent / present)
REJOIN_LENS = (19, 24)  # 1.1 rejoin type 0/2 and type 1


class MType(IntEnum):
    JOIN_REQUEST = 0
    JOIN_ACCEPT = 1
    UNCONFIRMED_DATA_UP = 2
    UNCONFIRMED_DATA_DOWN = 3
    CONFIRMED_DATA_UP = 4
    CONFIRMED_DATA_DOWN = 5
    REJOIN_REQUEST = 6
    PROPRIETARY = 7

    @property
    def uplink(self) -> bool:
        return self in _UPLINK_TYPES


_UPLINK_TYPES = frozenset(
    {MType.JOIN_REQUEST, MType.UNCONFIRMED_DATA_UP, MType.CONFIRMED_DATA_UP, MType.REJOIN_REQUEST}
)
_DATA_TYPES = frozenset(
    {MType.UNCONFIRMED_DATA_UP, MType.UNCONFIRMED_DATA_DOWN, MType.CONFIRMED_DATA_UP, MType.CONFIRMED_DATA_DOWN}
)
LORAWAN_R1 = 0


@dataclass(frozen=True, slots=True)
class MHDR:
    mtype: MType
    major: int = LORAWAN_R1

    def to_byte(self) -> int:
        return (int(self.mtype) << 5) | (self.major & 0x03)

    @classmethod
    def from_byte(cls, value: int) -> MHDR:
        major = value & 0x03
        mtype = MType(value >> 5)
        if mtype is not MType.PROPRIETARY:
            if major != LORAWAN_R1:
                raise ParseError(f"MHDR 0x{value:02X}: major version {major} is RFU (only LoRaWAN R1 = 0)")
            if value & 0x1C:
                raise ParseError(f"MHDR 0x{value:02X}: RFU bits 4..2 are set")
        return cls(mtype, major)


@dataclass(frozen=True, slots=True)
class FCtrl:
    """Frame control bits; bit 4 is FPending downlink and ClassB uplink, bit 6 ADRACKReq uplink only."""

    adr: bool = False
    adr_ack_req: bool = False
    ack: bool = False
    f_pending: bool = False
    class_b: bool = False
    #: Bit 6 of a downlink is RFU; kept as received so a parsed frame writes back byte for byte.
    rfu: bool = False

    def to_byte(self, fopts_len: int, *, uplink: bool) -> int:
        bit4 = self.class_b if uplink else self.f_pending
        bit6 = self.adr_ack_req if uplink else self.rfu
        return (self.adr << 7) | (bit6 << 6) | (self.ack << 5) | (bit4 << 4) | (fopts_len & 0x0F)

    @classmethod
    def from_byte(cls, value: int, *, uplink: bool) -> FCtrl:
        bit4 = bool(value & 0x10)
        return cls(
            adr=bool(value & 0x80),
            adr_ack_req=bool(value & 0x40) and uplink,
            ack=bool(value & 0x20),
            f_pending=bit4 and not uplink,
            class_b=bit4 and uplink,
            rfu=bool(value & 0x40) and not uplink,
        )


@dataclass(frozen=True, slots=True)
class DataFrame:
    """Confirmed or unconfirmed data frame; ``frm_payload`` is as on air (encrypted)."""

    mtype: MType
    dev_addr: int
    fcnt: int
    fctrl: FCtrl = FCtrl()
    fopts: bytes = b""
    fport: int | None = None
    frm_payload: bytes = b""
    mic: bytes = b"\x00" * MIC_LEN
    major: int = LORAWAN_R1

    def __post_init__(self) -> None:
        if self.mtype not in _DATA_TYPES:
            raise ValueError(f"{self.mtype.name} is not a data frame type")
        if len(self.fopts) > 15:
            raise ValueError(f"FOpts is {len(self.fopts)} bytes, at most 15 fit in FOptsLen")
        if self.fport is None and self.frm_payload:
            raise ValueError("FRMPayload without FPort")
        if self.fport is not None and not 0 <= self.fport <= 255:
            raise ValueError(f"FPort {self.fport} out of 0..255")
        if self.fport == 0 and self.fopts:
            raise ValueError("FPort 0 with FOpts: MAC commands may not be in both")
        if not 0 <= self.dev_addr <= 0xFFFFFFFF or not 0 <= self.fcnt <= 0xFFFF:
            raise ValueError("DevAddr must be 32-bit and FCnt (on air) 16-bit")
        if len(self.mic) != MIC_LEN:
            raise ValueError("MIC must be 4 bytes")

    @property
    def uplink(self) -> bool:
        return self.mtype.uplink

    @property
    def confirmed(self) -> bool:
        return self.mtype in (MType.CONFIRMED_DATA_UP, MType.CONFIRMED_DATA_DOWN)

    def body(self) -> bytes:
        """MHDR | FHDR | FPort | FRMPayload: the bytes the MIC covers."""
        head = bytes((MHDR(self.mtype, self.major).to_byte(),))
        head += self.dev_addr.to_bytes(4, "little")
        head += bytes((self.fctrl.to_byte(len(self.fopts), uplink=self.uplink),))
        head += self.fcnt.to_bytes(2, "little") + self.fopts
        if self.fport is not None:
            head += bytes((self.fport,)) + self.frm_payload
        return head

    def to_bytes(self) -> bytes:
        return self.body() + self.mic


@dataclass(frozen=True, slots=True)
class JoinRequest:
    join_eui: int
    dev_eui: int
    dev_nonce: int
    mic: bytes = b"\x00" * MIC_LEN

    mtype = MType.JOIN_REQUEST

    def body(self) -> bytes:
        return (
            bytes((MHDR(MType.JOIN_REQUEST).to_byte(),))
            + self.join_eui.to_bytes(8, "little")
            + self.dev_eui.to_bytes(8, "little")
            + self.dev_nonce.to_bytes(2, "little")
        )

    def to_bytes(self) -> bytes:
        return self.body() + self.mic


@dataclass(frozen=True, slots=True)
class JoinAccept:
    """Encrypted join-accept: ``encrypted`` is everything after the MHDR, MIC included."""

    encrypted: bytes

    mtype = MType.JOIN_ACCEPT

    def to_bytes(self) -> bytes:
        return bytes((MHDR(MType.JOIN_ACCEPT).to_byte(),)) + self.encrypted


@dataclass(frozen=True, slots=True)
class RejoinRequest:
    """LoRaWAN 1.1 rejoin request, kept raw (type byte + fields) so it can be forwarded."""

    body_bytes: bytes
    mic: bytes

    mtype = MType.REJOIN_REQUEST

    def to_bytes(self) -> bytes:
        return bytes((MHDR(MType.REJOIN_REQUEST).to_byte(),)) + self.body_bytes + self.mic


@dataclass(frozen=True, slots=True)
class Proprietary:
    """Proprietary frame: the format after the MHDR is not LoRaWAN's, so no MIC is split off.

    ``mhdr_low`` keeps the MHDR's five low bits (RFU and major), which proprietary formats may use.
    """

    payload: bytes
    mhdr_low: int = 0

    mtype = MType.PROPRIETARY

    def to_bytes(self) -> bytes:
        return bytes(((int(MType.PROPRIETARY) << 5) | (self.mhdr_low & 0x1F),)) + self.payload


Frame = DataFrame | JoinRequest | JoinAccept | RejoinRequest | Proprietary


# Parsed header bytes, as every uplink is parsed: both types are immutable, and a byte has one meaning.
_MHDRS: dict[int, MHDR] = {}
_FCTRLS: dict[tuple[int, bool], FCtrl] = {}


def parse(data: bytes) -> Frame:
    """Parse one PHYPayload; anything malformed raises :class:`ParseError` with the reason."""
    if not data:
        raise ParseError("empty PHYPayload (no MHDR)")
    mhdr = _MHDRS.get(data[0])
    if mhdr is None:
        mhdr = _MHDRS[data[0]] = MHDR.from_byte(data[0])
    mtype = mhdr.mtype
    if mtype in _DATA_TYPES:
        return _parse_data(data, mhdr)
    if mtype is MType.JOIN_REQUEST:
        if len(data) != JOIN_REQUEST_LEN:
            raise ParseError(f"join-request is {len(data)} bytes, must be {JOIN_REQUEST_LEN}")
        return JoinRequest(
            join_eui=int.from_bytes(data[1:9], "little"),
            dev_eui=int.from_bytes(data[9:17], "little"),
            dev_nonce=int.from_bytes(data[17:19], "little"),
            mic=bytes(data[19:23]),
        )
    if mtype is MType.JOIN_ACCEPT:
        if len(data) not in JOIN_ACCEPT_LENS:
            raise ParseError(f"join-accept is {len(data)} bytes, must be 17 or 33")
        return JoinAccept(bytes(data[1:]))
    if mtype is MType.REJOIN_REQUEST:
        if len(data) not in REJOIN_LENS:
            raise ParseError(f"rejoin-request is {len(data)} bytes, must be 19 or 24")
        return RejoinRequest(bytes(data[1:-MIC_LEN]), bytes(data[-MIC_LEN:]))
    return Proprietary(bytes(data[1:]), data[0] & 0x1F)


def _parse_data(data: bytes, mhdr: MHDR) -> DataFrame:
    size = len(data)
    if size < 1 + FHDR_MIN + MIC_LEN:
        raise ParseError(f"data frame is {size} bytes, shorter than MHDR+FHDR+MIC (12)")
    uplink = mhdr.mtype.uplink
    fctrl_byte = data[5]
    fopts_len = fctrl_byte & 0x0F
    fopts_end = 8 + fopts_len
    payload_end = size - MIC_LEN
    if fopts_end > payload_end:
        raise ParseError(f"FOptsLen {fopts_len} runs past the frame ({size} bytes)")
    fport: int | None = None
    frm_payload = b""
    if payload_end > fopts_end:
        fport = data[fopts_end]
        frm_payload = bytes(data[fopts_end + 1 : payload_end])
        if fport == 0 and fopts_len:
            raise ParseError("FPort 0 with FOptsLen > 0: MAC commands present twice")
    fctrl = _FCTRLS.get((fctrl_byte, uplink))
    if fctrl is None:
        fctrl = _FCTRLS[fctrl_byte, uplink] = FCtrl.from_byte(fctrl_byte, uplink=uplink)
    return DataFrame(
        mtype=mhdr.mtype,
        dev_addr=int.from_bytes(data[1:5], "little"),
        fcnt=data[6] | (data[7] << 8),
        fctrl=fctrl,
        fopts=bytes(data[8:fopts_end]),
        fport=fport,
        frm_payload=frm_payload,
        mic=bytes(data[payload_end:]),
    )
