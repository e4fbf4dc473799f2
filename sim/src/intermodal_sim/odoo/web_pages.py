"""The few web-client pages the sim answers, so that what a person clicks opens something.

Odoo's own web client is a JavaScript application behind a login; the sim has neither.
What it does have is what someone following a link needs: a landing page at `/` that
says which database this is, how to log in and where the APIs are, and a read-only view
of one record at the address Odoo 18 and later give it, `/odoo/<model>/<id>`
(odoo/odoo addons/web/static/src/core/browser/router.js `stateToUrl`). An older link,
`/web#model=<model>&id=<id>`, carries the record in the fragment, which never reaches a
server; Odoo's web client rewrites it in the browser (the same file's
url-retrocompatibility branch of `urlToState`), and so does the small script of the
sim's `/web` page.

The pages read as the superuser: the sim is a local test server, and a record view that
needed a session would need the login form Odoo renders with its whole web client.
"""

from __future__ import annotations

from html import escape
from typing import Any

from intermodal_sim.odoo.orm import SUPERUSER_ID
from intermodal_sim.odoo.service import OdooSim

API_ENDPOINTS = (
    ("POST", "/json/2/<model>/<method>", "JSON-2, Odoo 19 and later: bearer API key"),
    ("POST", "/jsonrpc", "JSON-RPC: services common, object, db"),
    ("POST", "/xmlrpc/2/<service>, /xmlrpc/<service>", "XML-RPC"),
    ("GET", "/doc-bearer/<model>.json", "a model's fields and methods (JSON-2 introspection)"),
    ("GET", "/web/version, /json/version", "the server's version"),
    ("POST", "/web/session/authenticate, /web/dataset/call_kw", "the web client's session calls"),
    ("GET", "/odoo/<model>/<id>", "one record, read-only (what the control tower links to)"),
    ("*", "/__sim/faults, /__sim/calls, /__sim/webhooks, /__sim/health", "the sim's own admin"),
)

_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}"
    "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.25rem .6rem;"
    "text-align:left;vertical-align:top}th{font-weight:600}code{background:#f4f4f4;padding:0 .2em}"
)

# What the sim's `/web` runs: the legacy fragment becomes the record's path, as Odoo's
# router does; with no record in the fragment the landing page is shown.
_LEGACY_REDIRECT = (
    "<script>(function(){var h=new URLSearchParams(location.hash.slice(1));"
    "var m=h.get('model'),i=h.get('id');"
    "if(m&&/^[a-z0-9_.]+$/.test(m)&&i&&/^[0-9]+$/.test(i)){"
    "location.replace('/odoo/'+(m.indexOf('.')<0?'m-'+m:m)+'/'+i);}})();</script>"
)


def _page(title: str, body: str, head: str = "") -> str:
    return (
        f"<!doctype html>\n<html lang=en>\n<meta charset=utf-8>\n<title>{escape(title)}</title>\n"
        f"<style>{_STYLE}</style>{head}\n<body>\n{body}\n</body>\n</html>\n"
    )


def landing(sim: OdooSim, legacy_redirect: bool = False) -> str:
    """`/`: what this server is and how to use it."""
    rows = "".join(
        f"<tr><td>{escape(verb)}</td><td><code>{escape(path)}</code></td>"
        f"<td>{escape(what)}</td></tr>"
        for verb, path, what in API_ENDPOINTS
    )
    db = escape(sim.config.db)
    body = (
        f"<h1>Odoo test server {escape(sim.server_version)}</h1>\n"
        f"<p>A stand-in for Odoo's external APIs (intermodal's <code>odoo-sim</code>), "
        f"database <b>{db}</b>.</p>\n"
        "<h2>Logging in</h2>\n<ul>"
        "<li>user <code>admin</code>, password <code>admin</code> (JSON-RPC, XML-RPC, "
        "<code>/web/session/authenticate</code>)</li>"
        "<li>JSON-2: header <code>Authorization: bearer &lt;API key&gt;</code>, the key "
        "printed when the server started (or given with <code>--api-key</code>), and "
        f"<code>X-Odoo-Database: {db}</code></li></ul>\n"
        "<p>There is no web client: a record opens read-only at "
        "<code>/odoo/&lt;model&gt;/&lt;id&gt;</code>, e.g. "
        '<a href="/odoo/res.partner/1">/odoo/res.partner/1</a>.</p>\n'
        f"<h2>Endpoints</h2>\n<table>{rows}</table>"
    )
    return _page(
        f"Odoo test server: {sim.config.db}", body, _LEGACY_REDIRECT if legacy_redirect else ""
    )


def record(sim: OdooSim, model: str, record_id: int) -> str | None:
    """`/odoo/<model>/<id>`: the record's name and fields; None when there is no such
    model or record (the caller answers 404)."""
    model = model.removeprefix("m-")
    with sim.db.lock:
        env = sim.env(SUPERUSER_ID)
        if model not in env:
            return None
        records = env[model].browse([record_id])
        labels = records.fields_get(attributes=["string", "type"])
        found = records.read()
    if not found:
        return None
    values = found[0]
    name = values.get("display_name") or values.get("name") or f"{model},{record_id}"
    rows = "".join(
        f"<tr><th title='{escape(field)}'>{escape(str(labels[field].get('string') or field))}</th>"
        f"<td>{escape(_shown(value))}</td></tr>"
        for field, value in sorted(values.items())
        if field in labels and labels[field].get("type") != "binary"
    )
    body = (
        f'<p><a href="/">{escape(sim.config.db)}</a> / {escape(model)} / {record_id}</p>\n'
        f"<h1>{escape(str(name))}</h1>\n<table>{rows}</table>"
    )
    return _page(f"{name} ({model} {record_id})", body)


def _shown(value: Any) -> str:
    """A read() value as a person reads it: a many2one by its name, false as empty."""
    if value is False or value is None:
        return ""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str):
        return value[1]
    if isinstance(value, list):
        return ", ".join(str(v) for v in value[:50]) + (" ..." if len(value) > 50 else "")
    return str(value)
