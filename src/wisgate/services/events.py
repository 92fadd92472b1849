"""The board's event stream: typed events published by services, delivered to every subscriber.

Publishing never blocks and works from any thread (an edge callback, the bus worker): events are handed
to the event loop, which gives each subscriber its own bounded queue (a slow subscriber loses its oldest
events, counted, and never holds up the publisher). Sinks (the history) see every event synchronously
on the loop before any subscriber, so an event that was delivered has been stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType

EventValue = float | int | str | bool | None


class EventKind(StrEnum):
    SUPPLY_LOST = "supply.lost"
    SUPPLY_RETURNED = "supply.returned"
    SUPPLY_RIDE_THROUGH = "supply.ride_through"
    BROWN_OUT = "supply.brown_out"
    SHUTDOWN_SCHEDULED = "power.shutdown_scheduled"
    SHUTDOWN_RUN = "power.shutdown_run"
    FAN_STALL = "fan.stall"
    FAN_DRIVE_FAIL = "fan.drive_fail"
    FAN_OK = "fan.ok"
    OVER_TEMPERATURE = "temperature.high"
    TEMPERATURE_OK = "temperature.ok"
    HUMIDITY_HIGH = "humidity.high"
    HUMIDITY_OK = "humidity.ok"
    SENSOR_LOST = "sensor.lost"
    SENSOR_BACK = "sensor.back"
    SERVICE_FAILED = "service.failed"
    SERVICE_RESTARTED = "service.restarted"
    LORA_MODULE_UP = "lora.module_up"
    LORA_MODULE_DOWN = "lora.module_down"
    WAKE_ALARM_SET = "power.wake_alarm_set"
    OVERRIDE = "control.override"
    #: a beep asked for (Home Assistant's button, the API); the buzzer service plays it
    BEEP = "control.beep"
    MODBUS_DEVICE_DOWN = "modbus.device_down"
    MODBUS_DEVICE_DISABLED = "modbus.device_disabled"
    MODBUS_DEVICE_UP = "modbus.device_up"
    MODBUS_WRITE = "modbus.write"
    ANALOG_LOOP_BROKEN = "wisblock.loop_broken"
    ANALOG_OUT_OF_RANGE = "wisblock.out_of_range"
    ANALOG_OK = "wisblock.in_range"
    WISBLOCK_OUTPUT = "wisblock.output"
    WISBLOCK_INPUT = "wisblock.input"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ALARM = "alarm"


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    #: the service or device it is about
    source: str
    #: one line for people
    message: str
    severity: Severity = Severity.INFO
    #: seconds since the epoch (UTC)
    time: float = field(default_factory=time.time)
    data: Mapping[str, EventValue] = field(default_factory=dict)
    #: position in this daemon's stream (set on publishing)
    seq: int = 0


class Subscription:
    """An async iterator over events published after it was made; close it (or use ``with``) when done."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        #: events this subscriber lost because it fell behind
        self.dropped = 0

    def _offer(self, event: Event) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self._queue.get()

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class EventBus:
    def __init__(self, *, recent: int = 200) -> None:
        self._subscribers: set[Subscription] = set()
        self._sinks: list[Callable[[Event], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        #: the latest events, newest last (for a late subscriber's first screen)
        self.recent: deque[Event] = deque(maxlen=recent)
        #: tells this stream's numbering from a previous run's (a client resuming after a restart)
        self.run_id = secrets.token_hex(4)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop`` (the daemon's); done by the first subscriber or the supervisor."""
        self._loop = loop

    def add_sink(self, sink: Callable[[Event], None]) -> None:
        self._sinks.append(sink)

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        """Subscribe now: every event published from here on reaches the subscription."""
        with contextlib.suppress(RuntimeError):
            self._loop = self._loop or asyncio.get_running_loop()
        subscription = Subscription(self, maxsize)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, event: Event) -> Event:
        """Number the event and deliver it; from any thread, never blocking."""
        with self._lock:
            event = Event(event.kind, event.source, event.message, event.severity, event.time, dict(event.data),
                          next(self._seq))
        loop = self._loop
        if loop is None or self._on_loop(loop):
            self._deliver(event)
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the daemon is gone
                loop.call_soon_threadsafe(self._deliver, event)
        return event

    @staticmethod
    def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False

    def _deliver(self, event: Event) -> None:
        self.recent.append(event)
        for sink in self._sinks:
            sink(event)
        for subscription in list(self._subscribers):
            subscription._offer(event)

    async def stream(self) -> AsyncIterator[Event]:
        with self.subscribe() as subscription:
            async for event in subscription:
                yield event
