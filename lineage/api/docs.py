"""``/docs`` that works offline: Swagger UI's assets are served by the API itself (from the
swagger-ui-bundle-v2 package: Swagger UI 5, which reads OpenAPI 3.1), never from a CDN.
ReDoc (CDN only) is not offered."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs-assets"


router = APIRouter(include_in_schema=False, tags=["docs"])


def mount_assets(app: FastAPI) -> None:
    """Serve Swagger UI's JavaScript, CSS and icon from ``/docs-assets`` (a static mount, not a route)."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    """Swagger UI over the app's own OpenAPI document."""
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} · API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
    )
