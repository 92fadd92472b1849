"""Semtech UDP packet-forwarder protocol (GWMP), versions 1 and 2: a pure codec, bytes in, objects out.

Field by field as Lora-net/sx1302_hal ``packet_forwarder/PROTOCOL.md`` (v1.6) and Lora-net/packet_forwarder
``PROTOCOL.TXT`` (reference §1.1-1.5): a 4-byte header (version, 2-byte token, type), the 8-byte gateway
EUI on gateway→server datagrams, then JSON. Version 1 is the protocol before TX_ACK existed (PROTOCOL
v1.3 added TX_ACK and bumped the version byte to 2), so a version-1 TX_ACK is refused.

Uplink ``rxpk`` objects are written the way the C forwarder prints them (``freq`` with 6 decimals,
``lsnr`` with one, ``rssi``/``rssis`` rounded half away from zero as ``roundf``, padded base64), so
records are byte-stable and can be stored and replayed as they are. Two field sets, chosen per server:

- ``sx1302`` (default): what sx1302_hal's ``lora_pkt_fwd`` sends (PROTOCOL.md v1.6 plus ``jver``), in
  its order: ``jver`` (1), ``tmst``, ``time``, ``chan``, ``rfch``, ``freq``, ``mid`` (modem: 0-15
  multi-SF, 16 LoRa standard channel, 17 FSK), ``stat``, ``modu``, ``datr``, ``codr``, ``rssis``
  (signal RSSI), ``lsnr``, ``foff`` (frequency offset, Hz), ``rssi`` (channel RSSI), ``size``,
  ``data``; FSK packets carry no ``codr``/``rssis``/``lsnr``/``foff``. A 2.4 GHz packet carries what
  gateway_2g4_hal's forwarder sends: no ``rfch``, ``mid``, ``rssis`` or ``jver``, but ``foff``.
- ``sx1301``: packet_forwarder v4's set (no ``jver`` unless asked, ``mid``, ``rssis``, ``foff``), for old
  servers.

The multi-board extensions ``brd``/``ant``/``rsig`` (ChirpStack's ``structs.rs``) are written only when
asked for, since some servers reject them.

Every malformed datagram raises :class:`GwmpError` with a short ``reason`` key (for counting) and a
message naming the field; nothing else escapes :func:`decode`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from wisgate.lora.backhaul.udp_settings import MAX_DATAGRAM_BYTES as MAX_DATAGRAM_BYTES  # an IPv4 fact, set once
from wisgate.lora.core.types import (
    CrcStatus,
    FskModulation,
    LoraModulation,
    Modulation,
    RxInfo,
    TxClass,
    TxRequest,
    Uplink,
    UplinkFrame,
)
from wisgate.lora.errors import ParseError

VERSIONS = (1, 2)
PROTOCOL_VERSION = 2
HEADER_BYTES = 4
EUI_BYTES = 8
#: A txpk carries at most 255 payload bytes (340 in base64) and a few fields; far less than this.
MAX_PULL_RESP_BYTES = 4096
MAX_TX_ACK_BYTES = 1024
MAX_PAYLOAD_BYTES = 255
COUNTER_MAX = 0xFFFFFFFF

#: GWMP bandwidth names (kHz) → Hz: sub-GHz SX130x and the SX1280's 2.4 GHz bandwidths.
BANDWIDTHS_KHZ = {125: 125_000, 250: 250_000, 500: 500_000, 203: 203_000, 406: 406_000, 812: 812_000, 1625: 1_625_000}
CODE_RATES = ("4/5", "4/6", "4/7", "4/8", "4/5LI", "4/6LI", "4/8LI")
#: Older servers write code rates as reduced fractions; lora_pkt_fwd accepts them.
CODE_RATE_ALIASES = {"2/3": "4/6", "1/2": "4/8", "2/4": "4/8"}
FSK_DATARATE_BPS = (500, 300_000)
LORA_MIN_PREAMBLE = 6
FSK_MIN_PREAMBLE = 3
POWER_DBM = (-30, 40)

#: Which rxpk fields a server gets: sx1302_hal's lora_pkt_fwd, or the SX1301-era packet_forwarder v4.
FIELD_SETS = ("sx1302", "sx1301")
JVER = 1  # PROTOCOL_JSON_RXPK_FRAME_FORMAT of sx1302_hal
#: SX1302 modem ids for the single-SF LoRa channel and the FSK channel (multi-SF modems are 0-15).
MID_LORA_STD = 16
MID_FSK = 17
LORA_STD_IF = 8

_DATR = re.compile(r"SF(\d{1,2})BW(\d{3,4})")
_STAT_TIME = "%Y-%m-%d %H:%M:%S GMT"
_CRC_STAT = {CrcStatus.OK: 1, CrcStatus.BAD: -1, CrcStatus.NONE: 0}
_STAT_CRC = {v: k for k, v in _CRC_STAT.items()}


class PacketType(IntEnum):
    PUSH_DATA = 0x00
    PUSH_ACK = 0x01
    PULL_DATA = 0x02
    PULL_RESP = 0x03
    PULL_ACK = 0x04
    TX_ACK = 0x05


class GwmpError(ParseError):
    """A datagram that is not valid GWMP; ``reason`` is a short key for statistics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"GWMP {reason}: {message}")
        self.reason = reason


