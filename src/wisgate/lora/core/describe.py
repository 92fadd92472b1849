"""A merged uplink as one JSON-ready record: decoded LoRaWAN header and every reception."""

from __future__ import annotations

from typing import Any

from wisgate.lora.core.types import FskModulation, ReceivedUplink
from wisgate.lora.frames.phy import DataFrame, JoinRequest


def describe(received: ReceivedUplink) -> dict[str, Any]:
    uplink = received.uplink
    best = uplink.best
    record: dict[str, Any] = {
        "size": len(uplink.phy_payload),
        "phy_payload": uplink.phy_payload.hex(),
        "frequency_hz": best.frequency_hz,
        "datr": f"{best.modulation.datarate_bps}" if isinstance(best.modulation, FskModulation)
        else best.modulation.datr,
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
    record["mtype"] = frame.mtype.name
    if isinstance(frame, DataFrame):
        record.update(dev_addr=f"{frame.dev_addr:08X}", fcnt=frame.fcnt, fport=frame.fport, adr=frame.fctrl.adr)
    elif isinstance(frame, JoinRequest):
        record.update(join_eui=f"{frame.join_eui:016X}", dev_eui=f"{frame.dev_eui:016X}", dev_nonce=frame.dev_nonce)
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
