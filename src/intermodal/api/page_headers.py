"""The security headers of every HTML page the hub serves: the landing page, the API docs
and the control tower.

Each page gets a Content-Security-Policy of its own that names exactly what it loads, all
from the hub itself, and none allows inline script: a partner's text that slipped past
escaping could still not run. Every page also refuses to be framed (clickjacking on the
tower's replay buttons), keeps its address out of the Referer header sent to other sites,
and forbids content sniffing.
"""

from __future__ import annotations

FRAMING_AND_SNIFFING = {
    "x-frame-options": "DENY",  # frame-ancestors 'none' for browsers that predate CSP 2
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def page_headers(policy: str) -> dict[str, str]:
    """`policy` plus what every page adds to it: no framing, no <base>, and its companions."""
    csp = f"{policy}; frame-ancestors 'none'; base-uri 'none'"
    return {"content-security-policy": csp, **FRAMING_AND_SNIFFING}


__all__ = ["page_headers"]