# ---------------------------------------------------------------------------------------------- objects


@dataclass(frozen=True, slots=True)
class Rsig:
    """One antenna's view of an rxpk (multi-board extension)."""

    ant: int
    chan: int
    rssic: int
    lsnr: float | None = None


@dataclass(frozen=True, slots=True)
class Rxpk:
    """One received packet; ``freq_hz`` in Hz (the wire carries MHz), ``datr`` a string for LoRa, bit/s for FSK."""

    tmst: int
    freq_hz: int
    chan: int
    rfch: int | None
    stat: int
    modu: str
    datr: str | int
    rssi: int
    data: bytes
    codr: str | None = None
    lsnr: float | None = None
    time: str | None = None
    tmms: int | None = None
    jver: int | None = None
    brd: int | None = None
    ant: int | None = None
    rsig: tuple[Rsig, ...] = ()
    mid: int | None = None
    rssis: int | None = None
    foff: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Stat:
    """Gateway status; counters cover the last stat interval only (as lora_pkt_fwd reports them)."""

    time: str
    rxnb: int
    rxok: int
    rxfw: int
    ackr: float
    dwnb: int
    txnb: int
    lati: float | None = None
    long: float | None = None
    alti: int | None = None
    temp: float | None = None


@dataclass(frozen=True, slots=True)
class Txpk:
    """One packet to send. Timing: ``imme`` wins over ``tmst``, which wins over ``tmms`` (PROTOCOL.md §6)."""

    freq_hz: int
    modu: str
    datr: str | int
    data: bytes
    powe: int | None = None
    rfch: int = 0
    imme: bool = False
    tmst: int | None = None
    tmms: int | None = None
    codr: str | None = None
    fdev: int | None = None
    ipol: bool | None = None
    prea: int | None = None
    ncrc: bool | None = None
    nhdr: bool | None = None
    brd: int | None = None
    ant: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class TxpkAck:
    error: str | None = None
    warn: str | None = None
    value: int | float | str | None = None


@dataclass(frozen=True, slots=True)
class PushData:
    token: int
    gateway_id: str
    rxpk: tuple[Rxpk, ...] = ()
    stat: Stat | None = None
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class PushAck:
    token: int
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class PullData:
    token: int
    gateway_id: str
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class PullAck:
    token: int
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class PullResp:
    token: int
    txpk: Txpk
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class TxAck:
    token: int
    gateway_id: str
    ack: TxpkAck | None = None
    version: int = PROTOCOL_VERSION


Packet = PushData | PushAck | PullData | PullAck | PullResp | TxAck


# ---------------------------------------------------------------------------------------------- encoding


def header(version: int, token: int, kind: PacketType) -> bytes:
    return bytes((version, (token >> 8) & 0xFF, token & 0xFF, kind))


def eui_bytes(gateway_id: str) -> bytes:
    try:
        raw = bytes.fromhex(gateway_id)
    except ValueError:
        raw = b""
    if len(raw) != EUI_BYTES:
        raise ValueError(f"gateway ID {gateway_id!r} is not 16 hex digits")
    return raw


