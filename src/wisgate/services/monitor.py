"""Reads every sensor on an interval into the typed board state; a device that stops answering (or
comes back) is an event, so the log says what changed rather than every reading."""

from __future__ import annotations

import asyncio
import logging

from wisgate.services.events import EventKind, Severity
from wisgate.services.readings import Reading
from wisgate.services.status import PROBES, read_status
from wisgate.services.supervisor import Context, ServiceFn

log = logging.getLogger("wisgate.monitor")


Change = tuple[str, str | None]


def sensor_changes(previous: dict[str, str], readings: list[Reading]) -> tuple[dict[str, str], list[Change]]:
    """Devices whose failure started or ended: (new failures by device, [(device, error or None if back)])."""
    failing = {r.source: r.error for r in readings if r.error is not None}
    changes: list[tuple[str, str | None]] = []
    for device, error in failing.items():
        if previous.get(device) != error:
            changes.append((device, error))
    seen = {r.source for r in readings}
    changes.extend((device, None) for device in previous if device not in failing and device in seen)
    return {d: e for d, e in failing.items() if e is not None}, changes


def monitor_service(interval_s: float, *, skip: tuple[str, ...] = ()) -> ServiceFn:
    """``skip``: probes another service reports itself (the power service owns the power-fail line)."""
    probes = [p for p in PROBES if p.device not in skip]

    async def run(context: Context) -> None:
        failing: dict[str, str] = {}
        while True:
            readings = await context.bus.run(lambda: read_status(context.target, probes))
            context.state.put_readings(readings)
            failing, changes = sensor_changes(failing, readings)
            for device, error in changes:
                if error is not None:
                    log.warning("%s: %s", device, error)
                    context.publish(EventKind.SENSOR_LOST, device, f"{device} not read: {error}",
                                    Severity.WARNING, error=error)
                else:
                    log.info("%s answers again", device)
                    context.publish(EventKind.SENSOR_BACK, device, f"{device} answers again")
            await asyncio.sleep(interval_s)

    return run
