"""LoRa Basics Station's LNS protocol: the JSON messages, as pure functions (reference §2.1).

Field names, types and encodings as Basics Station writes and reads them (lorabasics/basicstation
``src/s2e.c``, ``src/lora.c``, ``src/tc.c``; its LNS-protocol documentation):

- EUIs are ``"XX-XX-XX-XX-XX-XX-XX-XX"`` (upper-case hex); ``router`` in discovery is the ID6 form;
  an EUI may also arrive as ID6 or as an integer.
- ``updf``: ``MHdr``, ``DevAddr`` (signed 32-bit), ``FCtrl``, ``FCnt``, ``FOpts`` (hex), ``FPort`` (-1
  when absent), ``FRMPayload`` (hex), ``MIC`` (signed 32-bit, little-endian bytes); ``jreq``/``rejoin``:
  ``MHdr``, ``JoinEui``, ``DevEui``, ``DevNonce``, ``MIC``; ``propdf``: ``FRMPayload`` (the whole
  frame, hex). All carry ``RefTime``, ``DR``, ``Freq`` and ``upinfo`` {``rctx``, ``xtime``,
  ``gpstime``, ``fts``, ``rssi``, ``snr``, ``rxtime``}.
- ``xtime``: bits 62-56 the TX unit (here the board), 55-48 a session id (new at each start), 47-0 µs
  on that board's counter (the extended, wrap-free one).
- ``router_config``: ``DRs`` [[SF (0 = FSK, -1 = none), BW kHz, downlink-only]], ``upchannels``
  [[Hz, minDR, maxDR]] and/or ``sx1301_conf``/``SX1302_conf`` (one entry per chip), ``NetID``,
  ``JoinEui``, ``max_eirp``, ``MuxTime``.
- ``dnmsg``: ``DevEui``, ``dC`` (0 class A, 1 B, 2 C), ``diid``, ``pdu`` (hex), ``RxDelay`` (0 means
  1), ``RX1DR``/``RX1Freq``, ``RX2DR``/``RX2Freq``, ``xtime``, ``rctx``, ``priority``, ``MuxTime``.
- ``dntxed`` (after the emission): ``diid``, ``DR``, ``Freq``, ``DevEui``, ``rctx``, ``xtime``,
  ``txtime``, ``gpstime``.

A malformed message raises :class:`LnsError` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wisgate.lora.core.types import FskModulation, LoraModulation, Modulation, ReceivedUplink
from wisgate.lora.errors import ParseError
from wisgate.lora.frames.phy import DataFrame, JoinRequest, Proprietary, RejoinRequest
from wisgate.lora.plans.channels import Channel, ChannelKind, ChannelPlan

MUXS_PROTOCOL_VERSION = 2
XTIME_US_MASK = (1 << 48) - 1
FSK_BITRATE = 50_000
DR_COUNT = 16


class LnsError(ParseError):
    """A message that is not what the LNS protocol says; the message names the field."""


# ---------------------------------------------------------------------------------------------- identities


def eui_text(eui: int) -> str:
    """``00-16-C0-01-FF-1A-73-91``."""
    raw = eui.to_bytes(8, "big")
    return "-".join(f"{b:02X}" for b in raw)


def id6(eui: int) -> str:
    """The ID6 form (four 16-bit groups, IPv6-style ``::`` for leading zero groups)."""
    groups = [(eui >> shift) & 0xFFFF for shift in (48, 32, 16, 0)]
    if groups[0] == 0 and groups[1] == 0:
        return f"::{groups[3]:x}" if groups[2] == 0 else f"::{groups[2]:x}:{groups[3]:x}"
    if groups[2] == 0 and groups[3] == 0:
        return f"{groups[0]:x}:{groups[1]:x}::"
    return ":".join(f"{g:x}" for g in groups)


def parse_eui(value: object, field: str) -> int:
    """An EUI as Station accepts it: ``XX-XX-...``, hex without separators, ID6, or an integer."""
    if isinstance(value, bool):
        raise LnsError(f"{field} must be an EUI, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value < 1 << 64:
            raise LnsError(f"{field} = {value} is not a 64-bit EUI")
        return value
    if not isinstance(value, str):
        raise LnsError(f"{field} must be an EUI string or integer, got {type(value).__name__}")
    text = value.strip()
    try:
        if ":" in text:
            head, _, tail = text.partition("::")
            if "::" in text:
                left = [int(g, 16) for g in head.split(":") if g]
                right = [int(g, 16) for g in tail.split(":") if g]
                groups = left + [0] * (4 - len(left) - len(right)) + right
            else:
                groups = [int(g, 16) for g in text.split(":")]
            if len(groups) != 4 or any(not 0 <= g <= 0xFFFF for g in groups):
                raise ValueError
            return (groups[0] << 48) | (groups[1] << 32) | (groups[2] << 16) | groups[3]
        digits = text.replace("-", "")
        if len(digits) != 16:
            raise ValueError
        return int(digits, 16)
    except ValueError:
        raise LnsError(f"{field} {value[:40]!r} is not an EUI") from None


# ---------------------------------------------------------------------------------------------- xtime


def xtime(board: int, session: int, time_us: int) -> int:
    return ((board & 0x7F) << 56) | ((session & 0xFF) << 48) | (time_us & XTIME_US_MASK)


def xtime_parts(value: int) -> tuple[int, int, int]:
    """(TX unit, session, µs) of an ``xtime``."""
    return (value >> 56) & 0x7F, (value >> 48) & 0xFF, value & XTIME_US_MASK


# ---------------------------------------------------------------------------------------------- data rates


@dataclass(frozen=True, slots=True)
class DataRates:
    """The ``DRs`` table of a ``router_config``: index → (SF, BW Hz) or FSK or undefined."""

    table: tuple[tuple[int, int] | None, ...]

    @classmethod
    def parse(cls, raw: object) -> DataRates:
        if not isinstance(raw, list) or not raw:
            raise LnsError("router_config.DRs must be a non-empty array")
        table: list[tuple[int, int] | None] = []
        for n, entry in enumerate(raw[:DR_COUNT]):
            if not isinstance(entry, list) or len(entry) < 2 or not all(isinstance(v, int) for v in entry[:2]):
                raise LnsError(f"router_config.DRs[{n}] must be [SF, BW, dnonly]")
            sf, bw = entry[0], entry[1]
            if sf < 0:
                table.append(None)
            elif sf == 0:
                table.append((0, 0))
            elif 5 <= sf <= 12 and bw in (125, 250, 500, 203, 406, 812, 1625):
                table.append((sf, bw * 1000))
            else:
                raise LnsError(f"router_config.DRs[{n}] = {entry} is no data rate")
        return cls(tuple(table))

    def modulation(self, dr: int) -> Modulation:
        entry = self.table[dr] if 0 <= dr < len(self.table) else None
        if entry is None:
            raise LnsError(f"DR{dr} is not defined by router_config")
        if entry[0] == 0:
            return FskModulation(FSK_BITRATE)
        return LoraModulation(entry[0], entry[1])

    def index(self, modulation: Modulation) -> int:
        """The DR of an uplink's modulation (-1 when the table has none)."""
        if isinstance(modulation, FskModulation):
            return self.index_of(0, 0)
        return self.index_of(modulation.spreading_factor, modulation.bandwidth_hz)

    def index_of(self, sf: int, bw_hz: int) -> int:
        """The DR of (SF, BW Hz), (0, 0) for FSK; -1 when the table has none."""
        for dr, entry in enumerate(self.table):
            if entry == (sf, bw_hz):
                return dr
        return -1


