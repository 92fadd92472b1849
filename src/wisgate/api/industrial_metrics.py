"""ModBUS device health for ``/metrics`` (the values themselves are wisgate_reading gauges).

Apart from api/industrial.py because prometheus_client is imported at the first scrape only (api/http.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wisgate.services.state import BoardState


class IndustrialCollector(Collector):
    """ModBUS device health for Prometheus (the values themselves are wisgate_reading gauges)."""

    def __init__(self, state: BoardState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        labels = ["device", "bus"]
        up = GaugeMetricFamily("wisgate_modbus_device_ok", "1 while the device answers its polls", labels=labels)
        disabled = GaugeMetricFamily("wisgate_modbus_device_disabled",
                                     "1 while the device is disabled (retried every retry_s)", labels=labels)
        rate = GaugeMetricFamily("wisgate_modbus_error_rate", "Failed requests over the last 100", labels=labels)
        requests = CounterMetricFamily("wisgate_modbus_requests", "Requests sent to the device", labels=labels)
        errors = CounterMetricFamily("wisgate_modbus_errors",
                                     "Requests that failed (timeout, CRC, exception, connection)", labels=labels)
        gateway = self.state.industrial
        for view in gateway.devices() if gateway is not None else []:
            health, key = view.health, [view.health.device, view.health.bus]
            up.add_metric(key, 1.0 if health.status == "ok" else 0.0)
            disabled.add_metric(key, 1.0 if health.status == "disabled" else 0.0)
            rate.add_metric(key, health.error_rate)
            requests.add_metric(key, health.requests)
            errors.add_metric(key, health.errors)
        yield from (up, disabled, rate, requests, errors)
