"""The control tower's pages, one module per part of the UI. Each module is a list of
Starlette `routes` to plain functions; `dashboard.app.tower_app` only puts them together."""
