"""`/docs`: Swagger UI from files the hub ships (api/static, see VENDORED.md), not a CDN.

A hub often runs where browsers cannot reach the internet, and a page that pulls script
from another host is one more party trusted with the operator's session; so FastAPI's
own docs (CDN-loaded) are off and this route serves the same page from local assets.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from intermodal.api.errors import ApiError

SWAGGER_UI = "5.35.0"
STATIC = Path(__file__).parent / "static"
DOCS = "/docs"
ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

# Only these files are served: a fixed table, so no path from a request reaches the disk.
_FILES = {
    f"swagger-ui-bundle-{SWAGGER_UI}.js": "text/javascript; charset=utf-8",
    f"swagger-ui-{SWAGGER_UI}.css": "text/css; charset=utf-8",
    "swagger-ui-favicon-32x32.png": "image/png",
}
# The file names carry the version, so a browser may keep them until the next upgrade.
_CACHE = {"cache-control": "public, max-age=31536000, immutable"}

router = APIRouter(include_in_schema=False)


@router.get(DOCS)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    assets = root + ASSETS
    return get_swagger_ui_html(
        openapi_url=root + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle-{SWAGGER_UI}.js",
        swagger_css_url=f"{assets}/swagger-ui-{SWAGGER_UI}.css",
        swagger_favicon_url=f"{assets}/swagger-ui-favicon-32x32.png",
        oauth2_redirect_url=root + OAUTH2_REDIRECT,
        # Swagger UI would otherwise send the schema's URL to its public validator.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get(ASSETS + "/{name}")
async def asset(name: str) -> FileResponse:
    media_type = _FILES.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", f"no asset '{name}'")
    return FileResponse(STATIC / name, media_type=media_type, headers=_CACHE)
