"""`GET /`: a page that tells whoever opens the hub's address what it is and where to go.

Without it the first thing an operator sees is a 404; with it, the links to the API's
documentation, its schema, health and metrics, and the control tower when it is on.
Links are relative so the page works behind a proxy that serves the hub under a prefix.

Its few style rules are inline, allowed by their hash in the page's Content-Security-Policy
(api/page_headers.py); the page runs no script at all.
"""

from __future__ import annotations

import base64
import hashlib

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from intermodal import __version__
from intermodal.api.http import settings_of
from intermodal.api.page_headers import page_headers

router = APIRouter(include_in_schema=False)

_LINKS = (
    ("docs", "API documentation", "every route, tried from the browser (Swagger UI)"),
    ("openapi.json", "OpenAPI schema", "for generating partner clients"),
    ("healthz", "Health", "the process is up"),
    ("readyz", "Readiness", "the store answers and every worker runs"),
    ("metrics", "Metrics", "Prometheus text format (the admin token, unless public)"),
)
_TOWER = ("tower/", "Control tower", "flows, backlogs, dead letters, each shipment's timeline")

_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto;
       padding: 0 1rem; color: #1d2430; }
h1 { margin-bottom: 0; }
.version { color: #5b6472; margin-top: 0; }
li { margin: .4rem 0; }
a { color: #0b5cad; font-weight: 600; }
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
HEADERS = page_headers(
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src data:; form-action 'none'"
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>intermodal</title>
<link rel="icon" href="data:,">
<style>{style}</style>
</head>
<body>
<h1>intermodal</h1>
<p class="version">version {version}</p>
<p>An integration hub for logistics companies that run Odoo. It takes in carrier, TMS,
WMS, customs and EDI messages, turns them into one canonical language, keeps each
shipment's state, and delivers the resulting commands to Odoo and the partners'
systems: durably, idempotently, observably.</p>
<ul>
{links}
</ul>
</body>
</html>
"""


@router.get("/")
async def landing(request: Request) -> HTMLResponse:
    links = [_TOWER, *_LINKS] if settings_of(request).tower is not None else list(_LINKS)
    items = "\n".join(
        f'<li><a href="{href}">{name}</a>: {about}</li>' for href, name, about in links
    )
    page = _PAGE.format(style=_STYLE, version=__version__, links=items)
    return HTMLResponse(page, headers=HEADERS)
