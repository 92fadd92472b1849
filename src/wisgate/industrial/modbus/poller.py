"""Polling the devices of one bus: block reads, decoded points as typed readings, health per device.

One task per bus, devices taken in turn as they fall due (a serial line carries one request at a time).
A device that fails is tried again after a growing pause (backoff, capped at ``retry_s``), and after
``max_failures`` failures in a row it is disabled: tried only every ``retry_s`` until it answers. So a
dead device costs the bus one timeout per retry, never one per cycle, and the others keep their pace.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from wisgate.industrial.config import BusSection, DeviceSection, PointSection, reading_name
from wisgate.industrial.modbus.blocks import Block, plan_blocks
from wisgate.industrial.modbus.codec import CodecError, DataType, Scaling, Value, bit_of, decode, encode
from wisgate.industrial.modbus.link import LinkFailure, ModbusLink
from wisgate.services.events import Event, EventKind, Severity
from wisgate.services.readings import Reading
from wisgate.services.state import BoardState

log = logging.getLogger("wisgate.modbus")

#: requests the error rate is taken over
RATE_WINDOW = 100

DeviceStatus = Literal["unknown", "ok", "failing", "disabled"]


@dataclass(frozen=True)
class DeviceHealth:
    device: str
    bus: str
    device_id: int
    status: DeviceStatus
    #: why the last poll failed (timeout, CRC error, exception code, no connection); None when it worked
    reason: str | None
    #: polls failed in a row
    failures: int
    requests: int
    errors: int
    #: failed requests / requests over the last RATE_WINDOW requests
    error_rate: float
    last_ok: float | None
    #: seconds the last poll took
    poll_s: float | None
    #: seconds until the next poll
    next_poll_s: float
    time: float


def point_value(point: PointSection, registers: list[int]) -> Value:
    """The engineering value of ``point`` from its registers (or bits)."""
    if point.dtype is DataType.BOOL:
        return registers[0]
    raw = decode(registers, point.encoding)
    if isinstance(raw, str):
        return raw
    if point.bit is not None:
        return bit_of(int(raw), point.bit)
    return Scaling(point.scale, point.offset).apply(raw)


def point_registers(point: PointSection, value: float | str) -> list[int]:
    """What to write for engineering ``value``: range-checked, unscaled, encoded."""
    if not point.writable:
        raise CodecError(f"point {point.name!r} is read-only")
    if point.dtype is DataType.BOOL:
        if value not in (0, 1) or isinstance(value, str):
            raise CodecError(f"point {point.name!r} takes 0 or 1, not {value!r}")
        return [int(value)]
    if isinstance(value, str):
        return encode(value, point.encoding)
    if not math.isfinite(value):
        raise CodecError(f"{value} is not a finite number")
    if point.min is not None and value < point.min:
        raise CodecError(f"{value:g} is below {point.name}'s minimum {point.min:g}")
    if point.max is not None and value > point.max:
        raise CodecError(f"{value:g} is above {point.name}'s maximum {point.max:g}")
    return encode(Scaling(point.scale, point.offset).raw_for(float(value), point.encoding), point.encoding)


@dataclass
class DevicePoller:
    bus: BusSection
    config: DeviceSection
    blocks: list[Block] = field(init=False)
    status: DeviceStatus = "unknown"
    reason: str | None = None
    failures: int = 0
    requests: int = 0
    errors: int = 0
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=RATE_WINDOW))
    last_ok: float | None = None
    poll_s: float | None = None
    next_due: float = 0.0
    #: per point, the value last published (what the deadband is measured from)
    held: dict[str, float] = field(default_factory=dict)
    #: per point, the value of the latest read, before the deadband (None: the read failed)
    latest: dict[str, Value | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.blocks = plan_blocks(self.config.points, max_gap=self.config.max_gap, max_block=self.config.max_block)

    @property
    def name(self) -> str:
        return self.config.name

    def point(self, name: str) -> PointSection | None:
        return next((p for p in self.config.points if p.name == name), None)

    def count(self, ok: bool) -> None:
        self.requests += 1
        self.errors += not ok
        self.recent.append(ok)

    def health(self, now: float) -> DeviceHealth:
        rate = (self.recent.count(False) / len(self.recent)) if self.recent else 0.0
        return DeviceHealth(self.name, self.bus.name, self.config.device_id, self.status, self.reason,
                            self.failures, self.requests, self.errors, round(rate, 4), self.last_ok, self.poll_s,
                            round(max(0.0, self.next_due - now), 3), time.time())

    def settle(self, point: PointSection, value: Value | None) -> Value | None:
        """The value to publish for a fresh read: the one published before while the read stays within
        the point's deadband of it (so publish-on-change and the history see no change), else the read."""
        self.latest[point.name] = value
        if isinstance(value, str) or value is None or point.deadband <= 0 or not math.isfinite(value):
            self.held.pop(point.name, None)
            return value
        before = self.held.get(point.name)
        if before is not None and abs(float(value) - before) <= point.deadband:
            return before
        self.held[point.name] = float(value)
        return value

    def reading(self, point: PointSection, value: Value | None, error: str | None = None) -> Reading:
        label = point.label or f"{self.name} {point.name.replace('_', ' ')}"
        number: float | str | None = value if isinstance(value, str) or value is None else float(value)
        if isinstance(number, float) and not math.isfinite(number):
            number, error = None, f"not a number ({number})"
        return Reading(reading_name(self.name, point.name), label, number, point.unit, f"modbus.{self.name}",
                       time.time(), error=error, digits=point.digits)


