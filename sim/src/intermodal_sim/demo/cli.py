"""The `intermodal demo` command."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from intermodal.store import open_store
from intermodal_sim.demo.day import Day, DayPlan, plan_day, prepare_arrival_model
from intermodal_sim.demo.summary import drain, reconcile_the_day, summarise
from intermodal_sim.demo.world import running_world


def demo(
    for_seconds: Annotated[
        float | None,
        typer.Option(
            "--for",
            min=10,
            max=86_400,
            help="play a day compressed into SECONDS, print a summary and exit "
            "(without it: a four-minute day, then the hub keeps running until Ctrl-C)",
        ),
    ] = None,
    orders: Annotated[int, typer.Option(min=1, max=10_000, help="orders in the day")] = 120,
    seed: Annotated[int, typer.Option(help="which shipments meet which noise")] = 7,
    folder: Annotated[
        Path, typer.Option(help="where the demo keeps its databases and config (emptied first)")
    ] = Path("var/demo"),
    port: Annotated[int, typer.Option(help="the hub's port, if free")] = 8080,
    odoo_port: Annotated[int, typer.Option(help="the Odoo test server's port, if free")] = 8069,
) -> None:
    """Play a day of freight: Odoo, carriers, customs and the hub, all on this machine."""
    console = Console()
    plan = DayPlan(orders=orders, seconds=for_seconds or 240.0, seed=seed)
    script = plan_day(plan)
    with running_world(
        folder.resolve(),
        plan.seconds,
        script.unit,
        script.tms,
        script.customs,
        wms_script=script.wms,
        hub_port=port,
        odoo_port=odoo_port,
        orders=orders,
        seed=seed,
    ) as world:
        console.print(f"[bold]intermodal demo[/bold]: {orders} orders over {plan.seconds:.0f} s")
        console.print(f"  hub            {world.hub_url}  (API docs: {world.hub_url}/docs)")
        console.print(f"  metrics        {world.hub_url}/metrics")
        console.print(
            f"  control tower  {world.hub_url}/tower/  (login demo / "
            f"{world.secret('DEMO_TOWER_PASSWORD')})"
        )
        console.print(
            f"  Odoo test      {world.odoo.url}  (database '{world.odoo.db}', login admin / admin)"
        )
        console.print(f"  configuration  {world.folder / 'intermodal.yaml'}")
        store = open_store(world.settings.hub.database)
        try:
            with console.status("training the arrival-time model on past days"):
                model = prepare_arrival_model(world, store, script, seed)
            console.print(f"  ETA model      {model}")
            with Progress(
                TextColumn("{task.description:<17}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as progress:
                bars = {
                    "day": progress.add_task("the day (s)", total=round(plan.seconds)),
                    "orders": progress.add_task("orders entered", total=orders),
                    "delivered": progress.add_task("delivered", total=script.deliveries),
                    "invoiced": progress.add_task("invoiced in Odoo", total=len(script.invoiced)),
                }

                def advance(what: str, count: float) -> None:
                    progress.update(bars[what], completed=round(count))

                day = Day(world, plan, script, advance)
                day.tally.model = model
                tally = asyncio.run(day.play())
                progress.update(bars["day"], description="the hub finishing")
                drain(store, timeout=max(30.0, plan.seconds / 3))
                asyncio.run(day.report())
                progress.update(bars["day"], description="the day (s)")
            reconciled = reconcile_the_day(world, store)
            summary = summarise(world, store, tally, script)
        finally:
            store.dispose()
        table = Table(title="the day in figures", show_header=False)
        for name, value in summary.lines(tally):
            table.add_row(name, value)
        table.add_row("reconciliation", reconciled)
        console.print(table)
        for error in tally.errors[:10]:
            console.print(f"[red]partner error[/red] {error}", markup=True, highlight=False)
        if for_seconds is None:
            console.print("the hub keeps running; press Ctrl-C to stop")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
    if tally.errors:
        raise typer.Exit(1)