# ---------------------------------------------------------------------------------------------- router_config


@dataclass(frozen=True, slots=True)
class RouterConfig:
    region: str
    data_rates: DataRates
    plan: ChannelPlan
    max_eirp: float | None
    muxtime: float | None
    net_ids: tuple[int, ...]


def parse_router_config(message: Mapping[str, Any]) -> RouterConfig:
    """The channel plan and data rates a ``router_config`` gives the gateway."""
    region = str(message.get("region", ""))
    rates = DataRates.parse(message.get("DRs"))
    channels: list[Channel] = []
    confs = [message[k] for k in ("sx1301_conf", "SX1301_conf", "sx1302_conf", "SX1302_conf") if k in message]
    for conf in confs:
        if not isinstance(conf, list):
            raise LnsError("router_config sx130x_conf must be an array (one entry per chip)")
        for n, chip in enumerate(conf):
            channels += _chip_channels(chip, n)
    if not channels:
        channels = _upchannels(message.get("upchannels"), rates)
    unique = list(dict.fromkeys(channels))
    if not unique:
        raise LnsError("router_config gives no uplink channel (no sx130x_conf, no upchannels)")
    eirp = message.get("max_eirp")
    muxtime = message.get("MuxTime")
    net_ids = message.get("NetID") or []
    return RouterConfig(
        region=region, data_rates=rates, plan=ChannelPlan(f"router_config {region}".strip(), region, tuple(unique)),
        max_eirp=float(eirp) if isinstance(eirp, int | float) and not isinstance(eirp, bool) else None,
        muxtime=float(muxtime) if isinstance(muxtime, int | float) and not isinstance(muxtime, bool) else None,
        net_ids=tuple(int(n) for n in net_ids if isinstance(n, int) and not isinstance(n, bool)),
    )


