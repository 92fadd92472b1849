"""What a ``/api/status`` body costs to write, in process, on a simulated board filled by its services,
per call (median and p99 of ``ROUNDS`` calls), each the way FastAPI would write it:

- ``dict[str, Any]``: the route's return annotation before the typed models (pydantic's core checks
  the dict and writes it);
- ``StatusOut`` validated: the typed model as ``response_model`` (every field checked, then written);
- written as it is (pydantic's core, no check; what ``/api/status`` does, its model only in the document),
  and ``json.dumps`` for comparison.

Run: .venv/bin/python bench/api_serialise.py
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

from wisgate.api import state as board
from wisgate.api.models import StatusOut
from wisgate.services.fan import FanCurve, fan_service
from wisgate.services.monitor import monitor_service
from wisgate.services.power import PowerSettings, power_service
from wisgate.services.supervisor import Supervisor
from wisgate.target import open_target

ROUNDS = 5000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def timed(func: Callable[[], object]) -> list[float]:
    for _ in range(100):
        func()
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1e6)
    return times


def main() -> None:
    target = open_target("sim")
    supervisor = Supervisor(target)
    supervisor.add("monitor", monitor_service(0.05))
    supervisor.add("fan", fan_service(FanCurve(), 0.05))
    supervisor.add("power", power_service(PowerSettings()))

    async def fill() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        await supervisor.run(stop)

    asyncio.run(fill())
    state = supervisor.state

    def body() -> dict[str, Any]:
        return {
            "readings": board.reading_dicts(state, 15.0), "fan": board.typed_section(state.fan, 15.0),
            "power": board.typed_section(state.power, 15.0), "rtc": board.typed_section(state.rtc),
            "environment": board.typed_section(state.environment, 15.0),
            "lora": board.lora_summary(state.lora.gateway), "overrides": {"fan": None, "oled": None},
            "time": time.time(),
        }

    adapter = TypeAdapter(StatusOut)
    loose = TypeAdapter(dict[str, Any])
    untyped = timed(lambda: loose.dump_json(loose.validate_python(body())))
    typed = timed(lambda: adapter.dump_json(adapter.validate_python(body()), exclude_unset=True))
    plain = timed(lambda: json.dumps(body(), separators=(",", ":")).encode())
    written = timed(lambda: loose.dump_json(body()))
    built = timed(body)
    size = len(adapter.dump_json(adapter.validate_python(body()), exclude_unset=True))
    print(f"/api/status body: {len(state.readings)} readings, {size} bytes of JSON")
    for name, times in (("building the dict", built), ("dict[str, Any] (before the models)", untyped),
                        ("StatusOut validated + written", typed), ("written as it is", written),
                        ("json.dumps of the dict", plain)):
        print(f"{name}: median {percentile(times, 0.5):.0f} µs, p99 {percentile(times, 0.99):.0f} µs")
    target.close()


if __name__ == "__main__":
    main()
