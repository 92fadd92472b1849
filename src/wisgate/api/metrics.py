"""Prometheus metrics built from the board state at scrape time (one registry per app, never the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wisgate.api.state import gateway_stats, quantity, readings, section
from wisgate.services.supervisor import Service


class StateCollector(Collector):
    def __init__(self, state: Mapping[str, object], services: Callable[[], Sequence[Service]]) -> None:
        self.state = state
        self.services = services

    def collect(self) -> Iterator[Metric]:
        yield from self._readings()
        yield from self._fan()
        yield from self._power()
        yield from self._lora()
        restarts = CounterMetricFamily("wisgate_service_restarts", "Restarts of a daemon service", labels=["service"])
        for service in self.services():
            restarts.add_metric([service.name], service.restarts)
        yield restarts

    def _readings(self) -> Iterator[Metric]:
        values = GaugeMetricFamily("wisgate_reading", "Latest numeric sensor reading (unit in the label)",
                                   labels=["device", "label", "unit"])
        up = GaugeMetricFamily("wisgate_probe_ok", "1 if the device answered at the last reading",
                               labels=["device"])
        devices: dict[str, bool] = {}
        for row in readings(self.state):
            devices[row.device] = devices.get(row.device, True) and row.ok
            number = quantity(row.value) if row.ok else None
            if number is not None:
                values.add_metric([row.device, row.label, number.unit], number.value)
        for device, ok in devices.items():
            up.add_metric([device], 1.0 if ok else 0.0)
        yield values
        yield up

    def _fan(self) -> Iterator[Metric]:
        fan = section(self.state, "fan")
        if fan is None:
            return
        for name, key, text in (
            ("wisgate_fan_duty_percent", "duty", "Fan drive duty"),
            ("wisgate_fan_rpm", "rpm", "Fan speed from the TACH count"),
            ("wisgate_cpu_temperature_celsius", "cpu_c", "CPU temperature the fan curve follows"),
            ("wisgate_fan_fault", "fault", "1 while the fan is stalled or failing"),
            ("wisgate_fan_manual", "manual", "1 while a duty set through the API holds"),
        ):
            value = fan.get(key)
            if isinstance(value, int | float):
                yield GaugeMetricFamily(name, text, value=float(value))

    def _power(self) -> Iterator[Metric]:
        power = section(self.state, "power")
        if power is None:
            return
        yield GaugeMetricFamily("wisgate_supply_ok", "1 while the DC supply is present (power-fail line high)",
                                value=1.0 if power.get("supply") == "ok" else 0.0)
        for name, key, text in (
            ("wisgate_supply_losses", "events", "Confirmed supply losses"),
            ("wisgate_supply_glitches", "glitches", "Power-fail edges shorter than the debounce time"),
        ):
            value = power.get(key)
            if isinstance(value, int):
                yield CounterMetricFamily(name, text, value=value)

    def _lora(self) -> Iterator[Metric]:
        found = gateway_stats(self.state)
        if found is None:
            return
        _, uplinks, modules = found
        yield CounterMetricFamily("wisgate_lora_uplinks", "Merged uplinks the gateway emitted", value=uplinks)
        families = {
            key: CounterMetricFamily(f"wisgate_lora_{key}", text, labels=["board"])
            for key, text in (
                ("received", "Uplinks a module received"),
                ("crc_ok", "Uplinks with a good CRC"),
                ("crc_bad", "Uplinks with a bad CRC"),
                ("forwarded", "Uplinks passed on (first copy of a frame)"),
                ("duplicates", "Copies of a frame another module also heard"),
                ("malformed", "Events the gateway could not parse"),
            )
        }
        dropped = CounterMetricFamily("wisgate_lora_dropped", "Uplinks a filter dropped", labels=["board", "reason"])
        for board, module in sorted(modules.items()):
            total = module.total()
            label = [str(board)]
            for key in ("received", "crc_ok", "crc_bad", "forwarded", "duplicates"):
                families[key].add_metric(label, getattr(total, key))
            families["malformed"].add_metric(label, module.malformed)
            for reason, count in sorted(total.dropped.items()):
                dropped.add_metric([str(board), reason], count)
        yield from families.values()
        yield dropped


def registry_for(state: Mapping[str, object], services: Callable[[], Sequence[Service]]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(state, services))
    return registry
