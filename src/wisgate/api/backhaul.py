"""The forwarders' own counters in ``/api/lora/backhaul``: link health, queue, unprotected sends (``/metrics``
reads them through api/backhaul_metrics.py).

Read at request time from the board state (``state.lora.udp``, ``.mqtt``, ``.station``) through the
forwarders' ``snapshot()``, plain data. Kept apart from the rest of the API so the backhaul's figures
can grow without touching it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import APIRouter

from wisgate.api.lora_models import BackhaulOut
from wisgate.services.state import BoardState


def backhaul(state: BoardState) -> dict[str, Any]:
    """``{"udp": {server: {...}}, "mqtt": {...} or None, "station": {...} or None}``: what each forwarder reports
    of itself (the Station link's store figures beside its own, as the others have them)."""
    udp, mqtt, station = state.lora.udp, state.lora.mqtt, state.lora.station
    return {"udp": udp.snapshot() if udp is not None else {}, "mqtt": mqtt.snapshot() if mqtt is not None else None,
            "station": _flat(station.snapshot()) if station is not None else None}


def _flat(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    store = snapshot.get("store")
    return {**(store if isinstance(store, Mapping) else {}), **{k: v for k, v in snapshot.items() if k != "store"}}


def links(state: BoardState) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(backhaul, server, snapshot) for every server link."""
    found = backhaul(state)
    for name, link in sorted(found["udp"].items()):
        yield "udp", str(name), link
    if isinstance(found["mqtt"], Mapping):
        yield "mqtt", "mqtt", found["mqtt"]
    if isinstance(found["station"], Mapping):
        yield "station", "station", found["station"]


def problems(state: BoardState) -> dict[str, str]:
    """``{"udp/<server>": why}`` for every degraded link (for a health report)."""
    return {f"{kind}/{name}": str(link["problem"]) for kind, name, link in links(state) if link.get("problem")}


def router(state: BoardState) -> APIRouter:
    api = APIRouter()

    @api.get("/api/lora/backhaul", summary="Each network server link: health, queue, store and datagram counters",
             response_model=BackhaulOut)
    async def lora_backhaul() -> dict[str, Any]:
        return backhaul(state)

    return api