def _upchannels(raw: object, rates: DataRates) -> list[Channel]:
    if not isinstance(raw, list):
        return []
    channels = []
    for n, entry in enumerate(raw):
        if not isinstance(entry, list) or len(entry) != 3 or not all(isinstance(v, int) for v in entry):
            raise LnsError(f"router_config.upchannels[{n}] must be [Hz, minDR, maxDR]")
        freq, low, high = entry
        mods = [m for d in range(low, high + 1) if 0 <= d < len(rates.table) and (m := rates.table[d]) is not None]
        if not mods:
            raise LnsError(f"router_config.upchannels[{n}]: DR{low}..DR{high} are not defined")
        if mods[0][0] == 0:
            channels.append(Channel(freq, ChannelKind.FSK, 125_000, datarate_bps=FSK_BITRATE))
        elif len({m for m in mods if m[0]}) > 1:
            channels.append(Channel(freq, ChannelKind.MULTI_SF, mods[0][1]))
        else:
            channels.append(Channel(freq, ChannelKind.LORA_STD, mods[0][1], spreading_factor=mods[0][0]))
    return channels


def _chip_channels(chip: object, n: int) -> list[Channel]:
    where = f"router_config sx130x_conf[{n}]"
    if not isinstance(chip, dict):
        raise LnsError(f"{where} must be an object")
    centres: dict[int, int] = {}
    for r in (0, 1):
        radio = chip.get(f"radio_{r}")
        if isinstance(radio, dict) and radio.get("enable", True) and isinstance(radio.get("freq"), int):
            centres[r] = radio["freq"]

    def absolute(key: str, chan: dict[str, Any]) -> int:
        radio = chan.get("radio", 0)
        if radio not in centres or not isinstance(chan.get("if"), int):
            raise LnsError(f"{where}.{key} uses radio_{radio}, which is not enabled, or has no if")
        return int(centres[radio] + chan["if"])

    channels = []
    for i in range(16):
        chan = chip.get(f"chan_multiSF_{i}")
        if isinstance(chan, dict) and chan.get("enable"):
            channels.append(Channel(absolute(f"chan_multiSF_{i}", chan), ChannelKind.MULTI_SF))
    std = chip.get("chan_Lora_std")
    if isinstance(std, dict) and std.get("enable"):
        bandwidth = int(std.get("bandwidth", 250_000))
        channels.append(Channel(absolute("chan_Lora_std", std), ChannelKind.LORA_STD, bandwidth,
                                spreading_factor=int(std.get("spread_factor", 7))))
    fsk = chip.get("chan_FSK")
    if isinstance(fsk, dict) and fsk.get("enable"):
        channels.append(Channel(absolute("chan_FSK", fsk), ChannelKind.FSK, int(fsk.get("bandwidth", 125_000)),
                                datarate_bps=int(fsk.get("datarate", FSK_BITRATE))))
    return channels


# ---------------------------------------------------------------------------------------------- uplinks


