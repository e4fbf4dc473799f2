"""What every `intermodal` sub-command shares: the --config and --db options, reading the
configuration (a mistake is a message and exit status 2, never a traceback), and opening
the store. Kept apart from cli.py so sub-command modules (mapping, edi, ...) can use it
while cli.py imports them to register their commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from intermodal.config import ConfigError, Settings, load_config
from intermodal.store import Store, open_store

errors = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML configuration file", envvar="INTERMODAL_CONFIG"),
]
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="database URL (sqlite:///file.db or postgresql://...)"),
]


def settings_or_exit(
    config: Path | None, resolve_secrets: bool = True, **overrides: Any
) -> Settings:
    try:
        return load_config(config, overrides, resolve_secrets)
    except ConfigError as exc:
        errors.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def store_or_exit(config: Path | None, db: str | None) -> Store:
    """The store named by --db, else by the configuration; partner secrets are not needed."""
    settings = settings_or_exit(config, resolve_secrets=False, database=db)
    return open_store(settings.hub.database)
