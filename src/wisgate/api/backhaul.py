"""The forwarders' own counters in ``/api/lora/backhaul`` and ``/metrics``: link health, queue, unprotected sends.

Read at request time from the board state (``state.lora.udp``, ``.mqtt``, ``.station``) through the
forwarders' ``snapshot()``, plain data. Kept apart from the rest of the API so the backhaul's figures
can grow without touching it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import APIRouter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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


#: (snapshot key, metric name, help): gauges first, then counters.
GAUGES = (
    ("queued", "wisgate_backhaul_queued", "Uplinks waiting for the server (store and memory)"),
    ("in_memory", "wisgate_backhaul_in_memory", "Uplinks waiting in memory because the store could not take them"),
)
COUNTERS = (
    ("unprotected", "wisgate_backhaul_unprotected", "Uplinks the store could not take, held in memory and sent"),
    ("store_errors", "wisgate_backhaul_store_errors", "Store operations that failed (disk full, write errors)"),
    ("dropped", "wisgate_backhaul_dropped", "Uplinks dropped by the queue's cap policy"),
    ("lost", "wisgate_backhaul_lost", "Uplinks lost to a damaged store file or unstored at a stop"),
)


class BackhaulCollector(Collector):
    def __init__(self, state: BoardState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        labels = ["backhaul", "server"]
        ok = GaugeMetricFamily("wisgate_backhaul_ok", "1 while the link is not degraded (see /api/lora/backhaul)",
                               labels=labels)
        gauges = {key: GaugeMetricFamily(name, text, labels=labels) for key, name, text in GAUGES}
        counters = {key: CounterMetricFamily(name, text, labels=labels) for key, name, text in COUNTERS}
        bad = CounterMetricFamily("wisgate_backhaul_bad_datagrams",
                                  "Datagrams or commands from the server side refused, by reason (unknown-address: "
                                  "not from the configured server)", labels=[*labels, "reason"])
        for kind, name, link in links(self.state):
            ok.add_metric([kind, name], 1.0 if link.get("ok", True) else 0.0)
            for key, gauge in gauges.items():
                if isinstance(value := link.get(key), int | float):
                    gauge.add_metric([kind, name], value)
            for key, counter in counters.items():
                if isinstance(value := link.get(key), int | float):
                    counter.add_metric([kind, name], value)
            refused = link.get("bad_datagrams", link.get("bad_commands", {}))
            for reason, count in sorted(refused.items()) if isinstance(refused, Mapping) else ():
                bad.add_metric([kind, name, str(reason)], count)
        yield ok
        yield from gauges.values()
        yield from counters.values()
        yield bad