class BusPoller:
    """Polls every device of one bus, in turn, for as long as it runs."""

    def __init__(self, bus: BusSection, state: BoardState, link: ModbusLink | None = None) -> None:
        self.bus = bus
        self.state = state
        self.link = link or ModbusLink(bus)
        self.devices = [DevicePoller(bus, d) for d in bus.devices]
        #: seconds the last full round of due devices took (for the bench and health)
        self.last_round_s: float | None = None
        self.max_round_s = 0.0

    def publish(self, kind: EventKind, source: str, message: str, severity: Severity = Severity.INFO,
                **data: float | int | str | bool | None) -> None:
        self.state.events.publish(Event(kind, source, message, severity, data=data))

    async def run(self) -> None:
        try:
            while True:
                now = time.monotonic()
                due = sorted((d for d in self.devices if d.next_due <= now), key=lambda d: d.next_due)
                started = time.monotonic()
                for device in due:
                    await self.poll(device)
                if due:
                    self.last_round_s = time.monotonic() - started
                    self.max_round_s = max(self.max_round_s, self.last_round_s)
                wake = min((d.next_due for d in self.devices), default=now + 1.0)
                await asyncio.sleep(max(0.0, wake - time.monotonic()))
        finally:
            self.link.close()

    async def poll(self, device: DevicePoller) -> list[Reading]:
        config = device.config
        started = time.monotonic()
        readings: list[Reading] = []
        failure: LinkFailure | None = None
        answered = False
        for block in device.blocks:
            try:
                values = await self.link.read(block.table, block.address, block.count, config.device_id,
                                              config.timeout_s)
            except LinkFailure as exc:
                device.count(False)
                where = f"{block.table} {block.address}-{block.address + block.count - 1}"
                readings.extend(device.reading(p, device.settle(p, None), f"{exc} reading {where}")
                                for p in block.points)
                failure = LinkFailure(exc.kind, f"{exc} reading {where}", exc.code)
                if exc.kind != "exception":
                    break  # no reply: the rest would cost a timeout each
                continue
            device.count(True)
            answered = True
            for point in block.points:
                try:
                    value = point_value(point, block.slice_for(point, values))
                except CodecError as exc:
                    readings.append(device.reading(point, device.settle(point, None), str(exc)))
                else:
                    readings.append(device.reading(point, device.settle(point, value)))
        now = time.monotonic()
        device.poll_s = now - started
        if answered:
            self._answered(device, failure)
            device.next_due = max(device.next_due + config.interval_s, now)
        else:
            assert failure is not None
            self._failed(device, failure)
            backoff = min(config.interval_s * 2 ** device.failures, config.retry_s)
            device.next_due = now + (config.retry_s if device.status == "disabled" else backoff)
        # points a failed block did not reach keep no stale value
        reached = {r.name for r in readings}
        readings.extend(device.reading(p, device.settle(p, None), failure.args[0] if failure else "not read")
                        for p in config.points if reading_name(device.name, p.name) not in reached)
        self.state.put_readings(readings)
        return readings

    def _answered(self, device: DevicePoller, failure: LinkFailure | None) -> None:
        if device.status in ("failing", "disabled"):
            log.info("%s answers again", device.name)
            self.publish(EventKind.MODBUS_DEVICE_UP, f"modbus.{device.name}", f"{device.name} answers again",
                         bus=self.bus.name, device_id=device.config.device_id)
        device.status, device.failures, device.last_ok = "ok", 0, time.time()
        device.reason = str(failure) if failure else None

    def _failed(self, device: DevicePoller, failure: LinkFailure) -> None:
        device.failures += 1
        device.reason = str(failure)
        source = f"modbus.{device.name}"
        if device.status in ("unknown", "ok"):
            log.warning("%s: %s", device.name, failure)
            self.publish(EventKind.MODBUS_DEVICE_DOWN, source, f"{device.name} fails: {failure}",
                         Severity.WARNING, bus=self.bus.name, device_id=device.config.device_id,
                         reason=failure.kind, error=str(failure))
            device.status = "failing"
        if device.status == "failing" and device.failures >= device.config.max_failures:
            device.status = "disabled"
            log.warning("%s disabled after %d failures; retried every %g s", device.name, device.failures,
                        device.config.retry_s)
            self.publish(EventKind.MODBUS_DEVICE_DISABLED, source,
                         f"{device.name} disabled after {device.failures} failures (retried every "
                         f"{device.config.retry_s:g} s): {failure}", Severity.WARNING, bus=self.bus.name,
                         error=str(failure))

    def device(self, name: str) -> DevicePoller | None:
        return next((d for d in self.devices if d.name == name), None)

    async def write(self, device: DevicePoller, point: PointSection, value: float | str) -> Reading:
        """Write ``value`` to ``point``, read it back and publish the read-back reading."""
        registers = point_registers(point, value)
        config = device.config
        await self.link.write(point.table, point.address, registers, config.device_id, config.timeout_s)
        back = await self.link.read(point.table, point.address, point.span, config.device_id, config.timeout_s)
        # what was written is published as read back, whatever the deadband: it starts a new held value
        device.held.pop(point.name, None)
        reading = device.reading(point, device.settle(point, point_value(point, back)))
        self.state.put_readings([reading])
        return reading
