"""The board state the services share: typed readings and one typed state per service.

Each service owns its part and replaces it whole (``state.fan = FanState(...)``), so a reader on another
task sees one consistent snapshot. The API, the display and the history read from here; nothing here
touches the bus.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from wisgate.lora.core.traffic import TrafficLog
from wisgate.services.events import EventBus
from wisgate.services.readings import Reading

if TYPE_CHECKING:
    from wisgate.bitmap import Frame
    from wisgate.industrial.service import IndustrialGateway
    from wisgate.lora.backhaul.mqtt_forwarder import MqttForwarder
    from wisgate.lora.backhaul.station import StationForwarder
    from wisgate.lora.backhaul.udp_forwarder import UdpForwarder
    from wisgate.lora.core.gateway import Gateway
    from wisgate.services.history import History


@dataclass(frozen=True)
class FanState:
    cpu_c: float | None
    duty_percent: float
    rpm: float
    #: "closed-loop", "curve", "manual" (an API override) or "failsafe" (no temperature: full speed)
    mode: str
    fault: str | None
    time: float
    target_c: float | None = None

    @property
    def manual(self) -> bool:
        return self.mode == "manual"


@dataclass(frozen=True)
class ShutdownRecord:
    command: tuple[str, ...]
    outage_s: float
    ran: bool = False
    result: str = ""


@dataclass(frozen=True)
class PowerState:
    supply: Literal["ok", "lost"]
    #: when the running outage began (epoch s), None while the supply is good
    since: float | None
    outage_s: float | None
    losses: int
    glitches: int
    last_outage_s: float | None
    hold_up_s: float | None
    shutdown_in_s: float | None
    shutdown: ShutdownRecord | None
    volts: float | None
    beep_on_loss: bool
    time: float


@dataclass(frozen=True)
class RtcState:
    kernel_owned: bool
    actions: tuple[str, ...]
    watchdog_s: float
    time: float
    wake_alarm: float | None = None


@dataclass(frozen=True)
class EnvironmentState:
    pcb_c: float | None
    humidity_rh: float | None
    #: active alarms, e.g. ("temperature.high",)
    alarms: tuple[str, ...]
    time: float


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    state: Literal["starting", "running", "failed", "finished", "stopped"]
    restarts: int
    #: the current failure (None while running)
    error: str | None
    #: the last failure, kept as history after the service recovered
    last_error: str | None
    last_error_at: float | None
    since: float

    @property
    def ok(self) -> bool:
        return self.state != "failed"


@dataclass(frozen=True)
class FanOverride:
    duty: float
    #: on the target's clock
    until: float
    #: a CPU temperature to hold instead of a fixed duty (closed loop)
    target_c: float | None = None


@dataclass(frozen=True)
class OledOverride:
    lines: tuple[str, ...]
    until: float


@dataclass(frozen=True)
class LedOverride:
    on: bool
    until: float


@dataclass
class Overrides:
    fan: FanOverride | None = None
    oled: OledOverride | None = None
    #: by expander pin: an LED held on or off over its role (the API's control)
    leds: dict[int, LedOverride] = field(default_factory=dict)

    def led(self, pin: int, now: float) -> bool | None:
        """Whether the LED on ``pin`` is held on or off at ``now``; an expired hold is forgotten."""
        held = self.leds.get(pin)
        if held is not None and now >= held.until:
            del self.leds[pin]
            held = None
        return None if held is None else held.on

    def fan_duty(self, now: float) -> float | None:
        """The manual duty while it holds; an expired one is forgotten."""
        if self.fan is not None and now >= self.fan.until:
            self.fan = None
        return None if self.fan is None or self.fan.target_c is not None else self.fan.duty

    def fan_target(self, now: float) -> float | None:
        """The CPU temperature to hold while such an override holds."""
        if self.fan is not None and now >= self.fan.until:
            self.fan = None
        return None if self.fan is None else self.fan.target_c

    def oled_lines(self, now: float) -> list[str] | None:
        if self.oled is not None and now >= self.oled.until:
            self.oled = None
        return None if self.oled is None else list(self.oled.lines)


@dataclass
class LoraLinks:
    gateway: Gateway | None = None
    udp: UdpForwarder | None = None
    mqtt: MqttForwarder | None = None
    station: StationForwarder | None = None
    #: the last hour's traffic and the live packet feed (filled by the lora-traffic service)
    traffic: TrafficLog = field(default_factory=TrafficLog)
    #: told of each gateway the lora service sets (None: it stopped) before that gateway carries anything
    gateway_listeners: list[Callable[[Gateway | None], None]] = field(default_factory=list)

    def set_gateway(self, gateway: Gateway | None) -> None:
        self.gateway = gateway
        for listener in list(self.gateway_listeners):
            listener(gateway)


@dataclass
class BoardState:
    events: EventBus = field(default_factory=EventBus)
    readings: dict[str, Reading] = field(default_factory=dict)
    fan: FanState | None = None
    power: PowerState | None = None
    rtc: RtcState | None = None
    environment: EnvironmentState | None = None
    lora: LoraLinks = field(default_factory=LoraLinks)
    services: dict[str, ServiceHealth] = field(default_factory=dict)
    overrides: Overrides = field(default_factory=Overrides)
    history: History | None = None
    #: the ModBUS and WisBlock IO gateway while the industrial service runs
    industrial: IndustrialGateway | None = None
    #: when the monitor last finished a round (epoch s)
    readings_time: float | None = None
    #: the frame the display service last sent to the OLED (the API's picture where the panel cannot be read)
    display_image: Frame | None = None
    #: the board's identity on fleet-wide interfaces (the LoRa gateway ID): the ``gateway`` metrics label
    gateway_label: str | None = None

    def put_readings(self, readings: list[Reading]) -> None:
        # a device that answers again drops the failure it had (its last values stay, with their times)
        answered = {r.source for r in readings if r.ok}
        kept = {name: r for name, r in self.readings.items() if r.ok or r.source not in answered}
        self.readings = {**kept, **{r.name: r for r in readings}}
        self.readings_time = time.time()
        if self.history is not None:
            self.history.add_readings(readings)

    def reading(self, name: str) -> Reading | None:
        return self.readings.get(name)

    def value(self, name: str) -> float | None:
        reading = self.readings.get(name)
        return None if reading is None else reading.number
