"""The daemon's HTTP API (FastAPI): board state, LoRa statistics, service health, fan and OLED overrides.

Every endpoint is ``async def`` on purpose: it then runs on the daemon's event loop, the thread the
services update the state on, so a response never sees a half-written reading. Nothing here touches
the bus; the fan and display services apply the overrides on their next cycle.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from wisgate.api import state as board
from wisgate.api.apps import apps_router
from wisgate.api.auth import TokenCheck, resolve_token, token_guard
from wisgate.api.backhaul import problems as backhaul_problems
from wisgate.api.backhaul import router as backhaul_router
from wisgate.api.exposition import render
from wisgate.api.guard import RequestGuard
from wisgate.api.industrial import industrial_router
from wisgate.api.metrics import registry_for
from wisgate.api.validation import STRICT_BODY, validation_failed
from wisgate.config import ApiSection
from wisgate.services.events import EventKind
from wisgate.services.state import FanOverride, OledOverride
from wisgate.services.supervisor import Context

log = logging.getLogger("wisgate.api")

#: The panel shows five lines of Pillow's default font, about 21 characters each.
OLED_LINES = 5
OLED_CHARS = 21


class OledRequest(BaseModel):
    model_config = STRICT_BODY
    lines: Annotated[list[Annotated[str, Field(max_length=OLED_CHARS)]], Field(min_length=1, max_length=OLED_LINES)]
    #: how long the text stays (default: [api] override_s)
    seconds: Annotated[float, Field(gt=0, le=86_400)] | None = None


class FanRequest(BaseModel):
    model_config = STRICT_BODY
    duty: Annotated[float, Field(ge=0, le=100, description="drive duty in percent")]
    #: how long the duty holds before the temperature curve takes over again (default: [api] override_s)
    seconds: Annotated[float, Field(gt=0, le=86_400)] | None = None


def create_app(context: Context, settings: ApiSection, *, stale_after_s: float = 15.0) -> FastAPI:
    """The API over the typed board state; a reading older than ``stale_after_s`` is flagged stale."""
    app = FastAPI(title="wisgate", summary="RAK7391 WisGate Connect daemon: board state, LoRa gateway, overrides",
                  version="0.1.0")
    app.add_exception_handler(RequestValidationError, validation_failed)
    state = context.state
    clock = context.target.clock
    registry = registry_for(state)
    tokens = TokenCheck(resolve_token(settings))
    app.add_middleware(RequestGuard, tokens=tokens)
    authorised = Depends(token_guard(tokens))
    app.include_router(apps_router(tokens))
    app.include_router(industrial_router(context, authorised, stale_after_s))

    def remaining(until: float) -> float:
        return round(max(0.0, until - clock.monotonic()), 3)

    def overrides() -> dict[str, Any]:
        now = clock.monotonic()
        duty, lines = state.overrides.fan_duty(now), state.overrides.oled_lines(now)
        fan, oled = state.overrides.fan, state.overrides.oled
        return {
            "fan": {"duty": duty, "remaining_s": remaining(fan.until)} if fan is not None else None,
            "oled": {"lines": lines, "remaining_s": remaining(oled.until)} if oled is not None else None,
        }

    @app.get("/api/status", summary="Latest readings of every sensor, fan, power and LoRa summaries")
    async def status() -> dict[str, Any]:
        return {
            "readings": board.reading_dicts(state, stale_after_s),
            "fan": board.typed_section(state.fan, stale_after_s),
            "power": board.typed_section(state.power, stale_after_s),
            "rtc": board.typed_section(state.rtc),
            "environment": board.typed_section(state.environment, stale_after_s),
            "lora": board.lora_summary(state.lora.gateway),
            "overrides": overrides(),
        }

    @app.get("/api/lora/stats", summary="LoRa counters per module and channel")
    async def lora_stats() -> dict[str, Any]:
        details = board.lora_details(state.lora.gateway)
        return details if details is not None else {"gateway_id": None, "uplinks": 0, "modules": []}

    @app.get("/api/health", summary="The daemon's services now (with each one's last failure kept as history)")
    async def health() -> dict[str, Any]:
        listed = [board.service_dict(h) for h in state.services.values()]
        gateway = state.lora.gateway
        problems = {} if gateway is None else gateway.module_problems
        modules = [{"board": b, "problem": p} for b, p in sorted(problems.items())]
        # a degraded server link (its store failing, the server silent) is named, not a failed daemon; a
        # concentrator module that does not answer is a failed part of the gateway
        return {"ok": all(s["ok"] for s in listed) and not modules, "services": listed,
                "backhaul": backhaul_problems(state), "lora_modules": modules}

    @app.get("/api/events", summary="The latest events of this daemon, oldest first")
    async def events(after: Annotated[int, Query(ge=0, description="only events after this seq")] = 0,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        recent = [board.event_dict(e) for e in state.events.recent if e.seq > after]
        return {"events": recent[:limit]}

    @app.post("/api/oled", summary="Show text on the OLED for a while", dependencies=[authorised])
    async def oled(request: OledRequest) -> dict[str, Any]:
        seconds = request.seconds or settings.override_s
        state.overrides.oled = OledOverride(tuple(request.lines), clock.monotonic() + seconds)
        log.info("API: OLED text for %g s", seconds)
        context.publish(EventKind.OVERRIDE, "api", f"OLED text set for {seconds:g} s", seconds=seconds)
        return {"lines": request.lines, "seconds": seconds}

    @app.post("/api/fan", summary="Drive the fan at a fixed duty for a while", dependencies=[authorised])
    async def fan(request: FanRequest) -> dict[str, Any]:
        seconds = request.seconds or settings.override_s
        state.overrides.fan = FanOverride(request.duty, clock.monotonic() + seconds)
        log.info("API: fan duty %g %% for %g s", request.duty, seconds)
        context.publish(EventKind.OVERRIDE, "api", f"fan duty {request.duty:g} % for {seconds:g} s",
                        duty_percent=request.duty, seconds=seconds)
        return {"duty": request.duty, "seconds": seconds}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(render(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(backhaul_router(state))
    return app
