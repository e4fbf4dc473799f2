"""What every `intermodal` sub-command shares: the --config and --db options, reading the
configuration (a mistake is a message and exit status 2, never a traceback), and opening
the store. Kept apart from cli.py so sub-command modules (mapping, edi, ...) can use it
while cli.py imports them to register their commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperOption

from intermodal.config import ConfigError, Settings, load_config, resolve_audit_keys
from intermodal.store import Store, open_store

errors = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML configuration file", envvar="INTERMODAL_CONFIG"),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="database URL (sqlite:///file.db or postgresql://...)",
        envvar="INTERMODAL_DATABASE",
    ),
]


def render_flags_as_flags() -> None:
    """Make help show `--json`, not `--json <bool>`.

    typer 0.29's rich help panel asks every option for its type, flags included (even
    `--help <bool>`), while its plain help skips flags and counters: the panel calls
    `TyperOption.display_type_rich`, which has no such check. This gives it the same
    check, for every command (sub-commands and plugins' too, since they share the class).
    """
    typed = _TYPED[0]

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return typed(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_TYPED = (TyperOption.display_type_rich,)  # the original, kept once however often we patch


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
    return open_store_or_exit(settings_or_exit(config, resolve_secrets=False, database=db))


def open_store_or_exit(settings: Settings) -> Store:
    """The settings' store, its audit rows sealed with `hub.audit_key` when configured:
    a command that records an action in a keyed chain needs the key as the hub does
    (a key that cannot be read is a message and exit status 2)."""
    from intermodal.security.audit import keys_from_settings, use_keys

    try:
        settings = resolve_audit_keys(settings)
    except ConfigError as exc:
        errors.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    store = open_store(settings.hub.database)
    use_keys(store, keys_from_settings(settings))
    return store
