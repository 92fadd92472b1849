"""The industrial gateway over HTTP: ModBUS devices with their points and health, WisBlock IO modules,
and writes (a ModBUS point by name, a WisBlock relay), which need the bearer token.

Listings read the typed state; a write waits for the device (its timeout) and answers with the value read
back. A device that does not answer is a 504, one that answers with an exception code a 502.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, params, status
from pydantic import BaseModel, Field

from wisgate.api.errors import TOKEN_REFUSALS, errors
from wisgate.api.industrial_models import DeviceOut, IndustrialOut, PointWritten, RelaySet
from wisgate.api.state import reading_dict
from wisgate.api.validation import STRICT_BODY, unprocessable
from wisgate.industrial.config import PointSection, reading_name
from wisgate.industrial.controls import WriteError
from wisgate.industrial.modbus.link import LinkFailure
from wisgate.industrial.service import DeviceView, IndustrialGateway
from wisgate.industrial.wisblock import ANALOG, wiring
from wisgate.services.supervisor import Context

NamePath = Annotated[str, Path(max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class PointWrite(BaseModel):
    model_config = STRICT_BODY
    #: the engineering value (scaled as the point says), or text for a string point
    value: float | Annotated[str, Field(max_length=250)]


class RelayWrite(BaseModel):
    model_config = STRICT_BODY
    on: bool


def point_dict(point: PointSection) -> dict[str, Any]:
    return {
        "name": point.name, "table": point.table, "address": point.address, "type": str(point.dtype),
        "registers": point.span, "byte_order": point.byte_order, "word_order": point.word_order,
        "scale": point.scale, "offset": point.offset, "unit": point.unit, "digits": point.digits,
        "deadband": point.deadband, "writable": point.writable, "min": point.min, "max": point.max,
    }


def industrial_router(context: Context, authorised: params.Depends, stale_after_s: float) -> APIRouter:
    # exclude_unset: a reading's number, unit and error are there only when it has them
    router = APIRouter(prefix="/api/industrial", tags=["industrial"],
                       responses=errors(503, e503="the industrial service is not running"))
    state = context.state

    def gateway() -> IndustrialGateway:
        running = state.industrial
        if running is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                "the industrial service is not running (nothing under [industrial] configured?)")
        return running

    def device_dict(view: DeviceView) -> dict[str, Any]:
        import time

        found = gateway().find(view.health.device)
        latest = found[1].latest if found is not None else {}
        health = view.health
        now = time.time()
        points = []
        for point in view.points:
            item = point_dict(point)
            reading = state.reading(reading_name(health.device, point.name))
            item["reading"] = reading_dict(reading, now, stale_after_s) if reading is not None else None
            # the last read before the deadband (the reading holds the value last published)
            item["latest"] = latest.get(point.name)
            points.append(item)
        return {
            "name": health.device, "bus": health.bus, "device_id": health.device_id, "status": health.status,
            "reason": health.reason, "failures": health.failures, "requests": health.requests,
            "errors": health.errors, "error_rate": health.error_rate, "last_ok": health.last_ok,
            "poll_s": health.poll_s, "next_poll_s": health.next_poll_s, "points": points,
        }

    @router.get("", summary="ModBUS buses, devices (health, points, latest values) and WisBlock IO modules",
                response_model=IndustrialOut, response_model_exclude_unset=True)
    async def overview() -> dict[str, Any]:
        running = gateway()
        import time

        now = time.time()
        modules = []
        for module in running.modules:
            lines = wiring(module)
            readings = [reading_dict(r, now, stale_after_s) for name, r in state.readings.items()
                        if name.startswith(f"wisblock.{module.name}.")]
            modules.append({
                "name": module.name, "slot": module.slot, "module": module.module, "range": module.range,
                "unit": module.unit, "condition": running.conditions.get(module.name),
                "adc_channel": lines.adc_channel if module.module in ANALOG else None,
                "enable_line": lines.enable_line if module.module in ANALOG else None,
                "relay_line": None if module.module in ANALOG else lines.relay_line, "readings": readings,
            })
        return {
            "buses": [{"name": b.bus.name, "where": b.bus.where, "requests": b.link.stats.requests,
                       "failures": b.link.stats.failures, "last_round_s": b.last_round_s} for b in running.buses],
            "devices": [device_dict(view) for view in running.devices()],
            "wisblock": modules,
        }

    @router.get("/devices/{device}", summary="One ModBUS device: health and points", response_model=DeviceOut,
                response_model_exclude_unset=True, responses=errors(404))
    async def device(device: NamePath) -> dict[str, Any]:
        for view in gateway().devices():
            if view.health.device == device:
                return device_dict(view)
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ModBUS device {device!r}")

    @router.post("/devices/{device}/points/{point}", dependencies=[authorised],
                 summary="Write a point (range-checked); answers with the value read back",
                 response_model=PointWritten, response_model_exclude_unset=True,
                 responses=errors(*TOKEN_REFUSALS, 404, 502, 504, e404="no such device or point",
                                  e502="the device answered with an exception code"))
    async def write(device: NamePath, point: NamePath, request: PointWrite) -> dict[str, Any]:
        import time

        try:
            reading = await gateway().write(device, point, request.value)
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None
        except WriteError as exc:
            raise unprocessable(("body", "value"), str(exc)) from None
        except LinkFailure as exc:
            code = status.HTTP_502_BAD_GATEWAY if exc.kind == "exception" else status.HTTP_504_GATEWAY_TIMEOUT
            raise HTTPException(code, f"{device}: {exc}") from None
        return {"device": device, "point": point, "written": request.value,
                "read_back": reading_dict(reading, time.time(), stale_after_s)}

    @router.post("/wisblock/{module}/relay", dependencies=[authorised], summary="Switch a WisBlock relay",
                 response_model=RelaySet, responses=errors(*TOKEN_REFUSALS, 404, e404="no such relay module"))
    async def relay(module: NamePath, request: RelayWrite) -> dict[str, Any]:
        try:
            reading = await gateway().set_relay(module, request.on)
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None
        return {"module": module, "on": reading.value == 1.0}

    return router
