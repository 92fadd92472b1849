"""The API's controls: fan, OLED text, buzzer, expander pins, LEDs and the RTC wake alarm.

Every one needs the bearer token (checked by the request guard before the body is read, and again
by the routes' dependency, which documents it). The fan and OLED are overrides the fan and display
services apply on their next cycle, the beep is a request the buzzer service plays on its own line;
pins, LEDs and the alarm are written through the bus worker (the one thread that talks to the bus),
never from the request's own thread.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from wisgate.api.body import Body
from wisgate.api.errors import TOKEN_REFUSALS, errors
from wisgate.api.validation import STRICT_BODY, unprocessable
from wisgate.board.expander_lines import LED_LINES
from wisgate.config import ApiSection
from wisgate.errors import WisgateError
from wisgate.services.events import EventKind
from wisgate.services.state import FanOverride, LedOverride, OledOverride
from wisgate.services.supervisor import Context

log = logging.getLogger("wisgate.api")

#: The panel shows five lines of 21 characters (chips/font5x7.py: 5×7 glyphs in 6×13 cells).
OLED_LINES = 5
OLED_CHARS = 21
#: the alarm's fields are day of month, hour, minute, second (no month): a time within this many days
#: is the first the chip matches
ALARM_MAX_DAYS = 28
EXPANDERS = ("expander1", "expander2")
LED_PINS = {line.pin: line for line in LED_LINES}

Seconds = Annotated[float, Field(gt=0, le=86_400, description="how long it holds (default: [api] override_s)")]


class OledRequest(BaseModel):
    model_config = STRICT_BODY
    lines: Annotated[list[Annotated[str, Field(max_length=OLED_CHARS)]], Field(min_length=1, max_length=OLED_LINES)]
    seconds: Seconds | None = None


class FanRequest(BaseModel):
    """Either a fixed drive duty or a CPU temperature to hold (closed loop), for a while."""

    # the document says "one of the two" as the validator below does
    model_config = ConfigDict(**STRICT_BODY, json_schema_extra={"oneOf": [
        {"required": ["duty"], "properties": {"duty": {"type": "number"}}},
        {"required": ["target_c"], "properties": {"target_c": {"type": "number"}}},
    ]})
    duty: Annotated[float, Field(ge=0, le=100, description="drive duty in percent")] | None = None
    target_c: Annotated[float, Field(ge=30, le=75, description="CPU temperature to hold, °C")] | None = None
    seconds: Seconds | None = None

    @model_validator(mode="after")
    def one_of(self) -> FanRequest:
        if (self.duty is None) == (self.target_c is None):
            raise ValueError("give either duty or target_c")
        return self


class BeepRequest(BaseModel):
    model_config = STRICT_BODY
    frequency_hz: Annotated[float, Field(ge=20, le=20_000)] = 440.0
    duration_s: Annotated[float, Field(gt=0, le=5)] = 0.3


class PinRequest(BaseModel):
    model_config = STRICT_BODY
    level: bool = Field(description="drive the pin high (true) or low (false); it becomes an output")


class LedRequest(BaseModel):
    model_config = STRICT_BODY
    on: bool
    seconds: Seconds | None = None


class AlarmRequest(BaseModel):
    model_config = STRICT_BODY
    # an ISO 8601 text is the only way JSON carries a time: this field is exempt from the strict model
    at: AwareDatetime = Field(strict=False,
                              description=f"when to wake, ISO 8601 with its time zone, within {ALARM_MAX_DAYS} days")


class OledSet(Body):
    lines: list[str]
    seconds: float = Field(description="how long the text holds")


class FanSet(Body):
    """One of duty and target_c: what was asked for."""

    duty: float | None = Field(default=None, description="the drive duty set, percent")
    target_c: float | None = Field(default=None, description="the CPU temperature held, °C")
    seconds: float


class FanAuto(Body):
    fan: Literal["auto"]


class BeepSet(Body):
    frequency_hz: float
    duration_s: float


class PinSet(Body):
    expander: Literal["expander1", "expander2"]
    pin: int
    level: bool = Field(description="the level read back from the pin")


class LedSet(Body):
    led: str
    on: bool


class AlarmSet(Body):
    at: str | None = Field(description="when the alarm fires, ISO 8601 UTC (null: disarmed)")


BUS_DOWN = errors(503, e503="the bus did not answer")


def _bus_failure(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"bus error: {exc}")


def controls_router(context: Context, settings: ApiSection, authorised: Any) -> APIRouter:
    router = APIRouter(dependencies=[Depends(authorised)], tags=["controls"], responses=errors(*TOKEN_REFUSALS))
    state, target = context.state, context.target
    clock = target.clock

    async def on_bus(func: Any) -> Any:
        try:
            return await context.bus.run(func)
        except (WisgateError, OSError) as exc:
            raise _bus_failure(exc) from None

    @router.post("/api/oled", summary="Show text on the OLED for a while")
    async def oled(request: OledRequest) -> OledSet:
        seconds = request.seconds or settings.override_s
        state.overrides.oled = OledOverride(tuple(request.lines), clock.monotonic() + seconds)
        log.info("API: OLED text for %g s", seconds)
        context.publish(EventKind.OVERRIDE, "api", f"OLED text set for {seconds:g} s", seconds=seconds)
        return OledSet(lines=request.lines, seconds=seconds)

    @router.post("/api/fan", summary="Drive the fan at a fixed duty, or hold a CPU temperature, for a while",
                 response_model_exclude_unset=True)
    async def fan(request: FanRequest) -> FanSet:
        seconds = request.seconds or settings.override_s
        until = clock.monotonic() + seconds
        if request.target_c is not None:
            state.overrides.fan = FanOverride(0.0, until, target_c=request.target_c)
            what = f"fan holds the CPU at {request.target_c:g} °C for {seconds:g} s"
            context.publish(EventKind.OVERRIDE, "api", what, target_c=request.target_c, seconds=seconds)
            log.info("API: %s", what)
            return FanSet(target_c=request.target_c, seconds=seconds)
        assert request.duty is not None
        state.overrides.fan = FanOverride(request.duty, until)
        log.info("API: fan duty %g %% for %g s", request.duty, seconds)
        context.publish(EventKind.OVERRIDE, "api", f"fan duty {request.duty:g} % for {seconds:g} s",
                        duty_percent=request.duty, seconds=seconds)
        return FanSet(duty=request.duty, seconds=seconds)

    @router.delete("/api/fan", summary="End a fan override: the fan's own policy drives it again")
    async def fan_auto() -> FanAuto:
        state.overrides.fan = None
        context.publish(EventKind.OVERRIDE, "api", "fan back on its own control")
        return FanAuto(fan="auto")

    @router.post("/api/buzzer", summary="Beep the buzzer (played by the buzzer service; needs jumper J39 11-12)",
                 responses=errors(409, e409="the buzzer service is not running"))
    async def buzzer(request: BeepRequest) -> BeepSet:
        health = state.services.get("buzzer")
        if health is None or health.state != "running":
            raise HTTPException(status.HTTP_409_CONFLICT, "the buzzer service is not running ([buzzer] enabled)")
        context.publish(EventKind.BEEP, "api", f"beep {request.frequency_hz:g} Hz for {request.duration_s:g} s",
                        frequency_hz=request.frequency_hz, duration_s=request.duration_s)
        return BeepSet(frequency_hz=request.frequency_hz, duration_s=request.duration_s)

    @router.post("/api/gpio/{expander}/{pin}", summary="Drive one expander pin (it becomes an output)",
                 description="expander1 is U134 at 0x27 (port 0 pins 6-7: the LEDs, active low); "
                             "expander2 is U133 at 0x26 (the WisBlock slots' lines)",
                 responses=BUS_DOWN)
    async def gpio(expander: Literal["expander1", "expander2"],
                   pin: Annotated[int, Path(ge=0, le=15)], request: PinRequest) -> PinSet:
        def drive() -> bool:
            chip = target.expander(expander)
            chip.set_direction(pin, output=True, initial=request.level)
            return chip.read_pin(pin)

        level = await on_bus(drive)
        context.publish(EventKind.OVERRIDE, "api", f"{expander} pin {pin} driven {'high' if request.level else 'low'}",
                        expander=expander, pin=pin, level=request.level)
        return PinSet(expander=expander, pin=pin, level=level)

    @router.post("/api/leds/{pin}", summary="Hold an LED on or off for a while (expander1 port 0 pin 6 or 7, "
                                           "active low); its configured role shows again after",
                 responses=BUS_DOWN)
    async def led(pin: Annotated[int, Path(ge=6, le=7)], request: LedRequest) -> LedSet:
        line = LED_PINS[pin]

        def drive() -> None:
            target.expander(line.expander).set_direction(line.pin, output=True, initial=request.on != line.active_low)

        seconds = request.seconds or settings.override_s
        # held over the LED's role first, so the LED service does not put its own level back in between
        state.overrides.leds[pin] = LedOverride(request.on, clock.monotonic() + seconds)
        await on_bus(drive)
        context.publish(EventKind.OVERRIDE, "api", f"{line.name} {'on' if request.on else 'off'} for {seconds:g} s",
                        led=line.name, on=request.on, seconds=seconds)
        return LedSet(led=line.name, on=request.on)

    @router.post("/api/rtc/alarm", summary="Arm the RTC wake alarm (wakes a halted CM4 with J39 9-10 fitted)",
                 responses=BUS_DOWN)
    async def alarm(request: AlarmRequest) -> AlarmSet:
        at = request.at.astimezone(UTC).replace(microsecond=0)
        now = datetime.now(UTC)
        if not now < at <= now + timedelta(days=ALARM_MAX_DAYS):
            raise unprocessable(("body", "at"), f"at: {at.isoformat()} is not within the next {ALARM_MAX_DAYS} days "
                                "(the alarm has no month field)")
        await on_bus(lambda: _arm(target.rtc(), at))
        if state.rtc is not None:
            state.rtc = dataclasses.replace(state.rtc, wake_alarm=at.timestamp())
        context.publish(EventKind.OVERRIDE, "api", f"RTC wake alarm at {at:%Y-%m-%d %H:%M:%S} UTC",
                        wake_alarm=at.timestamp())
        return AlarmSet(at=at.isoformat())

    @router.delete("/api/rtc/alarm", summary="Disarm the RTC wake alarm",
                   responses=BUS_DOWN)
    async def alarm_off() -> AlarmSet:
        await on_bus(lambda: _disarm(target.rtc()))
        if state.rtc is not None:
            state.rtc = dataclasses.replace(state.rtc, wake_alarm=None)
        context.publish(EventKind.OVERRIDE, "api", "RTC wake alarm disarmed")
        return AlarmSet(at=None)

    return router


def _arm(rtc: Any, at: datetime) -> None:
    from wisgate.chips.pcf85063a import PCF85063A

    if isinstance(rtc, PCF85063A):
        rtc.set_alarm(second=at.second, minute=at.minute, hour=at.hour, day=at.day)
    else:
        rtc.set_wake_alarm(at.replace(tzinfo=None))


def _disarm(rtc: Any) -> None:
    from wisgate.chips.pcf85063a import PCF85063A

    if isinstance(rtc, PCF85063A):
        rtc.clear_alarm()
    else:
        rtc.clear_wake_alarm()
