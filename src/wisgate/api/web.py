"""What a browser loads: the dashboard, its assets, the OLED's picture, and Swagger UI, all from the
package (no CDN: a gateway's network is often offline or fenced)."""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Response, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from wisgate.api.errors import errors
from wisgate.services.supervisor import Context

#: the dashboard's files, shipped as package data
WEB_DIR = Path(str(resources.files("wisgate.api") / "web"))


def swagger_dir() -> Path | None:
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(str(swagger_ui_path))


def mount_web(app: FastAPI, context: Context) -> None:
    """The dashboard at ``/``, its files under ``/static``, Swagger UI at ``/docs`` with its own files."""
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    swagger = swagger_dir()
    if swagger is not None:
        app.mount("/docs-assets", StaticFiles(directory=swagger), name="docs-assets")
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def dashboard() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @router.get("/dashboard")
    async def dashboard_alias() -> RedirectResponse:
        return RedirectResponse("/")

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        if swagger is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Swagger UI is not installed (pip package "
                                "swagger-ui-bundle-v2); the schema is at /openapi.json")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="wisgate API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")

    app.include_router(router)
    app.include_router(oled_router(context))


def oled_router(context: Context) -> APIRouter:
    router = APIRouter(tags=["board"])
    target, state = context.target, context.state

    def panel_png() -> bytes | None:
        """What the panel shows (where the target can see it), else the image the display service sent."""
        with tempfile.TemporaryDirectory(prefix="wisgate-oled-") as folder:
            path = Path(folder) / "oled.png"
            if target.save_display(path):
                return path.read_bytes()
        frame = state.display_image
        return None if frame is None else frame.png()

    @router.get("/api/oled.png", summary="The OLED panel as a 128x64 PNG",
                responses={200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
                           **errors(404, e404="nothing drawn yet")},
                response_class=Response)
    async def oled_png() -> Response:
        # the simulated panel lives on the bus worker's thread: it is read there
        png = await context.bus.run(panel_png)
        if png is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no OLED picture: the display service has not drawn yet")
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    return router
