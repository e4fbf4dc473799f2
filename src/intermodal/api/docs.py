"""`/docs`: Swagger UI from files the hub ships (api/static, see VENDORED.md), not a CDN.

A hub often runs where browsers cannot reach the internet, and a page that pulls script
from another host is one more party trusted with the operator's session; so FastAPI's
own docs (CDN-loaded) are off and this route serves the page from local assets.

The page is ours rather than FastAPI's `get_swagger_ui_html`, whose inline script would
need `'unsafe-inline'`: Swagger UI is started from `swagger-ui-init.js`, so the page's
Content-Security-Policy allows scripts from the hub only. Swagger UI sets element styles
from script (allowed under `style-src 'self'`), draws its icons from `data:` images, and
"Try it out" calls the hub itself (`connect-src 'self'`). There is no OAuth2 redirect
page: the API authenticates with bearer tokens and signatures, not an OAuth2 flow.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from intermodal.api.errors import ApiError
from intermodal.api.page_headers import page_headers

SWAGGER_UI = "5.35.0"
STATIC = Path(__file__).parent / "static"
DOCS = "/docs"
ASSETS = "/docs/assets"
INIT = "swagger-ui-init.js"

HEADERS = page_headers(
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'"
)

# Only these files are served: a fixed table, so no path from a request reaches the disk.
_FILES = {
    f"swagger-ui-bundle-{SWAGGER_UI}.js": "text/javascript; charset=utf-8",
    f"swagger-ui-{SWAGGER_UI}.css": "text/css; charset=utf-8",
    "swagger-ui-favicon-32x32.png": "image/png",
    INIT: "text/javascript; charset=utf-8",
}
# The vendored names carry the version, so a browser may keep them until the next upgrade;
# our own start-up script changes with the hub, so it is checked each time.
_IMMUTABLE = {"cache-control": "public, max-age=31536000, immutable"}
_REVALIDATE = {"cache-control": "no-cache"}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui-{version}.css">
<link rel="icon" type="image/png" href="{assets}/swagger-ui-favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle-{version}.js"></script>
<script src="{assets}/{init}"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get(DOCS)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    page = _PAGE.format(
        title=escape(f"{request.app.title} - Swagger UI"),
        assets=escape(root + ASSETS),
        version=SWAGGER_UI,
        openapi=escape(root + (request.app.openapi_url or "/openapi.json")),
        init=INIT,
    )
    return HTMLResponse(page, headers=HEADERS)


@router.get(ASSETS + "/{name}")
async def asset(name: str) -> FileResponse:
    media_type = _FILES.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", f"no asset '{name}'")
    cache = _REVALIDATE if name == INIT else _IMMUTABLE
    return FileResponse(
        STATIC / name, media_type=media_type, headers={**cache, "x-content-type-options": "nosniff"}
    )
