"""Prometheus metrics built from the typed board state at scrape time (one registry per app, never the global one)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from wisgate.api.backhaul_metrics import BackhaulCollector
from wisgate.api.industrial_metrics import IndustrialCollector
from wisgate.services.state import BoardState

_UNIT_NAMES = {"°C": "celsius", "%RH": "percent_rh", "%": "percent", "V": "volts", "RPM": "rpm"}


def unit_label(unit: str) -> str:
    return _UNIT_NAMES.get(unit, re.sub(r"[^a-zA-Z0-9_]", "_", unit) or "none")


class StateCollector(Collector):
    def __init__(self, state: BoardState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        yield from self._readings()
        yield from self._fan()
        yield from self._power()
        yield from self._lora()
        restarts = CounterMetricFamily("wisgate_service_restarts", "Restarts of a daemon service", labels=["service"])
        up = GaugeMetricFamily("wisgate_service_ok", "1 while a daemon service runs (or finished its work)",
                               labels=["service"])
        for health in self.state.services.values():
            restarts.add_metric([health.name], health.restarts)
            up.add_metric([health.name], 1.0 if health.ok else 0.0)
        yield restarts
        yield up

    def _readings(self) -> Iterator[Metric]:
        values = GaugeMetricFamily("wisgate_reading", "Latest numeric sensor reading (unit in the label)",
                                   labels=["name", "device", "unit"])
        stamps = GaugeMetricFamily("wisgate_reading_timestamp_seconds", "When the reading was taken",
                                   labels=["name"])
        up = GaugeMetricFamily("wisgate_probe_ok", "1 if the device answered at the last reading", labels=["device"])
        devices: dict[str, bool] = {}
        for reading in self.state.readings.values():
            devices[reading.source] = devices.get(reading.source, True) and reading.ok
            value = reading.number
            if value is not None:
                values.add_metric([reading.name, reading.source, unit_label(reading.unit)], value)
                stamps.add_metric([reading.name], reading.time)
        for device, ok in devices.items():
            up.add_metric([device], 1.0 if ok else 0.0)
        yield values
        yield stamps
        yield up

    def _fan(self) -> Iterator[Metric]:
        fan = self.state.fan
        if fan is None:
            return
        yield GaugeMetricFamily("wisgate_fan_duty_percent", "Fan drive duty", value=fan.duty_percent)
        yield GaugeMetricFamily("wisgate_fan_rpm", "Fan speed from the TACH count", value=fan.rpm)
        if fan.cpu_c is not None:
            yield GaugeMetricFamily("wisgate_cpu_temperature_celsius", "CPU temperature the fan follows",
                                    value=fan.cpu_c)
        yield GaugeMetricFamily("wisgate_fan_fault", "1 while the fan is stalled or failing",
                                value=1.0 if fan.fault else 0.0)
        yield GaugeMetricFamily("wisgate_fan_manual", "1 while a duty set through the API holds",
                                value=1.0 if fan.manual else 0.0)

    def _power(self) -> Iterator[Metric]:
        power = self.state.power
        if power is None:
            return
        yield GaugeMetricFamily("wisgate_supply_ok", "1 while the DC supply is present (power-fail line high)",
                                value=1.0 if power.supply == "ok" else 0.0)
        yield CounterMetricFamily("wisgate_supply_losses", "Confirmed supply losses", value=power.losses)
        yield CounterMetricFamily("wisgate_supply_glitches", "Power-fail edges shorter than the debounce time",
                                  value=power.glitches)

    def _lora(self) -> Iterator[Metric]:
        gateway = self.state.lora.gateway
        if gateway is None:
            return
        stats = gateway.stats
        yield CounterMetricFamily("wisgate_lora_uplinks", "Merged uplinks the gateway emitted", value=stats.uplinks)
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
        for board, module in sorted(stats.modules.items()):
            total = module.total()
            label = [str(board)]
            for key in ("received", "crc_ok", "crc_bad", "forwarded", "duplicates"):
                families[key].add_metric(label, getattr(total, key))
            families["malformed"].add_metric(label, module.malformed)
            for reason, count in sorted(total.dropped.items()):
                dropped.add_metric([str(board), reason], count)
        yield from families.values()
        yield dropped
        yield from self._channels()

    def _channels(self) -> Iterator[Metric]:
        gateway = self.state.lora.gateway
        if gateway is None:
            return
        labels = ["board", "frequency_hz"]
        received = CounterMetricFamily("wisgate_lora_channel_received", "Receptions on a channel", labels=labels)
        bad = CounterMetricFamily("wisgate_lora_channel_crc_bad", "Receptions with a bad CRC on a channel",
                                  labels=labels)
        airtime = CounterMetricFamily("wisgate_lora_channel_airtime_seconds", "Air time of good receptions",
                                      labels=labels)
        rates = CounterMetricFamily("wisgate_lora_datarate_received", "Receptions per channel and data rate",
                                    labels=[*labels, "datarate"])
        downlinks = CounterMetricFamily("wisgate_lora_downlinks", "Downlink requests by outcome (OK, TOO_LATE...)",
                                        labels=["board", "outcome"])
        for board, module in sorted(gateway.stats.modules.items()):
            for frequency, channel in sorted(module.channels.items()):
                label = [str(board), str(frequency)]
                received.add_metric(label, channel.received)
                bad.add_metric(label, channel.crc_bad)
                airtime.add_metric(label, channel.airtime_s)
                for rate, count in sorted(channel.datarates.items()):
                    rates.add_metric([*label, rate], count)
            for outcome, count in sorted(module.tx_outcomes.items()):
                downlinks.add_metric([str(board), outcome], count)
        yield from (received, bad, airtime, rates, downlinks)


class GatewayLabelled(Collector):
    """Every series of ``collector`` with a ``gateway`` label (the board's identity), so a fleet's scrapes
    can be federated without relabelling."""

    def __init__(self, collector: Collector, state: BoardState) -> None:
        self.collector = collector
        self.state = state

    def collect(self) -> Iterator[Metric]:
        gateway = self.state.gateway_label
        for metric in self.collector.collect():
            if gateway:  # built directly: NamedTuple._replace was a fifth of a scrape
                metric.samples = [Sample(s.name, {**s.labels, "gateway": gateway}, s.value, s.timestamp, s.exemplar)
                                  for s in metric.samples]
            yield metric


def registry_for(state: BoardState) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayLabelled(StateCollector(state), state))
    registry.register(GatewayLabelled(BackhaulCollector(state), state))
    registry.register(GatewayLabelled(IndustrialCollector(state), state))
    return registry
