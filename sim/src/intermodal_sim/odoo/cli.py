"""`intermodal odoo-sim`: start the Odoo test server in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intermodal_sim.odoo.faults import FaultPlan, FaultSpecError
from intermodal_sim.odoo.seed import SeedError
from intermodal_sim.odoo.service import OdooSim, SimConfig
from intermodal_sim.odoo.testing import run_forever


def build_config(
    db: str,
    data: Path | None,
    faults: str | None,
    api_key: str | None,
    version: int,
    storage: str | None,
    master_password: str = "admin",  # noqa: S107 - Odoo's default admin_passwd
    list_db: bool = True,
) -> SimConfig:
    """Validate the options before anything starts, with a message that names the option."""
    if version not in (17, 18, 19):
        raise typer.BadParameter(f"{version} is not a supported major; use 17, 18 or 19",
                                 param_hint="--version")  # fmt: skip
    if data is not None and not data.is_file():
        raise typer.BadParameter(f"{data} is not a file", param_hint="--data")
    try:
        FaultPlan.parse(faults)
    except FaultSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from exc
    if not master_password:
        raise typer.BadParameter("must not be empty", param_hint="--master-password")
    return SimConfig(db=db, version=version, data=data, faults=faults, api_key=api_key,
                     storage=storage, master_password=master_password,
                     list_db=list_db)  # fmt: skip


def odoo_sim(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8069,
    host: Annotated[str, typer.Option(help="Address to bind; keep loopback unless needed.")] = (
        "127.0.0.1"
    ),
    db: Annotated[str, typer.Option(help="Name of the single database served.")] = "intermodal",
    data: Annotated[
        Path | None, typer.Option(help="Seed data file (JSON); the bundled demo company if unset.")
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(help="Fault spec, e.g. 'seed=7,latency=20ms,429=0.05,serialization=0.02'."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key of user admin; generated and printed if unset.")
    ] = None,
    version: Annotated[int, typer.Option(help="Odoo major to imitate: 17, 18 or 19.")] = 19,
    storage: Annotated[
        str | None,
        typer.Option(help="SQLite file to keep the data in; in memory if unset."),
    ] = None,
    master_password: Annotated[
        str,
        typer.Option(
            envvar="ODOO_SIM_MASTER_PASSWORD",
            help="Master password of the db service (create, dump, drop...); Odoo's is 'admin'.",
        ),
    ] = "admin",  # noqa: S107 - Odoo's default admin_passwd
    list_db: Annotated[
        bool,
        typer.Option(
            "--list-db/--no-list-db",
            help="The database manager: on as in Odoo, or off (list_db = False) refusing "
            "db.list and every call that manages databases.",
        ),
    ] = True,
) -> None:
    """Start a stand-in Odoo server that Odoo's own client libraries accept."""
    config = build_config(db, data, faults, api_key, version, storage, master_password, list_db)
    try:
        sim = OdooSim(config)
    except SeedError as exc:
        raise typer.BadParameter(str(exc), param_hint="--data") from exc
    typer.echo(f"odoo-sim {sim.server_version} on http://{host}:{port}  database={config.db}")
    typer.echo("login: admin / admin")
    if api_key is None:
        typer.echo(f"api key (admin): {sim.api_key}")
    if config.faults:
        typer.echo(f"faults: {config.faults}")
    run_forever(sim, host, port)
