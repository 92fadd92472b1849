"""The typed board state as JSON-ready data: what ``/api/status`` returns, read at request time.

Text is made here, at the edge; numbers stay numbers (with their unit), and every reading carries its
time and says when it is stale.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

from wisgate.lora.core.gateway import Gateway
from wisgate.lora.core.stats import ChannelStats
from wisgate.services.events import Event
from wisgate.services.readings import Reading, format_value
from wisgate.services.state import BoardState, ServiceHealth

#: a reading older than this many monitor intervals is flagged stale
STALE_INTERVALS = 3


def reading_dict(reading: Reading, now: float, max_age_s: float) -> dict[str, Any]:
    # Reading's properties (ok, number, age_s, stale) written out once each: this runs for every reading of
    # every /api/status call
    error = reading.error
    age = max(0.0, now - reading.time)
    item: dict[str, Any] = {
        "name": reading.name, "device": reading.source, "label": reading.label, "ok": error is None,
        "value": format_value(reading) if error is None else error, "time": reading.time,
        "age_s": round(age, 3), "stale": age > max_age_s,
    }
    number = reading.number
    if number is not None:
        item["number"] = number
        item["unit"] = reading.unit
    if error is not None:
        item["error"] = error
    return item


def reading_dicts(state: BoardState, max_age_s: float) -> list[dict[str, Any]]:
    now = time.time()
    return [reading_dict(r, now, max_age_s) for r in state.readings.values()]


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: object) -> object:
    """A state field as JSON-ready data: a nested record as a dict, a tuple as a list. (``dataclasses.asdict``
    deep-copies every value: a third of a ``/api/status`` call went to it.)"""
    if type(value) in _SCALARS:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def typed_section(value: object, max_age_s: float | None = None) -> dict[str, Any] | None:
    """A frozen state dataclass as a dict, with its age and, given ``max_age_s``, whether it is stale."""
    if value is None or not dataclasses.is_dataclass(value) or isinstance(value, type):
        return None
    out = {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    stamp = out.get("time")
    if isinstance(stamp, float):
        age = max(0.0, time.time() - stamp)
        out["age_s"] = round(age, 3)
        if max_age_s is not None:
            out["stale"] = age > max_age_s
    return out


def counters(stats: ChannelStats) -> dict[str, Any]:
    return {
        "received": stats.received, "crc_ok": stats.crc_ok, "crc_bad": stats.crc_bad,
        "forwarded": stats.forwarded, "duplicates": stats.duplicates, "dropped": dict(stats.dropped),
        "airtime_s": round(stats.airtime_s, 6), "datarates": dict(stats.datarates),
    }


def lora_summary(gateway: Gateway | None) -> dict[str, Any] | None:
    if gateway is None:
        return None
    stats = gateway.stats
    return {
        "gateway_id": gateway.gateway_id, "uplinks": stats.uplinks,
        "modules": {str(board): counters(m.total()) for board, m in sorted(stats.modules.items())},
    }


def lora_details(gateway: Gateway | None) -> dict[str, Any] | None:
    if gateway is None:
        return None
    stats = gateway.stats
    return {
        "gateway_id": gateway.gateway_id, "uplinks": stats.uplinks,
        "modules": [
            {
                "board": board, "malformed": m.malformed, "tx": dict(m.tx_outcomes), "total": counters(m.total()),
                "channels": [{"frequency_hz": f, **counters(c)} for f, c in sorted(m.channels.items())],
            }
            for board, m in sorted(stats.modules.items())
        ],
    }


def service_dict(health: ServiceHealth) -> dict[str, Any]:
    return {
        "name": health.name, "state": health.state, "ok": health.ok, "restarts": health.restarts,
        "error": health.error, "last_error": health.last_error, "last_error_at": health.last_error_at,
        "since": health.since,
    }


def event_dict(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq, "time": event.time, "kind": str(event.kind), "source": event.source,
        "severity": str(event.severity), "message": event.message, "data": dict(event.data),
    }
