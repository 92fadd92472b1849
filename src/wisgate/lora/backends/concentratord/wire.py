"""Concentratord protobufs (``chirpstack_api.gw``) to and from the gateway's own types, field by field."""

from __future__ import annotations

from collections.abc import Sequence

from chirpstack_api import gw

from wisgate.lora.core.types import (
    CrcStatus,
    FskModulation,
    LoraModulation,
    Modulation,
    RxInfo,
    TxClass,
    TxOutcome,
    TxRequest,
    UplinkFrame,
)
from wisgate.lora.errors import ParseError
from wisgate.lora.plans.channels import Channel, ChannelKind

CODE_RATES = {
    gw.CR_4_5: "4/5", gw.CR_4_6: "4/6", gw.CR_4_7: "4/7", gw.CR_4_8: "4/8",
    gw.CR_LI_4_5: "4/5LI", gw.CR_LI_4_6: "4/6LI", gw.CR_LI_4_8: "4/8LI",
}
CODE_RATE_ENUMS = {text: enum for enum, text in CODE_RATES.items()}
CRC = {gw.CRC_OK: CrcStatus.OK, gw.BAD_CRC: CrcStatus.BAD, gw.NO_CRC: CrcStatus.NONE}
TX_STATUS = {
    TxOutcome.OK: gw.OK, TxOutcome.TOO_LATE: gw.TOO_LATE, TxOutcome.TOO_EARLY: gw.TOO_EARLY,
    TxOutcome.COLLISION_PACKET: gw.COLLISION_PACKET, TxOutcome.COLLISION_BEACON: gw.COLLISION_BEACON,
    TxOutcome.TX_FREQ: gw.TX_FREQ, TxOutcome.TX_POWER: gw.TX_POWER, TxOutcome.DUTY_CYCLE: gw.DUTY_CYCLE_OVERFLOW,
}
TX_OUTCOME = {status: outcome for outcome, status in TX_STATUS.items()}
MULTI_SF = [7, 8, 9, 10, 11, 12]
#: ``rx_info.metadata`` keys for what the SX1302 measures and ``gw.UplinkRxInfo`` has no field for:
#: signal RSSI (dBm), frequency offset (Hz) and modem id. wisgate's simulated daemon writes them; a
#: daemon that does not leaves the GWMP forwarder to derive them (see ``gwmp.rxpk_from_frame``).
META_RSSI_SIGNAL = "rssis"
META_FREQ_OFFSET = "foff"
META_MODEM_ID = "mid"


