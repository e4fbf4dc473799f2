"""`intermodal reconcile`: one reconciliation run now, its report as JSON or CSV.

The run is recorded like the hub's scheduled ones (the control tower lists it). The report
goes to --out or stdout; the figures and a progress bar go to stderr, so
`intermodal reconcile --format csv > findings.csv` stays a clean file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from intermodal.cli_options import ConfigOption, DbOption, errors, settings_or_exit
from intermodal.security.secrets import write_owner_only
from intermodal.store import Store, open_store
from intermodal.workflows.reconcile.checks import CATEGORIES
from intermodal.workflows.reconcile.report import as_csv, as_json
from intermodal.workflows.reconcile.run import run_reconciliation, steps
from intermodal.workflows.reconcile.settings import ReconcileConfig


def redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable url>"


def open_or_exit(url: str) -> Store:
    """The store, or a one-line error naming the (password-free) URL and exit status 2."""
    try:
        return open_store(url)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        errors.print(
            f"error: cannot open the database {redacted(url)}: {reason}",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2) from None


def reconcile(
    config: ConfigOption = None,
    db: DbOption = None,
    format: Annotated[
        Literal["json", "csv"], typer.Option("--format", help="report format")
    ] = "json",
    out: Annotated[
        Path | None, typer.Option("--out", help="write the report here (default: stdout)")
    ] = None,
) -> None:
    """Reconcile deliveries, invoices and charges now; print or write the report."""
    settings = settings_or_exit(config, resolve_secrets=False, database=db)
    options = settings.reconcile or ReconcileConfig()
    store = open_or_exit(settings.hub.database)
    status = Console(stderr=True)
    try:
        with Progress(
            TextColumn("reconcile {task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=status,
            disable=not status.is_terminal,
            transient=True,
        ) as progress:
            task = progress.add_task("", total=len(steps()))

            def advance(step: str) -> None:
                progress.update(task, description=step, completed=steps().index(step))

            run = run_reconciliation(store, options, progress=advance)
            progress.update(task, completed=len(steps()))
    finally:
        store.dispose()
    body = as_json(run) if format == "json" else as_csv(run)
    if out is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        try:
            write_owner_only(out, body, overwrite=True)  # shipments, customers, money
        except OSError as exc:
            errors.print(f"error: cannot write {out}: {exc.strerror}", markup=False)
            raise typer.Exit(2) from None
    table = Table(title=f"reconciliation {run.run_id}")
    for column in ("category", "count", f"value ({run.report.currency})", "unconverted"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for category in CATEGORIES:
        figure = run.report.figures[category]
        table.add_row(category, str(figure["count"]), figure["value"], str(figure["unconverted"]))
    status.print(table)
