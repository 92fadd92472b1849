"""The board state as plain data: what ``/api/status`` returns and ``/metrics`` counts, read at request time.

The services keep their latest results in ``Context.state`` (monitor rows, fan and power dicts, the
LoRa ``Gateway``); this module only reads them, so the API never touches the bus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wisgate.lora.core.stats import ChannelStats, ModuleStats
from wisgate.services.status import StatusRow
from wisgate.services.supervisor import Service

#: "41.2 °C", "-0.0012 V", "45 %": a number, one space, a unit. Bit patterns, serials and dates have no
#: unit after a space, so they stay text.
_QUANTITY = re.compile(r"(-?\d+(?:\.\d+)?) (\S+)")


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str


def quantity(text: str) -> Quantity | None:
    match = _QUANTITY.fullmatch(text)
    return None if match is None else Quantity(float(match[1]), match[2])


def readings(state: Mapping[str, object]) -> list[StatusRow]:
    rows = state.get("status")
    return [r for r in rows if isinstance(r, StatusRow)] if isinstance(rows, list) else []


def reading_dicts(state: Mapping[str, object]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in readings(state):
        item: dict[str, Any] = {"device": row.device, "label": row.label, "value": row.value, "ok": row.ok}
        number = quantity(row.value) if row.ok else None
        if number is not None:
            item.update(number=number.value, unit=number.unit)
        out.append(item)
    return out


def section(state: Mapping[str, object], key: str) -> dict[str, Any] | None:
    value = state.get(key)
    return dict(value) if isinstance(value, dict) else None


def gateway_stats(state: Mapping[str, object]) -> tuple[str, int, dict[int, ModuleStats]] | None:
    """(gateway ID, merged uplinks, stats per board) while the LoRa service runs."""
    gateway = state.get("lora")
    stats = getattr(gateway, "stats", None)
    modules = getattr(stats, "modules", None)
    if stats is None or not isinstance(modules, dict):
        return None
    return str(getattr(gateway, "gateway_id", "")), int(getattr(stats, "uplinks", 0)), modules


def counters(stats: ChannelStats) -> dict[str, Any]:
    return {
        "received": stats.received, "crc_ok": stats.crc_ok, "crc_bad": stats.crc_bad,
        "forwarded": stats.forwarded, "duplicates": stats.duplicates, "dropped": dict(stats.dropped),
        "airtime_s": round(stats.airtime_s, 6),
    }


def lora_summary(state: Mapping[str, object]) -> dict[str, Any] | None:
    found = gateway_stats(state)
    if found is None:
        return None
    gateway_id, uplinks, modules = found
    return {
        "gateway_id": gateway_id, "uplinks": uplinks,
        "modules": {str(board): counters(m.total()) for board, m in sorted(modules.items())},
    }


def lora_details(state: Mapping[str, object]) -> dict[str, Any] | None:
    found = gateway_stats(state)
    if found is None:
        return None
    gateway_id, uplinks, modules = found
    return {
        "gateway_id": gateway_id, "uplinks": uplinks,
        "modules": [
            {
                "board": board, "malformed": m.malformed, "tx": dict(m.tx_outcomes), "total": counters(m.total()),
                "channels": [{"frequency_hz": f, **counters(c)} for f, c in sorted(m.channels.items())],
            }
            for board, m in sorted(modules.items())
        ],
    }


def service_dicts(services: Sequence[Service]) -> list[dict[str, Any]]:
    return [{"name": s.name, "restarts": s.restarts, "last_error": s.last_error or None} for s in services]