def _meta_number(rx: gw.UplinkRxInfo, key: str, board: int) -> float | None:
    text = rx.metadata.get(key)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ParseError(f"board {board}: uplink metadata {key}={text[:20]!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ParseError(f"board {board}: uplink metadata {key}={text[:20]!r} is not finite")
    return value


def _meta_int(rx: gw.UplinkRxInfo, key: str, board: int, lo: int, hi: int) -> int | None:
    value = _meta_number(rx, key, board)
    if value is None:
        return None
    if not value.is_integer() or not lo <= value <= hi:
        raise ParseError(f"board {board}: uplink metadata {key}={value:g} is not an integer in {lo}..{hi}")
    return int(value)


def uplink_from_proto(frame: gw.UplinkFrame, board: int) -> UplinkFrame:
    """Our uplink from a Concentratord event; :class:`ParseError` names what is missing."""
    rx = frame.rx_info
    context = rx.context
    if len(context) != 4:
        raise ParseError(f"board {board}: uplink context is {len(context)} bytes, not the 4-byte counter")
    tx = frame.tx_info
    modulation = _modulation(tx.modulation, board)
    metadata = rx.metadata
    extras: tuple[float | None, int | None, int | None] = (None, None, None)
    if metadata:  # only what the SX1302 measures beyond gw.UplinkRxInfo; absent from most daemons
        extras = (_meta_number(rx, META_RSSI_SIGNAL, board),
                  _meta_int(rx, META_FREQ_OFFSET, board, -(2**31), 2**31 - 1),
                  _meta_int(rx, META_MODEM_ID, board, 0, 255))
    return UplinkFrame(
        bytes(frame.phy_payload),
        int(tx.frequency),
        modulation,
        RxInfo(board, int.from_bytes(context, "big"), float(rx.rssi), float(rx.snr), int(rx.channel),
               int(rx.rf_chain), int(rx.antenna), CRC.get(rx.crc_status, CrcStatus.NONE), None, *extras),
    )


#: LoRa modulations by (SF, bandwidth, code rate enum): immutable, and a module uses a handful.
_LORA_MODULATIONS: dict[tuple[int, int, int], LoraModulation] = {}


def _modulation(proto: gw.Modulation, board: int) -> Modulation:
    kind = proto.WhichOneof("parameters")
    if kind == "lora":
        lora = proto.lora
        key = (lora.spreading_factor, lora.bandwidth, lora.code_rate)
        modulation = _LORA_MODULATIONS.get(key)
        if modulation is None:
            code_rate = CODE_RATES.get(lora.code_rate)
            if code_rate is None:
                raise ParseError(f"board {board}: unknown LoRa code rate {lora.code_rate}")
            modulation = LoraModulation(int(lora.spreading_factor), int(lora.bandwidth), code_rate)
            if len(_LORA_MODULATIONS) < 1024:  # bounded whatever a daemon sends
                _LORA_MODULATIONS[key] = modulation
        return modulation
    if kind == "fsk":
        return FskModulation(int(proto.fsk.datarate))
    raise ParseError(f"board {board}: uplink modulation {kind or 'missing'} not supported")


def downlink_to_proto(request: TxRequest, count_us: int | None, *, gateway_id: str,
                      downlink_id: int) -> gw.DownlinkFrame:
    """One item the module must send at its counter value ``count_us`` (already checked by our JIT), or, for
    class C, as soon as it can: on the module's own counter (``count_us`` is then only our estimate)."""
    frame = gw.DownlinkFrame(downlink_id=downlink_id, gateway_id=gateway_id)
    item = frame.items.add(phy_payload=request.payload)
    info = item.tx_info
    info.frequency = request.frequency_hz
    info.power = round(request.power_dbm)
    info.board = request.board or 0
    info.antenna = request.antenna
    if isinstance(request.modulation, LoraModulation):
        lora = info.modulation.lora
        lora.bandwidth = request.modulation.bandwidth_hz
        lora.spreading_factor = request.modulation.spreading_factor
        lora.code_rate = CODE_RATE_ENUMS[request.modulation.code_rate]
        lora.polarization_inversion = request.invert_iq
        lora.no_crc = not request.crc
        if request.preamble is not None:
            lora.preamble = request.preamble
    else:
        info.modulation.fsk.datarate = request.modulation.datarate_bps
        info.modulation.fsk.frequency_deviation = request.modulation.freq_deviation_hz
    if request.tx_class is TxClass.C:
        # the module reads its counter when the item arrives; ours is mapped from uplinks handled some ms
        # (at a busy start, over 100 ms) after the module stamped them, and would make "now + 80 ms" late
        info.timing.immediately.SetInParent()
    elif count_us is None:
        raise ValueError(f"a class {request.tx_class.value} downlink needs the counter value it leaves at")
    else:
        info.context = (count_us & 0xFFFFFFFF).to_bytes(4, "big")
        info.timing.delay.delay.seconds = 0
    return frame


def configuration_to_proto(channels: Sequence[Channel], *, board: int, version: str) -> gw.GatewayConfiguration:
    """One module's share of a plan as Concentratord's ``set_gateway_configuration``."""
    message = gw.GatewayConfiguration(version=version)
    for channel in channels:
        item = message.channels.add(frequency=channel.frequency_hz, board=board)
        if channel.kind is ChannelKind.FSK:
            item.fsk_modulation_config.bandwidth = channel.bandwidth_hz
            item.fsk_modulation_config.bitrate = channel.datarate_bps or 50_000
        else:
            item.lora_modulation_config.bandwidth = channel.bandwidth_hz
            sfs = MULTI_SF if channel.spreading_factor is None else [channel.spreading_factor]
            item.lora_modulation_config.spreading_factors.extend(sfs)
    return message


def channels_from_configuration(message: gw.GatewayConfiguration) -> list[Channel]:
    """The channels of a ChirpStack ``GatewayConfiguration``; :class:`ParseError` names the bad one.

    125 kHz LoRa with several spreading factors is a multi-SF channel; one spreading factor on a wider
    bandwidth the single-SF (LoRa std) channel; FSK by its bit rate. 2.4 GHz channels (one SF each).
    """
    channels: list[Channel] = []
    for n, item in enumerate(message.channels):
        where = f"channel {n} ({item.frequency} Hz)"
        if not 100_000_000 <= item.frequency <= 3_000_000_000:
            raise ParseError(f"{where}: frequency out of 100 MHz..3 GHz")
        kind = item.WhichOneof("modulation_config")
        if kind == "fsk_modulation_config":
            fsk = item.fsk_modulation_config
            if not fsk.bitrate:
                raise ParseError(f"{where}: FSK without a bit rate")
            bandwidth = fsk.bandwidth or 125_000
            channels.append(Channel(item.frequency, ChannelKind.FSK, bandwidth, datarate_bps=fsk.bitrate))
            continue
        if kind != "lora_modulation_config":
            raise ParseError(f"{where}: no LoRa or FSK modulation")
        lora = item.lora_modulation_config
        bandwidth = lora.bandwidth or lora.bandwidth_legacy * 1000
        sfs = sorted(set(lora.spreading_factors))
        if not sfs or any(not 5 <= sf <= 12 for sf in sfs):
            raise ParseError(f"{where}: spreading factors {sfs} not within SF5..SF12")
        if item.frequency >= 2_400_000_000:
            channels.append(Channel(item.frequency, ChannelKind.LORA_2G4, bandwidth, spreading_factor=sfs[0]))
        elif len(sfs) > 1:
            if bandwidth != 125_000:
                raise ParseError(f"{where}: several spreading factors need 125 kHz, not {bandwidth} Hz")
            channels.append(Channel(item.frequency, ChannelKind.MULTI_SF, bandwidth))
        else:
            channels.append(Channel(item.frequency, ChannelKind.LORA_STD, bandwidth, spreading_factor=sfs[0]))
    return channels


def downlink_from_proto(item: gw.DownlinkFrameItem, *, board: int) -> TxRequest:
    """What a module is asked to send, as our JIT queue sees it (the simulated daemon's side)."""
    info = item.tx_info
    kind = info.modulation.WhichOneof("parameters")
    modulation: Modulation
    if kind == "lora":
        lora = info.modulation.lora
        code_rate = CODE_RATES.get(lora.code_rate)
        if code_rate is None:
            raise ParseError(f"board {board}: unknown LoRa code rate {lora.code_rate}")
        modulation = LoraModulation(int(lora.spreading_factor), int(lora.bandwidth), code_rate)
    elif kind == "fsk":
        modulation = FskModulation(int(info.modulation.fsk.datarate), int(info.modulation.fsk.frequency_deviation))
    else:
        raise ParseError(f"board {board}: downlink modulation {kind or 'missing'} not supported")
    timing = info.timing.WhichOneof("parameters")
    count_us: int | None = None
    tx_class = TxClass.C
    if timing == "delay":
        if len(info.context) != 4:
            raise ParseError(f"board {board}: delayed downlink without the 4-byte counter context")
        delay = info.timing.delay.delay
        count_us = (int.from_bytes(info.context, "big") + delay.seconds * 1_000_000 + delay.nanos // 1000) & 0xFFFFFFFF
        tx_class = TxClass.A
    elif timing == "gps_epoch":
        raise ParseError(f"board {board}: GPS-timed downlinks need a GPS; this module has none")
    return TxRequest(
        bytes(item.phy_payload), int(info.frequency), float(info.power), modulation,
        tx_class=tx_class, count_us=count_us, board=board, antenna=int(info.antenna),
        preamble=int(info.modulation.lora.preamble) if kind == "lora" and info.modulation.lora.preamble else None,
        invert_iq=bool(info.modulation.lora.polarization_inversion) if kind == "lora" else False,
        crc=not info.modulation.lora.no_crc if kind == "lora" else True,
    )
