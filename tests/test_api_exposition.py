"""The lean /metrics writer writes byte for byte what prometheus_client's generate_latest writes."""

from __future__ import annotations

import asyncio
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from wisgate.api.exposition import ScrapeCache, render
from wisgate.api.metrics import registry_for
from wisgate.services.fan import FanCurve, fan_service
from wisgate.services.monitor import monitor_service
from wisgate.services.power import PowerSettings, power_service
from wisgate.services.supervisor import Supervisor
from wisgate.target import open_target


class Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def registry_of(families: list[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(families))
    return registry


def test_the_daemon_s_own_metrics_are_written_alike() -> None:
    target = open_target("sim")
    supervisor = Supervisor(target)
    supervisor.add("monitor", monitor_service(0.05))
    supervisor.add("fan", fan_service(FanCurve(), 0.05))
    supervisor.add("power", power_service(PowerSettings()))

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        await supervisor.run(stop)

    asyncio.run(main())
    registry = registry_for(supervisor.state)
    text = render(registry)
    assert text == generate_latest(registry)
    assert text.count(b"\n") > 40 and b"wisgate_fan_rpm " in text
    target.close()


_names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
_values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**63), 2**63)
_texts = st.text(max_size=12)  # any Unicode, quotes, backslashes and newlines included


@st.composite
def families(draw: st.DrawFn) -> list[Metric]:
    made: list[Metric] = []
    for index in range(draw(st.integers(0, 4))):
        name = f"m{index}_{draw(_names)}"
        labels = draw(st.lists(_names.filter(lambda n: not n.startswith("__")), max_size=3, unique=True))
        kind = GaugeMetricFamily if draw(st.booleans()) else CounterMetricFamily
        family = kind(name, draw(_texts), labels=labels)
        for _ in range(draw(st.integers(0, 3))):
            value = draw(_values)
            if kind is CounterMetricFamily and ((isinstance(value, float) and math.isnan(value)) or value < 0):
                value = 0
            family.add_metric([draw(_texts) for _ in labels], value)
        made.append(family)
    return made


@settings(max_examples=300, deadline=None)
@given(made=families())
def test_any_gauges_and_counters_are_written_alike(made: list[Metric]) -> None:
    registry = registry_of(made)
    text = render(registry)
    assert text == generate_latest(registry)
    list(text_string_to_metric_families(text.decode()))  # and Prometheus' parser reads it


def test_other_metric_types_fall_back_to_generate_latest() -> None:
    registry = CollectorRegistry()
    Histogram("latency_seconds", "h", registry=registry).observe(0.2)
    Counter("events", "with a _created sample", registry=registry).inc()
    assert render(registry) == generate_latest(registry)


class Counting(Collector):
    """One gauge whose value the test changes, and how many times it was collected."""

    def __init__(self) -> None:
        self.value = 0.0
        self.collected = 0

    def collect(self) -> list[Metric]:
        self.collected += 1
        return [GaugeMetricFamily("wisgate_test_value", "a value the test sets", value=self.value)]


def shown(body: bytes) -> float:
    return float(body.decode().splitlines()[-1].split()[-1])


def test_a_cached_scrape_is_shared_until_its_bound_and_a_change_shows_after() -> None:
    now = [100.0]
    source = Counting()
    cache = ScrapeCache(registry_of_collector(source), 0.5, lambda: now[0])
    assert shown(cache.body()) == 0.0
    source.value = 7.0
    now[0] = 100.49
    assert shown(cache.body()) == 0.0 and source.collected == 1  # shared within the bound: no second render
    now[0] = 100.5
    assert shown(cache.body()) == 7.0 and source.collected == 2  # at the bound the change shows
    now[0] = 90.0  # the clock stepped back: the age is unknown, so the body is rendered again
    source.value = 8.0
    assert shown(cache.body()) == 8.0
    assert shown(ScrapeCache(registry_of_collector(source), 0.0, lambda: 90.0).body()) == 8.0


@settings(max_examples=200, deadline=None)
@given(max_age_s=st.sampled_from([0.0, 0.25, 1.0]),
       steps=st.lists(st.tuples(st.floats(0, 0.6), st.booleans()), min_size=1, max_size=40))
def test_a_scrape_never_shows_a_state_older_than_the_bound(max_age_s: float,
                                                           steps: list[tuple[float, bool]]) -> None:
    """Whatever the timing of changes and scrapes, a body shows a value the state held within the last
    ``max_age_s``: the current one, or one replaced less than ``max_age_s`` ago."""
    now = [0.0]
    source = Counting()
    cache = ScrapeCache(registry_of_collector(source), max_age_s, lambda: now[0])
    replaced_at: dict[float, float] = {}  # value -> when it stopped being the state
    for pause, change in steps:
        now[0] += pause
        if change:
            replaced_at[source.value] = now[0]
            source.value += 1.0
        value = shown(cache.body())
        assert value == source.value or now[0] - replaced_at[value] < max_age_s


def registry_of_collector(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