def _signed32(value: int) -> int:
    return value - (1 << 32) if value & 0x8000_0000 else value


def _mic(raw: bytes) -> int:
    return _signed32(int.from_bytes(raw, "little"))


def frame_fields(received: ReceivedUplink) -> dict[str, Any] | None:
    """``msgtype`` and the frame fields of an uplink; None for what Station does not forward (downlinks,
    join-accepts, frames that did not parse)."""
    frame = received.frame
    phy = received.uplink.phy_payload
    if isinstance(frame, DataFrame):
        if not frame.uplink:
            return None
        fport = -1 if frame.fport is None else frame.fport
        return {
            "msgtype": "updf", "MHdr": phy[0], "DevAddr": _signed32(frame.dev_addr), "FCtrl": phy[5],
            "FCnt": frame.fcnt, "FOpts": frame.fopts.hex().upper(), "FPort": fport,
            "FRMPayload": frame.frm_payload.hex().upper(), "MIC": _mic(frame.mic),
        }
    if isinstance(frame, JoinRequest):
        return {
            "msgtype": "jreq", "MHdr": phy[0], "JoinEui": eui_text(frame.join_eui), "DevEui": eui_text(frame.dev_eui),
            "DevNonce": frame.dev_nonce, "MIC": _mic(frame.mic),
        }
    if isinstance(frame, RejoinRequest):
        return {"msgtype": "rejoin", "MHdr": phy[0], "FRMPayload": phy.hex().upper()}
    if isinstance(frame, Proprietary):
        return {"msgtype": "propdf", "FRMPayload": phy.hex().upper()}
    return None


def uplink_record(received: ReceivedUplink, *, session: int, rxtime: float, received_host: float,
                  gps_offset_us: int | None) -> bytes | None:
    """What the store keeps of one uplink until the LNS has it; None for what Station does not forward.

    The Station message without its last two fields: ``DR`` and ``RefTime`` depend on the connection
    (its ``router_config`` and ``MuxTime``), so they are added when it is sent and a stored uplink
    replays correctly after a reconnect. The record is ``<SF> <BW Hz>`` and a newline (SF 0: FSK), then
    the JSON text up to its closing brace; written with f-strings, as this is the uplink hot path.
    """
    frame = received.frame
    if isinstance(frame, DataFrame) and frame.uplink:
        phy = received.uplink.phy_payload
        head = (
            f'{{"msgtype":"updf","MHdr":{phy[0]},"DevAddr":{_signed32(frame.dev_addr)},"FCtrl":{phy[5]},'
            f'"FCnt":{frame.fcnt},"FOpts":"{frame.fopts.hex().upper()}",'
            f'"FPort":{-1 if frame.fport is None else frame.fport},"FRMPayload":"{frame.frm_payload.hex().upper()}",'
            f'"MIC":{_mic(frame.mic)}'
        )
    else:
        fields = frame_fields(received)
        if fields is None:
            return None
        head = json.dumps(fields, separators=(",", ":"))[:-1]
    best = received.uplink.best
    rx = best.rx_info
    modulation = best.modulation
    sf, bw = (0, 0) if isinstance(modulation, FskModulation) else (modulation.spreading_factor, modulation.bandwidth_hz)
    time_us = rx.time_us if rx.time_us is not None else rx.count_us
    gpstime = 0 if gps_offset_us is None else int(received_host * 1_000_000) + gps_offset_us
    return (
        f'{sf} {bw}\n{head},"Freq":{best.frequency_hz},"upinfo":{{"rctx":{rx.board},'
        f'"xtime":{xtime(rx.board, session, time_us)},"gpstime":{gpstime},"fts":-1,"rssi":{round(rx.rssi)},'
        f'"snr":{float(rx.snr)!r},"rxtime":{rxtime:.6f}}}'
    ).encode()


def uplink_message(record: bytes, rates: DataRates, reftime: float) -> bytes:
    """The Station message (UTF-8 JSON text) for a stored uplink, with this connection's ``RefTime`` and ``DR``."""
    prefix, _, body = record.partition(b"\n")
    sf_text, _, bw_text = prefix.partition(b" ")
    dr = rates.index_of(int(sf_text), int(bw_text))
    return b'%s,"RefTime":%.6f,"DR":%d}' % (body, reftime, dr)


