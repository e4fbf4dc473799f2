"""The control tower: the operator's web UI (server-rendered, htmx), under /tower/.

`app.py` assembles the app from the route modules in `pages/` (one per part of the UI);
`web.py` is what the pages share (state, rendering, the login and CSRF guards);
`views.py` reads what the pages show from the store.
"""

from intermodal.dashboard.app import PREFIX, tower_app

__all__ = ["PREFIX", "tower_app"]
