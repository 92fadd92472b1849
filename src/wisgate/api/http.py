"""The daemon's HTTP API (FastAPI): board state, LoRa statistics and traffic, service health, history,
events, live streams (api/streams.py), controls (api/controls.py), and the dashboard (api/web.py).

Every endpoint is ``async def`` on purpose: it then runs on the daemon's event loop, the thread the
services update the state on, so a response never sees a half-written reading. Nothing here touches
the bus itself: the controls that do hand their work to the bus worker.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter

from wisgate.api import state as board
from wisgate.api.apps import apps_router
from wisgate.api.auth import TokenCheck, resolve_token, token_guard
from wisgate.api.backhaul import problems as backhaul_problems
from wisgate.api.backhaul import router as backhaul_router
from wisgate.api.controls import controls_router
from wisgate.api.errors import TOO_MANY_CONNECTIONS
from wisgate.api.guard import RequestGuard
from wisgate.api.industrial import industrial_router
from wisgate.api.lora_models import LoraStatsOut, PacketOut, TrafficOut
from wisgate.api.models import HealthOut, StatusOut
from wisgate.api.records import records_router
from wisgate.api.streams import StreamGate, streams_router
from wisgate.api.validation import validation_failed
from wisgate.api.web import mount_web
from wisgate.config import ApiSection
from wisgate.lora.core.traffic import RECENT_PACKETS
from wisgate.services.supervisor import Context

if TYPE_CHECKING:
    from wisgate.api.exposition import ScrapeCache

log = logging.getLogger("wisgate.api")
#: writes a JSON-ready dict in pydantic's core, without checking it against a model
WRITE = TypeAdapter(dict[str, Any])

def create_app(context: Context, settings: ApiSection, *, stale_after_s: float = 15.0) -> FastAPI:
    """The API over the typed board state; a reading older than ``stale_after_s`` is flagged stale."""
    app = FastAPI(title="wisgate", summary="RAK7391 WisGate Connect daemon: board state, LoRa gateway, controls",
                  version="0.1.0", docs_url=None, redoc_url=None, responses=TOO_MANY_CONNECTIONS)
    app.add_exception_handler(RequestValidationError, validation_failed)
    state = context.state
    clock = context.target.clock
    scrapes = LazyScrapes(context, settings.metrics_max_age_s)
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
        target_c = state.overrides.fan_target(now)
        fan, oled = state.overrides.fan, state.overrides.oled
        return {
            "fan": {"duty": duty, "target_c": target_c, "remaining_s": remaining(fan.until)}
            if fan is not None else None,
            "oled": {"lines": lines, "remaining_s": remaining(oled.until)} if oled is not None else None,
        }

    def status_body() -> dict[str, Any]:
        return {
            "readings": board.reading_dicts(state, stale_after_s),
            "fan": board.typed_section(state.fan, stale_after_s),
            "power": board.typed_section(state.power, stale_after_s),
            "rtc": board.typed_section(state.rtc),
            "environment": board.typed_section(state.environment, stale_after_s),
            "lora": board.lora_summary(state.lora.gateway),
            "overrides": overrides(),
            "time": time.time(),
        }

    # the hot path: the body is written as it is, by pydantic's core; StatusOut is its document, and the tests
    # hold the answers to it (tests/test_api.py, the fuzz test). Checking every field of every answer would
    # double a call's cost (bench/api_serialise.py)
    @app.get("/api/status", summary="Latest readings of every sensor, fan, power and LoRa summaries",
             response_model=StatusOut)
    async def status() -> Response:
        return Response(WRITE.dump_json(status_body()), media_type="application/json")

    @app.get("/api/lora/stats", summary="LoRa counters per module and channel", response_model=LoraStatsOut)
    async def lora_stats() -> dict[str, Any]:
        details = board.lora_details(state.lora.gateway)
        return details if details is not None else {"gateway_id": None, "uplinks": 0, "modules": []}

    @app.get("/api/health", summary="The daemon's services now (with each one's last failure kept as history)",
             response_model=HealthOut)
    async def health() -> dict[str, Any]:
        listed = [board.service_dict(h) for h in state.services.values()]
        gateway = state.lora.gateway
        problems = {} if gateway is None else gateway.module_problems
        modules = [{"board": b, "problem": p} for b, p in sorted(problems.items())]
        # a degraded server link (its store failing, the server silent) is named, not a failed daemon; a
        # concentrator module that does not answer is a failed part of the gateway
        return {"ok": all(s["ok"] for s in listed) and not modules, "services": listed,
                "backhaul": backhaul_problems(state), "lora_modules": modules}

    @app.get("/api/lora/traffic", summary="The last hour of LoRa traffic, minute by minute: per module and data "
             "rate, airtime, channel heatmap, RSSI/SNR histograms, active devices", response_model=TrafficOut)
    async def lora_traffic() -> dict[str, Any]:
        return state.lora.traffic.summary(time.time())

    # each record is serialised once, when first sent (the traffic log): sent as it is
    @app.get("/api/lora/packets", summary="The latest merged uplinks of every module, decoded, oldest first",
             responses={200: {"model": list[PacketOut], "description": "the packet records, oldest first"}})
    async def lora_packets(limit: Annotated[int, Query(ge=1, le=RECENT_PACKETS)] = 100) -> Response:
        return Response("[" + ",".join(state.lora.traffic.recent(limit)) + "]", media_type="application/json")

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response, responses={200: {
        "description": "Prometheus text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics() -> Response:
        return scrapes.response()

    app.include_router(backhaul_router(state))
    app.include_router(records_router(state))
    gate = StreamGate()
    app.state.streams = gate
    app.include_router(streams_router(state, status_body, gate))
    app.include_router(controls_router(context, settings, token_guard(tokens)))
    mount_web(app, context)

    return app


class LazyScrapes:
    """``/metrics`` responses, with prometheus_client (1.1 MB with the http.server, urllib and wsgiref it loads)
    imported at the first scrape: a board nobody scrapes never loads it."""

    def __init__(self, context: Context, max_age_s: float) -> None:
        self.context = context
        self.max_age_s = max_age_s
        self._cache: ScrapeCache | None = None

    def response(self) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        if self._cache is None:
            from wisgate.api.exposition import ScrapeCache
            from wisgate.api.metrics import registry_for

            self._cache = ScrapeCache(registry_for(self.context.state), self.max_age_s)
        return Response(self._cache.body(), media_type=CONTENT_TYPE_LATEST)


def close_streams(app: FastAPI) -> None:
    """End the open server-sent event streams (the server is stopping): they finish their responses
    within ``streams.WAKE_S`` rather than being cut when the graceful-shutdown time runs out."""
    gate = getattr(app.state, "streams", None)
    if isinstance(gate, StreamGate):
        gate.close()