# ---------------------------------------------------------------------------------------------- downlinks


@dataclass(frozen=True, slots=True)
class DnMsg:
    diid: int
    dev_eui: int
    device_class: int  # 0 A, 1 B, 2 C
    pdu: bytes
    rx_delay_s: int
    rx1: tuple[int, int] | None  # (DR, Hz)
    rx2: tuple[int, int] | None
    xtime: int
    rctx: int | None
    priority: int


def _int_field(message: Mapping[str, Any], name: str, lo: int, hi: int, default: int | None = None) -> int:
    value = message.get(name, default)
    if value is None:
        raise LnsError(f"dnmsg.{name} missing")
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise LnsError(f"dnmsg.{name} must be an integer in {lo}..{hi}, got {str(value)[:30]}")
    return value


def parse_dnmsg(message: Mapping[str, Any]) -> DnMsg:
    pdu_text = message.get("pdu")
    if not isinstance(pdu_text, str):
        raise LnsError("dnmsg.pdu missing or not a hex string")
    try:
        pdu = bytes.fromhex(pdu_text)
    except ValueError:
        raise LnsError("dnmsg.pdu is not hex") from None
    if len(pdu) > 255:
        raise LnsError(f"dnmsg.pdu is {len(pdu)} bytes, at most 255")
    device_class = _int_field(message, "dC", 0, 2, 0)

    def window(dr_key: str, freq_key: str) -> tuple[int, int] | None:
        if dr_key not in message and freq_key not in message:
            return None
        return _int_field(message, dr_key, 0, DR_COUNT - 1), _int_field(message, freq_key, 100_000_000, 3_000_000_000)

    rx1 = window("RX1DR", "RX1Freq") if "DR" not in message else window("DR", "Freq")
    rx2 = window("RX2DR", "RX2Freq")
    if rx1 is None and rx2 is None:
        raise LnsError("dnmsg has neither RX1DR/RX1Freq nor RX2DR/RX2Freq")
    rctx = message.get("rctx")
    if rctx is not None and (isinstance(rctx, bool) or not isinstance(rctx, int)):
        raise LnsError("dnmsg.rctx must be an integer")
    return DnMsg(
        diid=_int_field(message, "diid", -(1 << 63), (1 << 63) - 1, message.get("seqno", 0)),
        dev_eui=parse_eui(message.get("DevEui", 0), "dnmsg.DevEui"),
        device_class=device_class,
        pdu=pdu,
        rx_delay_s=max(1, _int_field(message, "RxDelay", 0, 15, 1)),
        rx1=rx1, rx2=rx2,
        xtime=_int_field(message, "xtime", 0, (1 << 63) - 1, 0),
        rctx=rctx,
        priority=_int_field(message, "priority", 0, 255, 0),
    )


def dntxed(msg: DnMsg, *, dr: int, freq_hz: int, board: int, xtime_value: int, txtime: float,
           gpstime: int) -> str:
    return json.dumps({
        "msgtype": "dntxed", "seqno": msg.diid, "diid": msg.diid, "DR": dr, "Freq": freq_hz,
        "DevEui": eui_text(msg.dev_eui), "rctx": board, "xtime": xtime_value, "txtime": round(txtime, 6),
        "gpstime": gpstime,
    }, separators=(",", ":"))


def version_message(*, station: str, firmware: str, model: str, features: Sequence[str] = ()) -> str:
    return json.dumps({
        "msgtype": "version", "station": station, "firmware": firmware, "package": firmware, "model": model,
        "protocol": MUXS_PROTOCOL_VERSION, "features": " ".join(features),
    }, separators=(",", ":"))


def decode(text: str | bytes) -> dict[str, Any]:
    """One text record: a JSON object with a ``msgtype`` (discovery answers have none)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise LnsError(f"not JSON: {str(exc)[:60]}") from None
    if not isinstance(value, dict):
        raise LnsError(f"a JSON {type(value).__name__}, not an object")
    return value


def json_text(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))
