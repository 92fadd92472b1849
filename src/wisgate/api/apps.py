"""The app catalog over HTTP: list and show apps, install, start, stop, remove, status, logs, export.

State-changing endpoints need the bearer token, as the fan and OLED ones do. Docker calls block (an
install pulls images and waits for health checks), so they run in a worker thread and the daemon's event
loop keeps serving. The running configuration comes from the daemon (``wisgate.apps.running``), so installs
keep off the slots and ports its gateway and API use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from wisgate.api.apps_models import (
    AppDetailsOut,
    AppStateOut,
    CatalogOut,
    InstalledListOut,
    InstalledOut,
    InstallOut,
    LogsOut,
    RemovedOut,
)
from wisgate.api.auth import TokenCheck, token_guard
from wisgate.api.errors import TOKEN_REFUSALS, errors
from wisgate.api.validation import unprocessable
from wisgate.apps.errors import (
    AppError,
    CatalogError,
    ConflictError,
    EngineError,
    HardwareError,
    NotInstalledError,
    SettingError,
)
from wisgate.apps.names import APP_ID, SETTING_NAME
from wisgate.apps.running import running_config
from wisgate.errors import WisgateError

if TYPE_CHECKING:
    from wisgate.apps.engine import Installed
    from wisgate.apps.manager import AppManager
    from wisgate.apps.manifest import CatalogApp  # the catalog is loaded when an endpoint reads it

T = TypeVar("T")
AppId = Annotated[str, Path(pattern=APP_ID)]
#: a ``--set``: a setting's name, "=", its value
Assignment = Annotated[str, Field(pattern=SETTING_NAME.removesuffix("$") + "=.*$", max_length=4200)]

_STATUS: list[tuple[type[AppError], int]] = [
    (NotInstalledError, status.HTTP_404_NOT_FOUND), (ConflictError, status.HTTP_409_CONFLICT),
    (HardwareError, status.HTTP_409_CONFLICT), (EngineError, status.HTTP_502_BAD_GATEWAY),
]
#: what every catalog operation may answer (a setting out of range is a 422 naming it)
APP_ERRORS = errors(400, 404, 502, e400="the catalog or board description cannot be used",
                    e404="no such app in the catalog, or not installed", e502="the Docker Engine failed")
CHANGE_ERRORS = {**APP_ERRORS, **errors(*TOKEN_REFUSALS, 409, e409="already installed, or its hardware or "
                                        "ports are taken")}


class InstallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app: Annotated[str, Field(max_length=40)]
    #: the install's name (default: the app id); several installs of one app need different names
    name: Annotated[str, Field(max_length=40)] | None = None
    settings: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=4096)]] = {}
    #: address the published ports bind to (default [apps] listen)
    listen: Annotated[str, Field(max_length=45)] | None = None
    start: bool = True
    #: required app id -> the install to use, when several are installed
    requires: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=40)]] = {}


def _error(exc: AppError, settings_at: tuple[str, ...]) -> HTTPException:
    if isinstance(exc, SettingError):
        return unprocessable(settings_at, str(exc))
    code = status.HTTP_400_BAD_REQUEST
    if isinstance(exc, CatalogError) and "no app" in str(exc):
        code = status.HTTP_404_NOT_FOUND
    for kind, mapped in _STATUS:
        if isinstance(exc, kind):
            code = mapped
            break
    return HTTPException(code, str(exc))


def app_summary(app: CatalogApp) -> dict[str, Any]:
    m = app.manifest
    return {"id": app.id, "name": m.name, "version": m.version, "category": m.category, "description": m.description,
            "image": app.image, "requires": m.requires, "needs": [n.kind.value for n in m.hardware],
            "ports": [{"name": p.name, "host": p.host, "protocol": p.protocol, "web": p.web} for p in m.ports],
            "origin": app.origin}


def app_details(app: CatalogApp) -> dict[str, Any]:
    m = app.manifest
    settings = {name: {"description": s.description, "type": s.type, "required": s.required,
                       "default": None if s.type == "secret" else s.default, "choices": s.choices}
                for name, s in app.settings().items()}
    return {**app_summary(app), "website": m.website, "note": m.note,
            "services": {name: str(spec.get("image", "")) for name, spec in app.services.items()},
            "settings": settings, "volumes": {k: v.description for k, v in m.volumes.items()},
            "hardware": [{"kind": n.kind.value, "service": n.service, "count": n.count, "why": n.why}
                         for n in m.hardware]}


def installed_dict(entry: Installed) -> dict[str, Any]:
    return {"name": entry.instance, "app": entry.app, "version": entry.version, "state": entry.state,
            "listen": entry.listen, "settings": entry.settings, "requires": entry.requires,
            "claims": [{"kind": c.kind, "what": c.label} for c in entry.claims],
            "containers": [{"service": c.service, "name": c.name, "image": c.image, "status": c.status,
                            "health": c.health, "exit_code": c.exit_code} for c in entry.containers]}


def apps_router(tokens: TokenCheck, make_manager: Callable[[], AppManager] | None = None) -> APIRouter:
    """``make_manager`` (tests) replaces the manager built from the running configuration."""
    router = APIRouter(prefix="/api/apps", tags=["apps"])
    authorised = Depends(token_guard(tokens))
    holder: dict[str, AppManager] = {}

    def manager() -> AppManager:
        if "manager" not in holder:
            # the docker SDK is imported here, on first use: the daemon does not carry it otherwise
            from wisgate.apps.manager import build_manager

            holder["manager"] = make_manager() if make_manager else build_manager(running_config())
        else:
            holder["manager"].reload_catalog()
        return holder["manager"]

    async def call(func: Callable[[], T], settings_at: tuple[str, ...] = ("body", "settings")) -> T:
        try:
            return await asyncio.to_thread(func)
        except AppError as exc:
            raise _error(exc, settings_at) from None
        except WisgateError as exc:  # e.g. an unreadable [apps] board description
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None

    @router.get("", summary="The app catalog", response_model=CatalogOut, responses=APP_ERRORS)
    async def catalog() -> dict[str, Any]:
        found = await call(lambda: manager().catalog)
        return {"apps": [app_summary(a) for a in found.sorted()], "errors": found.errors}

    @router.get("/catalog/{app_id}", summary="One catalog app: settings, ports, volumes, hardware needs",
                response_model=AppDetailsOut, responses=APP_ERRORS)
    async def show(app_id: AppId) -> dict[str, Any]:
        return app_details(await call(lambda: manager().catalog.get(app_id)))

    @router.get("/catalog/{app_id}/export", summary="The app as a compose file or a Portainer v3 template",
                responses={200: {"description": "the compose file (YAML) or the template (JSON)",
                                 "content": {"application/yaml": {"schema": {"type": "string"}},
                                             "application/json": {"schema": {"type": "object"}}}},
                           **APP_ERRORS})
    async def export(app_id: AppId, format: Literal["compose", "portainer"] = "compose",
                     set: Annotated[list[Assignment], Query(description="KEY=VALUE settings")] = [],  # noqa: B006
                     repository: str | None = None) -> Response:
        from wisgate.apps.values import parse_assignments

        result = await call(lambda: manager().export(app_id, sets=parse_assignments(set), repository=repository),
                            ("query", "set"))
        if format == "compose":
            return Response(result.compose_text, media_type="application/yaml")
        if result.portainer is None:
            raise unprocessable(("query", "format"), result.portainer_skipped or "not available")
        from wisgate.apps.export import portainer_json

        return Response(portainer_json(result.portainer), media_type="application/json")

    @router.get("/installed", summary="Installed apps and their containers' state", response_model=InstalledListOut,
                responses=APP_ERRORS)
    async def installed() -> dict[str, Any]:
        return {"installed": [installed_dict(e) for e in await call(lambda: manager().status())]}

    @router.get("/installed/{name}", summary="One installed app", response_model=InstalledOut, responses=APP_ERRORS)
    async def one(name: str) -> dict[str, Any]:
        return installed_dict(await call(lambda: manager().engine.get(name)))

    @router.get("/installed/{name}/logs", summary="The last lines of each service's log", response_model=LogsOut,
                responses=APP_ERRORS)
    async def logs(name: str, service: str | None = None,
                   tail: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, Any]:
        lines = await call(lambda: manager().logs(name, service=service, tail=tail))
        return {"lines": [{"service": s, "line": line} for s, line in lines]}

    @router.post("/installed", summary="Install an app (and start it)", status_code=status.HTTP_201_CREATED,
                 dependencies=[authorised], response_model=InstallOut, responses=CHANGE_ERRORS)
    async def install(request: InstallRequest) -> dict[str, Any]:
        def run() -> Any:
            m = manager()
            return m.install(request.app, name=request.name, sets=request.settings,
                             listen=request.listen or m.listen, start=request.start, using=request.requires)

        result = await call(run)
        return {"name": result.instance, "app": result.app, "version": result.version, "settings": result.values,
                "generated_secrets": result.generated, "devices": result.devices, "warnings": result.warnings,
                "note": result.note, "started": result.started,
                "ports": [{"name": p.name, "address": p.address, "host": p.host, "protocol": p.protocol}
                          for p in result.ports]}

    @router.post("/installed/{name}/start", summary="Start an installed app", dependencies=[authorised],
                 response_model=AppStateOut, responses=CHANGE_ERRORS)
    async def start(name: str) -> dict[str, Any]:
        await call(lambda: manager().start(name))
        return {"name": name, "state": "started"}

    @router.post("/installed/{name}/stop", summary="Stop an installed app", dependencies=[authorised],
                 response_model=AppStateOut, responses=CHANGE_ERRORS)
    async def stop(name: str) -> dict[str, Any]:
        await call(lambda: manager().stop(name))
        return {"name": name, "state": "stopped"}

    @router.delete("/installed/{name}", summary="Remove an installed app (purge: its volumes too)",
                   dependencies=[authorised], response_model=RemovedOut, responses=CHANGE_ERRORS)
    async def remove(name: str, purge: bool = False) -> dict[str, Any]:
        return {"name": name, "removed": await call(lambda: manager().remove(name, purge=purge))}

    return router