def _mhz(hz: int) -> str:
    """MHz with 6 decimals, exact for any integer Hz (lora_pkt_fwd prints ``%.6lf``)."""
    return f"{hz // 1_000_000}.{hz % 1_000_000:06d}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_rxpk(rx: Rxpk) -> bytes:
    """One rxpk JSON object, fields in sx1302_hal lora_pkt_fwd's order and formats."""
    parts = [] if rx.jver is None else [f'"jver":{rx.jver}']
    parts.append(f'"tmst":{rx.tmst}')
    if rx.time is not None:
        parts.append(f'"time":{json.dumps(rx.time)}')
    if rx.tmms is not None:
        parts.append(f'"tmms":{rx.tmms}')
    parts.append(f'"chan":{rx.chan}')
    if rx.rfch is not None:
        parts.append(f'"rfch":{rx.rfch}')
    parts.append(f'"freq":{_mhz(rx.freq_hz)}')
    if rx.mid is not None:
        parts.append(f'"mid":{rx.mid}')
    if rx.brd is not None:
        parts.append(f'"brd":{rx.brd}')
    if rx.ant is not None:
        parts.append(f'"ant":{rx.ant}')
    parts.append(f'"stat":{rx.stat},"modu":"{rx.modu}"')
    if isinstance(rx.datr, str):
        parts.append(f'"datr":"{rx.datr}"')
    else:
        parts.append(f'"datr":{rx.datr}')
    if rx.codr is not None:
        parts.append(f'"codr":"{rx.codr}"')
    if rx.rssis is not None:
        parts.append(f'"rssis":{rx.rssis}')
    if rx.lsnr is not None:
        parts.append(f'"lsnr":{rx.lsnr:.1f}')
    if rx.foff is not None:
        parts.append(f'"foff":{rx.foff}')
    parts.append(f'"rssi":{rx.rssi},"size":{len(rx.data)},"data":"{_b64(rx.data)}"')
    if rx.rsig:
        sigs = ",".join(
            f'{{"ant":{s.ant},"chan":{s.chan},"rssic":{s.rssic}'
            + ("" if s.lsnr is None else f',"lsnr":{s.lsnr:.1f}')
            + "}"
            for s in rx.rsig
        )
        parts.append(f'"rsig":[{sigs}]')
    return ("{" + ",".join(parts) + "}").encode("ascii")


def encode_stat(stat: Stat) -> bytes:
    parts = [f'"time":{json.dumps(stat.time)}']
    if stat.lati is not None:
        parts.append(f'"lati":{stat.lati:.5f}')
    if stat.long is not None:
        parts.append(f'"long":{stat.long:.5f}')
    if stat.alti is not None:
        parts.append(f'"alti":{stat.alti}')
    parts.append(
        f'"rxnb":{stat.rxnb},"rxok":{stat.rxok},"rxfw":{stat.rxfw},"ackr":{stat.ackr:.1f},'
        f'"dwnb":{stat.dwnb},"txnb":{stat.txnb}'
    )
    if stat.temp is not None:
        parts.append(f'"temp":{stat.temp:.1f}')
    return ("{" + ",".join(parts) + "}").encode("ascii")


def push_data_datagram(
    token: int, gateway_eui: bytes, records: Sequence[bytes], stat: bytes | None = None, *, version: int = 2
) -> bytes:
    """PUSH_DATA from ready-made rxpk records (as stored) and an optional encoded stat object."""
    body = []
    if records:
        body.append(b'"rxpk":[' + b",".join(records) + b"]")
    if stat is not None:
        body.append(b'"stat":' + stat)
    return header(version, token, PacketType.PUSH_DATA) + gateway_eui + b"{" + b",".join(body) + b"}"


def encode_txpk(tx: Txpk) -> bytes:
    fields: dict[str, Any] = {}
    if tx.imme:
        fields["imme"] = True
    if tx.tmst is not None:
        fields["tmst"] = tx.tmst
    if tx.tmms is not None:
        fields["tmms"] = tx.tmms
    fields["freq"] = tx.freq_hz / 1_000_000
    fields["rfch"] = tx.rfch
    if tx.powe is not None:
        fields["powe"] = tx.powe
    fields["modu"] = tx.modu
    fields["datr"] = tx.datr
    for name in ("codr", "fdev", "ipol", "prea", "brd", "ant"):
        value = getattr(tx, name)
        if value is not None:
            fields[name] = value
    fields["size"] = len(tx.data)
    fields["data"] = _b64(tx.data)
    for name in ("ncrc", "nhdr"):
        value = getattr(tx, name)
        if value is not None:
            fields[name] = value
    return json.dumps({"txpk": fields}, separators=(",", ":")).encode("ascii")


def encode_tx_ack_json(ack: TxpkAck) -> bytes:
    fields: dict[str, Any] = {}
    if ack.error is not None:
        fields["error"] = ack.error
    if ack.warn is not None:
        fields["warn"] = ack.warn
    if ack.value is not None:
        fields["value"] = ack.value
    return json.dumps({"txpk_ack": fields}, separators=(",", ":")).encode("ascii")


def encode(packet: Packet) -> bytes:
    """The datagram for one packet."""
    v, token = packet.version, packet.token
    if isinstance(packet, PushData):
        records = [encode_rxpk(rx) for rx in packet.rxpk]
        stat = None if packet.stat is None else encode_stat(packet.stat)
        return push_data_datagram(token, eui_bytes(packet.gateway_id), records, stat, version=v)
    if isinstance(packet, PushAck):
        return header(v, token, PacketType.PUSH_ACK)
    if isinstance(packet, PullData):
        return header(v, token, PacketType.PULL_DATA) + eui_bytes(packet.gateway_id)
    if isinstance(packet, PullAck):
        return header(v, token, PacketType.PULL_ACK)
    if isinstance(packet, PullResp):
        return header(v, token, PacketType.PULL_RESP) + encode_txpk(packet.txpk)
    body = b"" if packet.ack is None else encode_tx_ack_json(packet.ack)
    return header(v, token, PacketType.TX_ACK) + eui_bytes(packet.gateway_id) + body


