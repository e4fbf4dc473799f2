"""The control tower: the operator's web UI (server-rendered, htmx), under /tower/."""

from intermodal.dashboard.app import PREFIX, tower_app

__all__ = ["PREFIX", "tower_app"]
