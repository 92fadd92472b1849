"""A merged uplink, or a downlink and its outcome, as one JSON-ready record with its decoded LoRaWAN header."""

from __future__ import annotations

from typing import Any

from wisgate.lora.core.types import ReceivedUplink, TxRequest, TxResult, datarate
from wisgate.lora.errors import ParseError
from wisgate.lora.frames.phy import DataFrame, Frame, JoinRequest, parse


def describe(received: ReceivedUplink) -> dict[str, Any]:
    uplink = received.uplink
    best = uplink.best
    record: dict[str, Any] = {
        "size": len(uplink.phy_payload),
        "phy_payload": uplink.phy_payload.hex(),
        "frequency_hz": best.frequency_hz,
        "datr": datarate(best.modulation),
        "receptions": [
            {"board": r.rx_info.board, "channel": r.rx_info.channel, "rssi": r.rx_info.rssi,
             "snr": r.rx_info.snr, "count_us": r.rx_info.count_us, "crc": r.rx_info.crc_status.value}
            for r in uplink.receptions
        ],
    }
    frame = received.frame
    if frame is None:
        record["mtype"] = "not LoRaWAN"
        record["error"] = received.parse_error
        return record
    record.update(header(frame))
    return record


def header(frame: Frame) -> dict[str, Any]:
    out: dict[str, Any] = {"mtype": frame.mtype.name}
    if isinstance(frame, DataFrame):
        out.update(dev_addr=f"{frame.dev_addr:08X}", fcnt=frame.fcnt, fport=frame.fport, adr=frame.fctrl.adr)
    elif isinstance(frame, JoinRequest):
        out.update(join_eui=f"{frame.join_eui:016X}", dev_eui=f"{frame.dev_eui:016X}", dev_nonce=frame.dev_nonce)
    return out


def describe_downlink(request: TxRequest, result: TxResult) -> dict[str, Any]:
    """A downlink request with the module's verdict (``outcome``: OK, TOO_LATE, COLLISION_PACKET...)."""
    power = result.power_dbm if result.power_dbm is not None else request.power_dbm
    record: dict[str, Any] = {
        "direction": "down", "size": len(request.payload), "phy_payload": request.payload.hex(),
        "frequency_hz": request.frequency_hz, "datr": datarate(request.modulation),
        "board": result.board if result.board is not None else request.board, "power_dbm": power,
        "tx_class": request.tx_class.value, "outcome": result.outcome.value, "receptions": [],
    }
    if result.detail:
        record["detail"] = result.detail
    try:
        record.update(header(parse(request.payload)))
    except ParseError as exc:
        record.update(mtype="not LoRaWAN", error=str(exc))
    return record


def one_line(record: dict[str, Any]) -> str:
    """For ``wisgate lora traffic``: type, address, counter, radio and receptions."""
    who = record.get("dev_addr") or record.get("dev_eui") or ""
    what = f"{record['mtype']:<20} {who:<16}"
    if "fcnt" in record:
        what += f" FCnt {record['fcnt']:<5}"
    radios = ", ".join(
        f"board {r['board']} ch {r['channel']} {r['rssi']:.0f} dBm {r['snr']:+.1f} dB" for r in record["receptions"]
    )
    return f"{what} {record['frequency_hz'] / 1e6:.3f} MHz {record['datr']:<10} {record['size']:>3} B  [{radios}]"