# ---------------------------------------------------------------------------------------------- decoding


def _reject_constant(name: str) -> Any:
    raise GwmpError("json", f"{name} is not a JSON number")


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    raw = raw.rstrip(b"\x00")  # some forwarders send the C string terminator too
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except GwmpError:
        raise
    except UnicodeDecodeError as exc:
        raise GwmpError("json", f"{what} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise GwmpError("json", f"{what} is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(value, dict):
        raise GwmpError("json", f"{what} is a JSON {type(value).__name__}, not an object")
    return value


def _int(obj: dict[str, Any], name: str, where: str, lo: int, hi: int, *, required: bool = True) -> int | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise GwmpError("field", f"{where}.{name} missing")
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise GwmpError("field", f"{where}.{name} must be an integer, got {_show(value)}")
    if not lo <= value <= hi:
        raise GwmpError("field", f"{where}.{name} = {value} out of {lo}..{hi}")
    return value


def _req_int(obj: dict[str, Any], name: str, where: str, lo: int, hi: int) -> int:
    value = _int(obj, name, where, lo, hi)
    assert value is not None
    return value


def _number(
    obj: dict[str, Any], name: str, where: str, lo: float, hi: float, *, required: bool = False
) -> float | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise GwmpError("field", f"{where}.{name} missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise GwmpError("field", f"{where}.{name} must be a number, got {_show(value)}")
    if not lo <= value <= hi:
        raise GwmpError("field", f"{where}.{name} = {value} out of {lo}..{hi}")
    return float(value)


def _bool(obj: dict[str, Any], name: str, where: str) -> bool | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise GwmpError("field", f"{where}.{name} must be true or false, got {_show(value)}")
    return value


def _str(obj: dict[str, Any], name: str, where: str, *, required: bool = True) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise GwmpError("field", f"{where}.{name} missing")
        return None
    if not isinstance(value, str):
        raise GwmpError("field", f"{where}.{name} must be a string, got {_show(value)}")
    return value


def _show(value: object) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
    return text[:40]


def _freq(obj: dict[str, Any], where: str) -> int:
    mhz = _number(obj, "freq", where, 0.0, 10_000.0, required=True)
    assert mhz is not None
    hz = round(mhz * 1_000_000)
    if hz <= 0:
        raise GwmpError("field", f"{where}.freq = {mhz} MHz is not a frequency")
    return hz


def _data(obj: dict[str, Any], where: str, *, padded: bool) -> bytes:
    text = _str(obj, "data", where)
    assert text is not None
    if not padded:
        if len(text) % 4 == 1:
            raise GwmpError("base64", f"{where}.data has an impossible base64 length {len(text)}")
        text += "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise GwmpError("base64", f"{where}.data is not base64 ({exc})") from None
    size = _req_int(obj, "size", where, 0, MAX_PAYLOAD_BYTES)
    if size != len(data):
        raise GwmpError("size", f"{where}.size = {size} but data holds {len(data)} bytes")
    return data


def _lora_datr(value: object, where: str) -> str:
    match = _DATR.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise GwmpError("field", f"{where}.datr must be like SF7BW125 for LoRa, got {_show(value)}")
    sf, bw = int(match.group(1)), int(match.group(2))
    if not 5 <= sf <= 12:
        raise GwmpError("field", f"{where}.datr spreading factor SF{sf} out of SF5..SF12")
    if bw not in BANDWIDTHS_KHZ:
        raise GwmpError("field", f"{where}.datr bandwidth BW{bw} not one of {sorted(BANDWIDTHS_KHZ)} kHz")
    return f"SF{sf}BW{bw}"


def _codr(obj: dict[str, Any], where: str) -> str:
    text = _str(obj, "codr", where)
    assert text is not None
    text = CODE_RATE_ALIASES.get(text, text)
    if text not in CODE_RATES:
        raise GwmpError("field", f"{where}.codr {_show(text)} not one of {', '.join(CODE_RATES)}")
    return text


def _modulation(obj: dict[str, Any], where: str) -> tuple[str, str | int, str | None]:
    modu = _str(obj, "modu", where)
    if modu == "LORA":
        return modu, _lora_datr(obj.get("datr"), where), _codr(obj, where)
    if modu == "FSK":
        datr = _req_int(obj, "datr", where, *FSK_DATARATE_BPS)
        return modu, datr, None
    raise GwmpError("field", f"{where}.modu must be LORA or FSK, got {_show(modu)}")


def _time(obj: dict[str, Any], where: str) -> str | None:
    text = _str(obj, "time", where, required=False)
    if text is not None:
        try:
            datetime.fromisoformat(text)
        except ValueError:
            raise GwmpError("field", f"{where}.time {_show(text)} is not an ISO 8601 UTC time") from None
    return text


def decode_rxpk(obj: object, where: str = "rxpk") -> Rxpk:
    if not isinstance(obj, dict):
        raise GwmpError("field", f"{where} must be an object, got {_show(obj)}")
    modu, datr, codr = _modulation(obj, where)
    stat = _req_int(obj, "stat", where, -1, 1)
    rsig_raw = obj.get("rsig", [])
    if not isinstance(rsig_raw, list):
        raise GwmpError("field", f"{where}.rsig must be an array")
    rsig = []
    for n, item in enumerate(rsig_raw):
        w = f"{where}.rsig[{n}]"
        if not isinstance(item, dict):
            raise GwmpError("field", f"{w} must be an object")
        rsig.append(Rsig(
            _req_int(item, "ant", w, 0, 255), _req_int(item, "chan", w, 0, 255),
            _req_int(item, "rssic", w, -250, 50), _number(item, "lsnr", w, -50.0, 50.0),
        ))
    return Rxpk(
        tmst=_req_int(obj, "tmst", where, 0, COUNTER_MAX),
        freq_hz=_freq(obj, where),
        chan=_req_int(obj, "chan", where, 0, 255),
        rfch=_int(obj, "rfch", where, 0, 255, required=False),  # gateway_2g4_hal omits it
        stat=stat,
        modu=modu,
        datr=datr,
        codr=codr,
        rssi=_req_int(obj, "rssi", where, -250, 50),
        lsnr=_number(obj, "lsnr", where, -50.0, 50.0),
        data=_data(obj, where, padded=True),
        time=_time(obj, where),
        tmms=_int(obj, "tmms", where, 0, 2**63 - 1, required=False),
        jver=_int(obj, "jver", where, 0, 255, required=False),
        brd=_int(obj, "brd", where, 0, 255, required=False),
        ant=_int(obj, "ant", where, 0, 255, required=False),
        rsig=tuple(rsig),
        mid=_int(obj, "mid", where, 0, 255, required=False),
        rssis=_int(obj, "rssis", where, -250, 50, required=False),
        foff=_int(obj, "foff", where, -(2**31), 2**31 - 1, required=False),
    )


def decode_stat(obj: object) -> Stat:
    if not isinstance(obj, dict):
        raise GwmpError("field", f"stat must be an object, got {_show(obj)}")
    text = _str(obj, "time", "stat")
    assert text is not None
    try:
        datetime.strptime(text, _STAT_TIME)
    except ValueError:
        raise GwmpError("field", f"stat.time {_show(text)} is not like 2014-01-12 08:59:28 GMT") from None
    counter = (0, COUNTER_MAX)
    return Stat(
        time=text,
        rxnb=_req_int(obj, "rxnb", "stat", *counter),
        rxok=_req_int(obj, "rxok", "stat", *counter),
        rxfw=_req_int(obj, "rxfw", "stat", *counter),
        ackr=_number(obj, "ackr", "stat", 0.0, 100.0, required=True) or 0.0,
        dwnb=_req_int(obj, "dwnb", "stat", *counter),
        txnb=_req_int(obj, "txnb", "stat", *counter),
        lati=_number(obj, "lati", "stat", -90.0, 90.0),
        long=_number(obj, "long", "stat", -180.0, 180.0),
        alti=_int(obj, "alti", "stat", -100_000, 100_000, required=False),
        temp=_number(obj, "temp", "stat", -273.0, 1000.0),
    )


def decode_txpk(obj: object) -> Txpk:
    """One txpk, refusing what no concentrator could send (the message names the field)."""
    if not isinstance(obj, dict):
        raise GwmpError("field", f"txpk must be an object, got {_show(obj)}")
    where = "txpk"
    imme = bool(_bool(obj, "imme", where))
    tmst = _int(obj, "tmst", where, 0, COUNTER_MAX, required=False)
    tmms = _int(obj, "tmms", where, 0, 2**63 - 1, required=False)
    if not imme and tmst is None and tmms is None:
        raise GwmpError("timing", "txpk has none of imme, tmst or tmms")
    modu, datr, codr = _modulation(obj, where)
    fdev = _int(obj, "fdev", where, 1, 200_000, required=modu == "FSK")
    powe_value = _number(obj, "powe", where, *POWER_DBM)
    return Txpk(
        freq_hz=_freq(obj, where),
        modu=modu,
        datr=datr,
        codr=codr,
        data=_data(obj, where, padded=False),
        powe=None if powe_value is None else int(powe_value),
        rfch=_int(obj, "rfch", where, 0, 255, required=False) or 0,
        imme=imme,
        tmst=tmst,
        tmms=tmms,
        fdev=fdev if modu == "FSK" else None,
        ipol=_bool(obj, "ipol", where),
        prea=_int(obj, "prea", where, 0, 65_535, required=False),
        ncrc=_bool(obj, "ncrc", where),
        nhdr=_bool(obj, "nhdr", where),
        brd=_int(obj, "brd", where, 0, 255, required=False),
        ant=_int(obj, "ant", where, 0, 255, required=False),
    )


def decode_txpk_ack(obj: dict[str, Any]) -> TxpkAck:
    ack = obj.get("txpk_ack")
    if not isinstance(ack, dict):
        raise GwmpError("field", "TX_ACK JSON has no txpk_ack object")
    value = ack.get("value")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float | str)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        raise GwmpError("field", f"txpk_ack.value must be a number or string, got {_show(value)}")
    return TxpkAck(_str(ack, "error", "txpk_ack", required=False), _str(ack, "warn", "txpk_ack", required=False), value)


def _gateway_id(datagram: bytes, kind: PacketType) -> str:
    if len(datagram) < HEADER_BYTES + EUI_BYTES:
        raise GwmpError("truncated", f"{kind.name} of {len(datagram)} bytes has no 8-byte gateway EUI")
    return datagram[HEADER_BYTES : HEADER_BYTES + EUI_BYTES].hex()


def _exact(datagram: bytes, kind: PacketType, size: int) -> None:
    if len(datagram) != size:
        reason = "truncated" if len(datagram) < size else "oversized"
        raise GwmpError(reason, f"{kind.name} must be {size} bytes, got {len(datagram)}")


def decode(datagram: bytes) -> Packet:
    """One datagram → one packet; anything malformed raises :class:`GwmpError`."""
    size = len(datagram)
    if size < HEADER_BYTES:
        raise GwmpError("truncated", f"datagram of {size} bytes is shorter than the 4-byte header")
    if size > MAX_DATAGRAM_BYTES:
        raise GwmpError("oversized", f"datagram of {size} bytes exceeds {MAX_DATAGRAM_BYTES}")
    version = datagram[0]
    if version not in VERSIONS:
        raise GwmpError("version", f"protocol version {version}, expected 1 or 2")
    token = (datagram[1] << 8) | datagram[2]
    try:
        kind = PacketType(datagram[3])
    except ValueError:
        raise GwmpError("type", f"unknown packet type 0x{datagram[3]:02x}") from None
    if kind is PacketType.PUSH_ACK:
        _exact(datagram, kind, HEADER_BYTES)
        return PushAck(token, version)
    if kind is PacketType.PULL_ACK:
        _exact(datagram, kind, HEADER_BYTES)
        return PullAck(token, version)
    if kind is PacketType.PULL_DATA:
        _exact(datagram, kind, HEADER_BYTES + EUI_BYTES)
        return PullData(token, datagram[4:12].hex(), version)
    if kind is PacketType.PUSH_DATA:
        gateway_id = _gateway_id(datagram, kind)
        if size == HEADER_BYTES + EUI_BYTES:
            raise GwmpError("truncated", "PUSH_DATA without its JSON object")
        root = _json_object(datagram[12:], "PUSH_DATA JSON")
        rxpk_raw = root.get("rxpk", [])
        if not isinstance(rxpk_raw, list):
            raise GwmpError("field", "PUSH_DATA rxpk must be an array")
        rxpk = tuple(decode_rxpk(item, f"rxpk[{n}]") for n, item in enumerate(rxpk_raw))
        stat = None if root.get("stat") is None else decode_stat(root["stat"])
        return PushData(token, gateway_id, rxpk, stat, version)
    if kind is PacketType.PULL_RESP:
        if size == HEADER_BYTES:
            raise GwmpError("truncated", "PULL_RESP without its JSON object")
        if size > MAX_PULL_RESP_BYTES:
            raise GwmpError("oversized", f"PULL_RESP of {size} bytes exceeds {MAX_PULL_RESP_BYTES}")
        root = _json_object(datagram[4:], "PULL_RESP JSON")
        if "txpk" not in root:
            raise GwmpError("field", "PULL_RESP JSON has no txpk object")
        return PullResp(token, decode_txpk(root["txpk"]), version)
    # TX_ACK
    if version < 2:
        raise GwmpError("type", "TX_ACK does not exist in protocol version 1")
    gateway_id = _gateway_id(datagram, kind)
    if size > MAX_TX_ACK_BYTES:
        raise GwmpError("oversized", f"TX_ACK of {size} bytes exceeds {MAX_TX_ACK_BYTES}")
    body = datagram[12:].rstrip(b"\x00")
    ack = decode_txpk_ack(_json_object(body, "TX_ACK JSON")) if body.strip() else None
    return TxAck(token, gateway_id, ack, version)


# ---------------------------------------------------------------------------------------------- core types


_last_second: list[tuple[int, str]] = [(-1, "")]


def utc_time(seconds: float) -> str:
    """rxpk ``time``: ISO 8601 compact UTC with µs, e.g. ``2013-03-31T16:21:17.528002Z``."""
    whole = math.floor(seconds)
    micros = min(999_999, round((seconds - whole) * 1_000_000))
    cached, prefix = _last_second[0]
    if cached != whole:  # uplinks come many per second: format the date part once per second
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _last_second[0] = (whole, prefix)
    return f"{prefix}.{micros:06d}Z"


def stat_time(seconds: float) -> str:
    """stat ``time``: ``2014-01-12 08:59:28 GMT``."""
    return time.strftime(_STAT_TIME, time.gmtime(seconds))


def _datr(modulation: Modulation) -> tuple[str, str | int, str | None]:
    if isinstance(modulation, LoraModulation):
        return "LORA", modulation.datr, modulation.code_rate
    return "FSK", modulation.datarate_bps, None


def round_half_away(value: float) -> int:
    """C ``roundf``: halves go away from zero (Python's ``round`` goes to even)."""
    whole = math.floor(abs(value) + 0.5)
    return int(whole if value >= 0 else -whole)


def _tenths(value: float) -> float:
    """The value ``%.1f`` prints, back as a number (what a server parses)."""
    return float(f"{value:.1f}")


def modem_id(frame: UplinkFrame) -> int:
    """rxpk ``mid``: the module's own when it reports one, else what the SX1302 would use for the channel."""
    rx = frame.rx_info
    if rx.modem_id is not None:
        return rx.modem_id
    if isinstance(frame.modulation, FskModulation):
        return MID_FSK
    # multi-SF channels are IF 0-7 (one demodulator path each); IF 8 is the single-SF LoRa channel
    return MID_LORA_STD if rx.channel == LORA_STD_IF else rx.channel


def rxpk_from_frame(
    frame: UplinkFrame,
    *,
    rx_time: str | None = None,
    jver: int | None = None,
    extensions: bool = False,
    receptions: Sequence[UplinkFrame] = (),
    fields: str = "sx1302",
) -> Rxpk:
    """The rxpk for one reception in field set ``fields``; with ``extensions`` also ``brd``, ``ant`` and ``rsig``.

    ``jver`` applies to the ``sx1301`` set only (the sx1302 forwarder always writes ``jver``: 1).
    """
    rx = frame.rx_info
    modu, datr, codr = _datr(frame.modulation)
    lora = modu == "LORA"
    is_2g4 = lora and isinstance(frame.modulation, LoraModulation) and frame.modulation.is_2g4
    rsig: tuple[Rsig, ...] = ()
    if extensions:
        rsig = tuple(
            Rsig(r.rx_info.antenna, r.rx_info.channel, round_half_away(r.rx_info.rssi),
                 _tenths(r.rx_info.snr) if lora else None)
            for r in (receptions or (frame,))
        )
    sx1302 = fields == "sx1302"
    mid = rssis = foff = None
    if sx1302:
        jver = None if is_2g4 else JVER
        if not is_2g4:
            mid = modem_id(frame)
        if lora:
            foff = rx.freq_offset_hz or 0
            if not is_2g4:
                rssis = round_half_away(rx.rssi if rx.rssi_signal is None else rx.rssi_signal)
    return Rxpk(
        tmst=rx.count_us,
        freq_hz=frame.frequency_hz,
        chan=rx.channel,
        rfch=None if sx1302 and is_2g4 else rx.rf_chain,
        stat=_CRC_STAT[rx.crc_status],
        modu=modu,
        datr=datr,
        codr=codr,
        rssi=round_half_away(rx.rssi),
        lsnr=_tenths(rx.snr) if lora else None,
        data=frame.phy_payload,
        time=rx_time,
        jver=jver,
        brd=rx.board if extensions else None,
        ant=rx.antenna if extensions else None,
        rsig=rsig,
        mid=mid,
        rssis=rssis,
        foff=foff,
    )


def rxpk_from_uplink(uplink: Uplink, **options: Any) -> Rxpk:
    """The rxpk for a merged uplink: its best reception (the one whose ``tmst`` a downlink will use)."""
    return rxpk_from_frame(uplink.best, receptions=uplink.receptions, **options)


def encode_uplink(uplink: Uplink, *, rx_time: str | None = None, jver: int | None = None,
                  extensions: bool = False, fields: str = "sx1302") -> bytes:
    """``encode_rxpk(rxpk_from_uplink(...))`` without the intermediate object: the forwarder's hot path."""
    frame = uplink.receptions[0]
    m = frame.modulation
    if extensions or (isinstance(m, LoraModulation) and m.is_2g4):
        return encode_rxpk(rxpk_from_uplink(uplink, rx_time=rx_time, jver=jver, extensions=extensions, fields=fields))
    rx = frame.rx_info
    hz = frame.frequency_hz
    sx1302 = fields == "sx1302"
    if isinstance(m, LoraModulation):
        if sx1302:
            signal = rx.rssi if rx.rssi_signal is None else rx.rssi_signal
            modu = (f'"modu":"LORA","datr":"{m.datr}","codr":"{m.code_rate}","rssis":{round_half_away(signal)},'
                    f'"lsnr":{rx.snr:.1f},"foff":{rx.freq_offset_hz or 0}')
        else:
            modu = f'"modu":"LORA","datr":"{m.datr}","codr":"{m.code_rate}","lsnr":{rx.snr:.1f}'
    else:
        modu = f'"modu":"FSK","datr":{m.datarate_bps}'
    if sx1302:
        jver = JVER
    payload = frame.phy_payload
    return (
        "{"
        + ("" if jver is None else f'"jver":{jver},')
        + f'"tmst":{rx.count_us},'
        + ("" if rx_time is None else f'"time":{json.dumps(rx_time)},')
        + f'"chan":{rx.channel},"rfch":{rx.rf_chain},"freq":{hz // 1_000_000}.{hz % 1_000_000:06d},'
        + (f'"mid":{modem_id(frame)},' if sx1302 else "")
        + f'"stat":{_CRC_STAT[rx.crc_status]},{modu},'
        f'"rssi":{round_half_away(rx.rssi)},"size":{len(payload)},"data":"{base64.b64encode(payload).decode("ascii")}"}}'
    ).encode("ascii")


def _modulation_of(modu: str, datr: str | int, codr: str | None, fdev: int | None = None) -> Modulation:
    if modu == "LORA":
        assert isinstance(datr, str)
        match = _DATR.fullmatch(datr)
        assert match is not None
        return LoraModulation(int(match.group(1)), BANDWIDTHS_KHZ[int(match.group(2))], codr or "4/5")
    assert isinstance(datr, int)
    return FskModulation(datr) if fdev is None else FskModulation(datr, fdev)


def frame_from_rxpk(rx: Rxpk) -> UplinkFrame:
    """Back from an rxpk to the core's uplink type (what a network-server peer sees)."""
    return UplinkFrame(
        phy_payload=rx.data,
        frequency_hz=rx.freq_hz,
        modulation=_modulation_of(rx.modu, rx.datr, rx.codr),
        rx_info=RxInfo(
            board=rx.brd or 0, count_us=rx.tmst, rssi=float(rx.rssi), snr=rx.lsnr or 0.0, channel=rx.chan,
            rf_chain=rx.rfch or 0, antenna=rx.ant or 0, crc_status=_STAT_CRC[rx.stat],
            rssi_signal=None if rx.rssis is None else float(rx.rssis), freq_offset_hz=rx.foff, modem_id=rx.mid,
        ),
    )


def txpk_to_request(tx: Txpk, *, board: int | None, default_power_dbm: float = 14.0) -> TxRequest:
    """The core's downlink request for a txpk: ``imme`` → class C, ``tmst`` → class A on ``board``'s counter.

    A txpk timed only by ``tmms`` (class B, GPS time) cannot be expressed without a GPS: GwmpError
    ``timing``. Preambles below the modem's minimum are raised to it, as lora_pkt_fwd does.
    """
    if not tx.imme and tx.tmst is None:
        raise GwmpError("timing", "txpk timed by tmms (GPS) only; this gateway has no GPS time")
    modulation = _modulation_of(tx.modu, tx.datr, tx.codr, tx.fdev)
    preamble = tx.prea
    if preamble is not None:
        preamble = max(preamble, LORA_MIN_PREAMBLE if tx.modu == "LORA" else FSK_MIN_PREAMBLE)
    power = default_power_dbm if tx.powe is None else float(tx.powe)
    if tx.nhdr:
        raise GwmpError("field", "txpk nhdr (implicit header) is not supported by the modules' daemons")
    # as lora_pkt_fwd: an absent ipol means no inversion, an absent ncrc means a CRC is sent
    signal = {"invert_iq": bool(tx.ipol), "crc": not tx.ncrc}
    if tx.imme:
        return TxRequest(tx.data, tx.freq_hz, power, modulation, tx_class=TxClass.C, board=board,
                         antenna=tx.ant or 0, preamble=preamble, **signal)
    return TxRequest(tx.data, tx.freq_hz, power, modulation, tx_class=TxClass.A, count_us=tx.tmst, board=board,
                     antenna=tx.ant or 0, preamble=preamble, **signal)
