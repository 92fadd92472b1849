"""The daemon's HTTP API (FastAPI): board state, LoRa statistics, service health, fan and OLED overrides.

Every endpoint is ``async def`` on purpose: it then runs on the daemon's event loop, the thread the
services update the state on, so a response never sees a half-written reading. Nothing here touches
the bus; the fan and display services apply the overrides on their next cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from wisgate.api import state as board
from wisgate.api.auth import TokenCheck, resolve_token, token_guard
from wisgate.api.guard import RequestGuard
from wisgate.api.metrics import registry_for
from wisgate.api.validation import STRICT_BODY, validation_failed
from wisgate.config import ApiSection
from wisgate.services.overrides import FAN_KEY, OLED_KEY, FanOverride, OledOverride
from wisgate.services.supervisor import Context, Service

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


def create_app(context: Context, settings: ApiSection, services: Sequence[Service] = ()) -> FastAPI:
    """The API over ``context.state``; ``services`` (the supervisor's list, read live) feeds /api/health."""
    app = FastAPI(title="wisgate", summary="RAK7391 WisGate Connect daemon: board state, LoRa gateway, overrides",
                  version="0.1.0")
    app.add_exception_handler(RequestValidationError, validation_failed)
    state = context.state
    clock = context.target.clock
    registry = registry_for(state, lambda: services)
    tokens = TokenCheck(resolve_token(settings))
    app.add_middleware(RequestGuard, tokens=tokens)
    authorised = Depends(token_guard(tokens))

    def remaining(until: float) -> float:
        return round(max(0.0, until - clock.monotonic()), 3)

    def overrides() -> dict[str, Any]:
        fan, oled = state.get(FAN_KEY), state.get(OLED_KEY)
        return {
            "fan": {"duty": fan.duty, "remaining_s": remaining(fan.until)} if isinstance(fan, FanOverride) else None,
            "oled": ({"lines": list(oled.lines), "remaining_s": remaining(oled.until)}
                     if isinstance(oled, OledOverride) else None),
        }

    @app.get("/api/status", summary="Latest readings of every sensor, fan, power and LoRa summaries")
    async def status() -> dict[str, Any]:
        return {
            "readings": board.reading_dicts(state),
            "fan": board.section(state, "fan"),
            "power": board.section(state, "power"),
            "lora": board.lora_summary(state),
            "overrides": overrides(),
        }

    @app.get("/api/lora/stats", summary="LoRa counters per module and channel")
    async def lora_stats() -> dict[str, Any]:
        details = board.lora_details(state)
        return details if details is not None else {"gateway_id": None, "uplinks": 0, "modules": []}

    @app.get("/api/health", summary="The daemon's services: restarts and last error")
    async def health() -> dict[str, Any]:
        listed = board.service_dicts(services)
        return {"ok": all(s["last_error"] is None for s in listed), "services": listed}

    @app.post("/api/oled", summary="Show text on the OLED for a while", dependencies=[authorised])
    async def oled(request: OledRequest) -> dict[str, Any]:
        seconds = request.seconds or settings.override_s
        state[OLED_KEY] = OledOverride(tuple(request.lines), clock.monotonic() + seconds)
        log.info("API: OLED text for %g s", seconds)
        return {"lines": request.lines, "seconds": seconds}

    @app.post("/api/fan", summary="Drive the fan at a fixed duty for a while", dependencies=[authorised])
    async def fan(request: FanRequest) -> dict[str, Any]:
        seconds = request.seconds or settings.override_s
        state[FAN_KEY] = FanOverride(request.duty, clock.monotonic() + seconds)
        log.info("API: fan duty %g %% for %g s", request.duty, seconds)
        return {"duty": request.duty, "seconds": seconds}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
