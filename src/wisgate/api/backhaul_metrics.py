"""The forwarders' counters for ``/metrics``: link health, queue, store and refused datagrams per server link.

Apart from api/backhaul.py because prometheus_client is imported at the first scrape only (api/http.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wisgate.api.backhaul import links
from wisgate.services.state import BoardState

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
