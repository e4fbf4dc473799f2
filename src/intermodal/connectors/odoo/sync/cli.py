"""`intermodal sync`: one master-data pass from Odoo now, with a progress bar.

Reads the `sync:` section (which endpoint, which models); `--model` narrows a run to some
models, `--endpoint` names the Odoo endpoint when the file has no `sync:` section. A pass
that fails (Odoo down) keeps every page it committed; running it again resumes there.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from intermodal.cli_options import ConfigOption, DbOption, errors, settings_or_exit
from intermodal.config import Endpoint
from intermodal.connectors.odoo.client import OdooError
from intermodal.connectors.odoo.sink import odoo_client
from intermodal.connectors.odoo.sync.batch import MODELS, MasterDataSync, known_models
from intermodal.connectors.odoo.sync.settings import SyncConfig
from intermodal.store import Store
from intermodal.workflows.reconcile.cli import open_or_exit


def sync(
    config: ConfigOption = None,
    db: DbOption = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help=f"only these Odoo models (of: {known_models()})"),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="the odoo endpoint to read (default: sync.endpoint)")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="forget the cursors and read every record again")
    ] = False,
) -> None:
    """Copy Odoo's customers, carriers, products, currencies and rates into the hub now."""
    settings = settings_or_exit(config, database=db)
    options = settings.sync
    name = endpoint or (options.endpoint if options else None)
    if name is None:
        errors.print("error: no `sync:` section in the configuration; give --endpoint NAME")
        raise typer.Exit(2)
    target = settings.endpoints.get(name)
    if target is None or target.kind != "odoo":
        errors.print(f"error: '{name}' is not an odoo endpoint of the configuration")
        raise typer.Exit(2)
    unknown = sorted(set(model or []) - set(MODELS))
    if unknown:
        errors.print(f"error: unknown model(s) {', '.join(unknown)}; known: {known_models()}")
        raise typer.Exit(2)
    options = options or SyncConfig(endpoint=name)
    models: list[str] | None = list(model or options.models or []) or None
    store = open_or_exit(settings.hub.database)
    try:
        read = asyncio.run(_run(store, target, name, options, models, full))
    except OdooError as exc:
        errors.print(
            f"error: Odoo ({name}) failed: {exc}; the pages read so far are kept, run again"
            " to resume",
            markup=False,
        )
        raise typer.Exit(1) from None
    finally:
        store.dispose()
    table = Table(title=f"master data from {name}")
    table.add_column("model")
    table.add_column("records read", justify="right")
    for m, count in read.items():
        table.add_row(m, str(count))
    Console(stderr=True).print(table)


async def _run(
    store: Store,
    target: Endpoint,
    name: str,
    options: SyncConfig,
    models: list[str] | None,
    full: bool,
) -> dict[str, int]:
    status = Console(stderr=True)
    async with httpx.AsyncClient() as http:
        runner = MasterDataSync(
            odoo_client(target, http),
            store,
            name,
            models=list(models) if models else None,
            page_size=options.page_size,
            overlap_seconds=options.overlap_seconds,
        )
        if full:  # records are upserted by Odoo id: reading all again duplicates nothing
            for m in runner.models:
                await asyncio.to_thread(runner.cursor(m).reset)
        with Progress(
            TextColumn("sync {task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=status,
            disable=not status.is_terminal,
        ) as progress:
            tasks = {m: progress.add_task(m, total=await runner.pending(m)) for m in runner.models}

            def advance(m: str, count: int) -> None:
                progress.advance(tasks[m], count)

            return await runner.sync_once(on_page=advance)
