"""Response bodies of the board's endpoints, field by field: what ``/api/status``, ``/api/health``, the
history and the events return, as the OpenAPI document shows them.

They mirror the typed state (services/state.py) that api/state.py turns into JSON-ready data.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wisgate.api.body import Body
from wisgate.api.lora_models import LoraCounters

EventValue = bool | int | float | str | None


class ReadingOut(Body):
    name: str = Field(description="dotted and stable: cpu.temperature, adc.ain0, fan.rpm")
    device: str = Field(description="the device it came from")
    label: str
    ok: bool
    value: str = Field(description="the value as people read it (41.2 °C), or why there is none")
    time: float = Field(description="when it was read, epoch seconds")
    age_s: float
    stale: bool
    number: float | None = Field(default=None, description="the value as a number, when it is a quantity")
    unit: str | None = Field(default=None, description="the number's unit, when there is a number")
    error: str | None = Field(default=None, description="why the device gave no value (only then)")


class Section(Body):
    time: float = Field(description="when the service last updated it, epoch seconds")
    age_s: float


class FanOut(Section):
    cpu_c: float | None
    duty_percent: float
    rpm: float
    mode: str = Field(description="closed-loop, curve, manual (an API override) or failsafe")
    fault: str | None
    target_c: float | None = Field(description="the CPU temperature held (closed loop)")
    stale: bool


class ShutdownOut(Body):
    command: list[str]
    outage_s: float
    ran: bool
    result: str


class PowerOut(Section):
    supply: Literal["ok", "lost"]
    since: float | None = Field(description="when the running outage began, epoch seconds")
    outage_s: float | None
    losses: int
    glitches: int
    last_outage_s: float | None
    hold_up_s: float | None
    shutdown_in_s: float | None
    shutdown: ShutdownOut | None
    volts: float | None
    beep_on_loss: bool
    stale: bool


class RtcOut(Section):
    kernel_owned: bool
    actions: list[str]
    watchdog_s: float
    wake_alarm: float | None = Field(description="when the armed wake alarm fires, epoch seconds")


class EnvironmentOut(Section):
    pcb_c: float | None
    humidity_rh: float | None
    alarms: list[str] = Field(description="active alarms, e.g. temperature.high")
    stale: bool


class LoraSummaryOut(Body):
    gateway_id: str
    uplinks: int = Field(description="merged uplinks since the gateway started")
    modules: dict[str, LoraCounters] = Field(description="per module (board number): its totals")


class FanOverrideOut(Body):
    duty: float | None
    target_c: float | None
    remaining_s: float


class OledOverrideOut(Body):
    lines: list[str]
    remaining_s: float


class OverridesOut(Body):
    fan: FanOverrideOut | None
    oled: OledOverrideOut | None


class StatusOut(Body):
    readings: list[ReadingOut]
    fan: FanOut | None
    power: PowerOut | None
    rtc: RtcOut | None
    environment: EnvironmentOut | None
    lora: LoraSummaryOut | None
    overrides: OverridesOut
    time: float


class ServiceOut(Body):
    name: str
    state: Literal["starting", "running", "failed", "finished", "stopped"]
    ok: bool
    restarts: int
    error: str | None = Field(description="the current failure")
    last_error: str | None = Field(description="the last failure, kept after the service recovered")
    last_error_at: float | None
    since: float


class ModuleProblemOut(Body):
    board: int
    problem: str


class HealthOut(Body):
    ok: bool = Field(description="false while a service has failed or a LoRa module does not answer")
    services: list[ServiceOut]
    backhaul: dict[str, str] = Field(description="each degraded network-server link (udp/<name>, mqtt/mqtt) "
                                     "and why")
    lora_modules: list[ModuleProblemOut]


class HistoryNamesOut(Body):
    names: list[str]
    steps_s: list[int]


class SamplesOut(Body):
    name: str
    step_s: int
    since: float
    unit: str
    t: list[float] = Field(description="bucket starts, epoch seconds, oldest first")
    mean: list[float]
    min: list[float]
    max: list[float]


class EventOut(Body):
    seq: int
    time: float
    kind: str = Field(description="supply.lost, fan.stall, control.override...")
    source: str
    severity: Literal["info", "warning", "alarm"]
    message: str
    data: dict[str, EventValue]


class EventsPageOut(Body):
    events: list[EventOut]
    source: Literal["history", "memory"]
    next: int = Field(description="the after= of the next page")
    more: bool
