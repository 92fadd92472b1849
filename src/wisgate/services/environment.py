"""Thresholds on the board's climate: PCB temperature and humidity (SHTC3) and the CPU temperature.

The monitor reads the sensors; this service looks at its readings, keeps an ``EnvironmentState`` and
publishes an event when a value crosses its limit and when it is back below it by the hysteresis (so a
value hovering at the limit is one alarm, not a stream).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from wisgate.services.events import EventKind, Severity
from wisgate.services.state import EnvironmentState
from wisgate.services.supervisor import Context, ServiceFn

log = logging.getLogger("wisgate.environment")


@dataclass(frozen=True)
class Limit:
    reading: str
    high: float
    hysteresis: float
    alarm: EventKind
    clear: EventKind
    what: str


def limits(pcb_high_c: float, humidity_high_rh: float, cpu_high_c: float, hysteresis: float) -> list[Limit]:
    return [
        Limit("pcb.temperature", pcb_high_c, hysteresis, EventKind.OVER_TEMPERATURE, EventKind.TEMPERATURE_OK,
              "PCB temperature"),
        Limit("cpu.temperature", cpu_high_c, hysteresis, EventKind.OVER_TEMPERATURE, EventKind.TEMPERATURE_OK,
              "CPU temperature"),
        Limit("pcb.humidity", humidity_high_rh, hysteresis, EventKind.HUMIDITY_HIGH, EventKind.HUMIDITY_OK,
              "PCB humidity"),
    ]


def crossings(active: set[str], values: dict[str, float | None], checks: list[Limit]) -> list[tuple[Limit, bool]]:
    """(limit, now above) for every limit whose state changes; updates ``active``."""
    changes = []
    for limit in checks:
        value = values.get(limit.reading)
        if value is None:
            continue
        if limit.reading not in active and value >= limit.high:
            active.add(limit.reading)
            changes.append((limit, True))
        elif limit.reading in active and value < limit.high - limit.hysteresis:
            active.discard(limit.reading)
            changes.append((limit, False))
    return changes


def environment_service(checks: list[Limit], interval_s: float) -> ServiceFn:
    async def run(context: Context) -> None:
        active: set[str] = set()
        while True:
            state = context.state
            values = {limit.reading: state.value(limit.reading) for limit in checks}
            for limit, above in crossings(active, values, checks):
                reading = state.reading(limit.reading)
                unit = reading.unit if reading else ""
                value = values[limit.reading]
                if above:
                    message = f"{limit.what} {value:.1f} {unit} is at or above {limit.high:g} {unit}"
                    log.warning("%s", message)
                    context.publish(limit.alarm, limit.reading, message, Severity.ALARM, value=value,
                                    limit=limit.high)
                else:
                    message = f"{limit.what} back to {value:.1f} {unit} (limit {limit.high:g} {unit})"
                    log.info("%s", message)
                    context.publish(limit.clear, limit.reading, message, value=value, limit=limit.high)
            context.state.environment = EnvironmentState(
                pcb_c=state.value("pcb.temperature"), humidity_rh=state.value("pcb.humidity"),
                alarms=tuple(sorted(active)), time=time.time(),
            )
            await asyncio.sleep(interval_s)

    return run
