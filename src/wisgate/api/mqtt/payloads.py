"""The board state as the retained payloads of its topics: JSON, without timestamps, numbers rounded to the
digits shown, so a payload changes only when what it says changes (publish-on-change compares bytes)."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from wisgate.api.mqtt.topics import Identity
from wisgate.lora.core.stats import ChannelStats, ModuleStats
from wisgate.services.events import Event
from wisgate.services.readings import Reading
from wisgate.services.state import BoardState

#: decimals kept for the numbers of a state (°C, %, seconds, volts)
STATE_DIGITS = 2
#: the OLED text travels as one line; this separates the panel's lines
OLED_SEPARATOR = "|"


def encode(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _tidy(value: Any, digits: int = STATE_DIGITS) -> Any:
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _tidy(v, digits) for k, v in value.items() if k != "time"}
    if isinstance(value, list | tuple):
        return [_tidy(v, digits) for v in value]
    return value


def is_error_reading(reading: Reading) -> bool:
    """The reading the monitor adds for a probe that failed (``fan.error``)."""
    return reading.name == f"{reading.source}.error"


def reading_ok(reading: Reading, readings: dict[str, Reading]) -> bool:
    """False while the reading failed, or its device's probe failed after it was read (it is the old value)."""
    if reading.error is not None:
        return False
    failure = readings.get(f"{reading.source}.error")
    return failure is None or failure.name == reading.name or failure.time < reading.time


def reading_payload(reading: Reading, readings: dict[str, Reading]) -> dict[str, Any]:
    ok = reading_ok(reading, readings)
    number = reading.number
    value: float | str | None = round(number, reading.digits) if number is not None else None
    if value is None and isinstance(reading.value, str):
        value = reading.value
    error = reading.error
    if error is None and not ok:
        error = readings[f"{reading.source}.error"].error
    return {"value": value if ok else None, "unit": reading.unit, "label": reading.label, "ok": ok, "error": error}


def counters(stats: ChannelStats) -> dict[str, Any]:
    return {"received": stats.received, "crc_ok": stats.crc_ok, "crc_bad": stats.crc_bad,
            "forwarded": stats.forwarded, "duplicates": stats.duplicates, "airtime_s": round(stats.airtime_s, 3)}


def overrides_payload(state: BoardState, now: float) -> dict[str, Any]:
    """``now`` on the target's clock (where the overrides' ``until`` is)."""
    lines = state.overrides.oled_lines(now)
    return {"fan_duty": state.overrides.fan_duty(now),
            "oled": OLED_SEPARATOR.join(lines) if lines is not None else ""}


def state_payloads(state: BoardState, identity: Identity, now: float) -> dict[str, bytes]:
    """Every retained topic of the board with its payload now."""
    out: dict[str, bytes] = {}
    readings = state.readings
    for reading in readings.values():
        if not is_error_reading(reading):
            out[identity.reading(reading.name)] = encode(reading_payload(reading, readings))
    for kind in ("fan", "power", "rtc", "environment"):
        value = getattr(state, kind)
        if value is not None:
            out[identity.state(kind)] = encode(_tidy(dataclasses.asdict(value)))
    if state.services:
        out[identity.state("services")] = encode({
            name: {"state": h.state, "restarts": h.restarts, "error": h.error} for name, h in state.services.items()
        })
    gateway = state.lora.gateway
    if gateway is not None:
        stats = gateway.stats
        out[identity.state("lora")] = encode({"gateway_id": gateway.gateway_id, "uplinks": stats.uplinks})
        for board in sorted(set(gateway.links) | set(stats.modules)):
            module = stats.modules.get(board) or ModuleStats()
            out[identity.state(f"lora/{board}")] = encode({
                **counters(module.total()), "malformed": module.malformed, "tx": dict(module.tx_outcomes),
                "tx_ok": module.tx_outcomes.get("OK", 0),
            })
    out[identity.state("overrides")] = encode(overrides_payload(state, now))
    return out


def event_payload(event: Event) -> bytes:
    """One event; ``event_type`` is what Home Assistant's event entity reads."""
    return encode({
        "event_type": str(event.kind), "seq": event.seq, "time": event.time, "source": event.source,
        "severity": str(event.severity), "message": event.message, "data": dict(event.data),
    })
